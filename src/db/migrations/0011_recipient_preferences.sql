-- How a recipient asked to be reached, per organisation: 'portal' (always read in the portal) or
-- 'e2e' (OpenPGP or S/MIME, else the portal; never TLS alone). It weighs like the message's own
-- `protection`, before keys and policy.
CREATE TABLE recipient_preferences (
  org_id      uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  address     text NOT NULL CHECK (address = lower(address)),
  protection  text NOT NULL CHECK (protection IN ('portal', 'e2e')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, address)
);
