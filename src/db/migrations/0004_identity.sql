-- Staff users of an organisation. Roles are built in for now (see src/identity/permissions.ts).
CREATE TABLE users (
  org_id         uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  user_id        uuid NOT NULL DEFAULT gen_random_uuid(),
  email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  display_name   text,
  password_hash  text,
  role           text NOT NULL,
  status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  created_at     timestamptz NOT NULL DEFAULT now(),
  last_login_at  timestamptz,
  PRIMARY KEY (org_id, user_id)
);
CREATE UNIQUE INDEX users_org_email ON users (org_id, lower(email));

-- API keys: the token is spk_<key_id>_<secret>; only a SHA-256 of the secret is kept.
CREATE TABLE api_keys (
  org_id           uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  key_id           text NOT NULL CHECK (key_id ~ '^[0-9a-f]{16}$'),
  name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  secret_hash      bytea NOT NULL,
  scopes           text[] NOT NULL,
  created_by_type  text NOT NULL,
  created_by       text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz,
  last_used_at     timestamptz,
  revoked_at       timestamptz,
  PRIMARY KEY (org_id, key_id)
);
-- Authentication finds the key (and so the tenant) from the token alone.
CREATE UNIQUE INDEX api_keys_key_id ON api_keys (key_id);
