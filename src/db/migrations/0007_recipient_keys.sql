-- Recipients' public keys, OpenPGP keys and S/MIME certificates, checked on upload and chosen by
-- SecureLine at delivery. Public keys are not secret: they are stored in clear.
CREATE TABLE recipient_keys (
  org_id           uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  key_id           uuid NOT NULL DEFAULT gen_random_uuid(),
  address          text NOT NULL CHECK (address = lower(address) AND length(address) BETWEEN 3 AND 320),
  kind             text NOT NULL CHECK (kind IN ('pgp', 'smime')),
  fingerprint      text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{40,64}$'),
  algorithm        text NOT NULL,
  key_text         text NOT NULL,
  expires_at       timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  created_by_type  text NOT NULL,
  created_by       text NOT NULL,
  PRIMARY KEY (org_id, key_id),
  -- Also the index delivery looks keys up by.
  UNIQUE (org_id, address, fingerprint)
);

-- The list, newest first, page by page.
CREATE INDEX recipient_keys_newest ON recipient_keys (org_id, created_at DESC, key_id DESC);
