-- Custom roles, conditional access (allowed networks) and the devices and addresses staff sign
-- in from. A user's role is a built-in role's name (src/identity/permissions.ts) or the id of one
-- of the organisation's custom roles.

CREATE TABLE org_roles (
  org_id       uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  role_id      uuid NOT NULL DEFAULT gen_random_uuid(),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  description  text CHECK (length(description) <= 500),
  permissions  text[] NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, role_id)
);
CREATE UNIQUE INDEX org_roles_name ON org_roles (org_id, lower(name));

-- Allowed client networks (CIDR): for everyone of the organisation (sign-in, sessions, API keys),
-- and per role (sign-in and sessions of users with that role). Empty: no restriction.
CREATE TABLE access_policies (
  org_id         uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  networks       text[] NOT NULL DEFAULT '{}',
  role_networks  jsonb NOT NULL DEFAULT '{}',
  -- Mail a person when they sign in from a device or address not seen before.
  notify_new_device boolean NOT NULL DEFAULT true,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id)
);

-- Where a user has signed in from: a device (the id in a long-lived cookie) or a client address,
-- kept as SHA-256 hashes only.
CREATE TABLE staff_sign_in_origins (
  org_id         uuid NOT NULL,
  user_id        uuid NOT NULL,
  kind           text NOT NULL CHECK (kind IN ('device', 'address')),
  value_hash     bytea NOT NULL,
  first_seen_at  timestamptz NOT NULL,
  last_seen_at   timestamptz NOT NULL,
  PRIMARY KEY (org_id, user_id, kind, value_hash),
  FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, user_id) ON DELETE CASCADE
);

-- Keys made before the permissions were split keep what they could do: each old permission
-- brings the new ones carved out of it.
UPDATE api_keys SET scopes = ARRAY(
  SELECT DISTINCT s FROM unnest(
    scopes
    || CASE WHEN 'messages:read' = ANY (scopes) THEN ARRAY['reports:read', 'sandbox:read', 'suppressions:read'] ELSE '{}'::text[] END
    || CASE WHEN 'messages:send' = ANY (scopes) THEN ARRAY['messages:revoke', 'suppressions:manage'] ELSE '{}'::text[] END
    || CASE WHEN 'org:read' = ANY (scopes) THEN ARRAY['policy:read'] ELSE '{}'::text[] END
    || CASE WHEN 'org:manage' = ANY (scopes) THEN ARRAY['policy:manage', 'branding:manage'] ELSE '{}'::text[] END
    || CASE WHEN 'users:read' = ANY (scopes) THEN ARRAY['roles:read'] ELSE '{}'::text[] END
    || CASE WHEN 'users:manage' = ANY (scopes) THEN ARRAY['roles:manage'] ELSE '{}'::text[] END
    || CASE WHEN 'audit:read' = ANY (scopes) THEN ARRAY['audit:export'] ELSE '{}'::text[] END
  ) AS s ORDER BY s
);
