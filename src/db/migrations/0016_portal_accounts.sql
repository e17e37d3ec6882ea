-- Portal accounts: a recipient who proved who they are may create one, per organisation and
-- address, so that later messages from that organisation need only a sign-in (a password, or a
-- passkey). Only an argon2id hash of the password is kept, never the password.
CREATE TABLE portal_accounts (
  org_id           uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  address          text NOT NULL CHECK (address = lower(address)),
  account_id       uuid NOT NULL,
  password_hash    text NOT NULL,
  created_at       timestamptz NOT NULL,
  -- Wrong passwords (and failed passkeys) since the last sign-in or lock; too many lock the
  -- account for a while, whichever message they came through.
  failed_attempts  integer NOT NULL DEFAULT 0,
  locked_until     timestamptz,
  last_sign_in_at  timestamptz,
  PRIMARY KEY (org_id, address),
  UNIQUE (org_id, account_id)
);

-- An account's passkeys (WebAuthn credentials): the public key and the signature counter.
CREATE TABLE portal_passkeys (
  org_id         uuid NOT NULL,
  credential_id  text NOT NULL,
  account_id     uuid NOT NULL,
  public_key     bytea NOT NULL,
  counter        bigint NOT NULL DEFAULT 0,
  transports     text[] NOT NULL DEFAULT '{}',
  created_at     timestamptz NOT NULL,
  last_used_at   timestamptz,
  PRIMARY KEY (org_id, credential_id),
  FOREIGN KEY (org_id, account_id) REFERENCES portal_accounts (org_id, account_id) ON DELETE CASCADE
);
CREATE INDEX portal_passkeys_by_account ON portal_passkeys (org_id, account_id);

-- WebAuthn challenges, bound to one recipient's delivery and one purpose: short-lived, and
-- deleted by the answer that uses them (single use).
CREATE TABLE portal_webauthn_challenges (
  org_id        uuid NOT NULL,
  challenge_id  uuid NOT NULL,
  recipient_id  uuid NOT NULL,
  purpose       text NOT NULL CHECK (purpose IN ('register', 'sign_in')),
  challenge     text NOT NULL,
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (org_id, challenge_id),
  FOREIGN KEY (org_id, recipient_id) REFERENCES portal_deliveries (org_id, recipient_id) ON DELETE CASCADE
);
CREATE INDEX portal_webauthn_challenges_by_recipient ON portal_webauthn_challenges (org_id, recipient_id, purpose);
