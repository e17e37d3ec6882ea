-- Single sign-on with OpenID Connect, per organisation. The client secret is sealed under the
-- organisation's key (bound to this table and the organisation); it is never returned.
CREATE TABLE sso_configs (
  org_id             uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  -- A short name people type or link to (GET /v1/auth/sso/start?org=<slug>), unique system-wide.
  slug               text CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  enabled            boolean NOT NULL DEFAULT true,
  issuer             text NOT NULL,
  client_id          text NOT NULL,
  client_secret      bytea NOT NULL,
  allowed_domains    text[] NOT NULL,
  role_claim         text NOT NULL DEFAULT 'groups',
  -- [{ "value": "...", "role": "..." }], the first match wins.
  role_mappings      jsonb NOT NULL DEFAULT '[]',
  -- The role of users made on their first sign-in; NULL: only existing users sign in.
  default_role       text,
  password_sign_in   boolean NOT NULL DEFAULT true,
  -- The last SSO sign-in that worked with this issuer and client: SSO-only needs one.
  last_success_at    timestamptz,
  updated_at         timestamptz NOT NULL,
  PRIMARY KEY (org_id)
);
CREATE UNIQUE INDEX sso_configs_slug ON sso_configs (slug) WHERE slug IS NOT NULL;
-- Discovery by the address's domain (GET /v1/auth/sso/start?email=...).
CREATE INDEX sso_configs_domains ON sso_configs USING gin (allowed_domains);

-- A sign-in on its way through the provider: bound to the browser by a cookie (of which only a
-- hash is kept), single use, short-lived. The PKCE verifier is sealed.
CREATE TABLE sso_transactions (
  org_id         uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  browser_hash   bytea NOT NULL,
  state          text NOT NULL,
  nonce          text NOT NULL,
  code_verifier  bytea NOT NULL,
  created_at     timestamptz NOT NULL,
  expires_at     timestamptz NOT NULL,
  PRIMARY KEY (org_id, browser_hash)
);
CREATE UNIQUE INDEX sso_transactions_browser ON sso_transactions (browser_hash);
