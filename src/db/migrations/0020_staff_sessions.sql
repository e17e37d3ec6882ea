-- Staff sign-in: sessions, second factors (TOTP with recovery codes, passkeys), throttling of
-- failed attempts and the organisation's sign-in policy. Only hashes of session secrets and
-- recovery codes are kept; TOTP secrets are sealed under the organisation's key.

-- Set when a password shorter than 15 characters was accepted because a second factor exists:
-- such a user may not remove their last factor until the password is long enough alone.
ALTER TABLE users ADD COLUMN password_short boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN password_changed_at timestamptz;

CREATE TABLE staff_sessions (
  org_id            uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  session_id        uuid NOT NULL,
  user_id           uuid NOT NULL,
  secret_hash       bytea NOT NULL,
  -- 'second_factor': the password was right, a second factor is due; 'enrol': policy asks for a
  -- factor the user does not have yet; 'active': signed in.
  stage             text NOT NULL CHECK (stage IN ('second_factor', 'enrol', 'active')),
  created_at        timestamptz NOT NULL,
  last_seen_at      timestamptz NOT NULL,
  expires_at        timestamptz NOT NULL,
  -- The last time the user proved who they are in this session (sign-in or re-authentication).
  authenticated_at  timestamptz NOT NULL,
  methods           text[] NOT NULL DEFAULT '{}',
  user_agent        text,
  ended_at          timestamptz,
  ended_reason      text,
  PRIMARY KEY (org_id, session_id),
  FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, user_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX staff_sessions_secret ON staff_sessions (secret_hash);
CREATE INDEX staff_sessions_by_user ON staff_sessions (org_id, user_id) WHERE ended_at IS NULL;

CREATE TABLE staff_totp (
  org_id        uuid NOT NULL,
  user_id       uuid NOT NULL,
  secret_sealed bytea NOT NULL,
  confirmed_at  timestamptz,
  -- The last time step accepted: a code is never accepted twice.
  last_step     bigint NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL,
  PRIMARY KEY (org_id, user_id),
  FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, user_id) ON DELETE CASCADE
);

CREATE TABLE staff_recovery_codes (
  org_id     uuid NOT NULL,
  user_id    uuid NOT NULL,
  code_hash  bytea NOT NULL,
  used_at    timestamptz,
  PRIMARY KEY (org_id, user_id, code_hash),
  FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, user_id) ON DELETE CASCADE
);

CREATE TABLE staff_passkeys (
  org_id         uuid NOT NULL,
  credential_id  text NOT NULL,
  user_id        uuid NOT NULL,
  name           text NOT NULL,
  public_key     bytea NOT NULL,
  counter        bigint NOT NULL DEFAULT 0,
  transports     text[] NOT NULL DEFAULT '{}',
  created_at     timestamptz NOT NULL,
  last_used_at   timestamptz,
  PRIMARY KEY (org_id, credential_id),
  FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX staff_passkeys_by_user ON staff_passkeys (org_id, user_id);

-- WebAuthn challenges, bound to one session and one purpose, single use.
CREATE TABLE staff_webauthn_challenges (
  org_id      uuid NOT NULL,
  session_id  uuid NOT NULL,
  purpose     text NOT NULL CHECK (purpose IN ('register', 'authenticate')),
  challenge   text NOT NULL,
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (org_id, session_id, purpose),
  FOREIGN KEY (org_id, session_id) REFERENCES staff_sessions (org_id, session_id) ON DELETE CASCADE
);

-- Failed sign-ins per account (by a hash of the address, whether or not an account has it, so
-- the answers cannot tell) and per client address. System-wide: org_id is the system's.
CREATE TABLE auth_throttle (
  org_id        uuid NOT NULL,
  subject       bytea NOT NULL,
  failures      integer NOT NULL DEFAULT 0,
  last_failure  timestamptz NOT NULL,
  locked_until  timestamptz,
  PRIMARY KEY (org_id, subject)
);

CREATE TABLE staff_auth_policies (
  org_id                  uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  idle_minutes            integer NOT NULL DEFAULT 15 CHECK (idle_minutes BETWEEN 1 AND 1440),
  absolute_minutes        integer NOT NULL DEFAULT 720 CHECK (absolute_minutes BETWEEN 5 AND 43200),
  mfa_required            text NOT NULL DEFAULT 'off' CHECK (mfa_required IN ('off', 'all', 'roles')),
  mfa_roles               text[] NOT NULL DEFAULT '{}',
  passkey_required_roles  text[] NOT NULL DEFAULT '{}',
  updated_at              timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id)
);
