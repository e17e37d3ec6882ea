-- Single sign-on trusts only what an organisation has proven, and a failed staff sign-in slows the
-- one trying rather than locking the person out.

-- The domains an organisation has proven it holds, for single sign-on: a DNS TXT record
-- (_sealpost-sso.<domain> TXT "sealpost-sso=<token>") or a verified sending domain of the same
-- organisation. Only a proven domain finds an organisation by address, and only addresses in its
-- proven domains sign in through its provider. One domain is proven by one organisation at most.
CREATE TABLE sso_domains (
  org_id           uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  domain           text NOT NULL CHECK (domain = lower(domain)),
  -- Published in DNS, so not a secret: random, one per organisation and domain.
  token            text NOT NULL,
  created_at       timestamptz NOT NULL,
  last_checked_at  timestamptz,
  verified_at      timestamptz,
  proof            text CHECK (proof IN ('dns_txt', 'sending_domain')),
  PRIMARY KEY (org_id, domain),
  CHECK ((verified_at IS NULL) = (proof IS NULL))
);
CREATE UNIQUE INDEX sso_domains_proven ON sso_domains (domain) WHERE verified_at IS NOT NULL;

-- The domains organisations listed until now were never proven: each becomes a claim to prove.
INSERT INTO sso_domains (org_id, domain, token, created_at)
SELECT c.org_id, d.domain, replace(gen_random_uuid()::text, '-', ''), now()
FROM sso_configs c CROSS JOIN LATERAL unnest(c.allowed_domains) AS d (domain)
ON CONFLICT DO NOTHING;
DROP INDEX sso_configs_domains;
ALTER TABLE sso_configs DROP COLUMN allowed_domains;

-- Whether the provider's word that it asked for a second factor (amr "mfa") stands for the user's
-- own factors: an owner's decision, off unless made. Owners present their own factor regardless.
ALTER TABLE sso_configs ADD COLUMN trust_provider_mfa boolean NOT NULL DEFAULT false;

-- Failed sign-ins are counted per (account, client network), per account and per client network,
-- and only slow further tries: nothing locks. Every count of an account carries the account's hash,
-- so an administrator's reset forgets them all. The counts kept so far, and their locks, go.
DELETE FROM auth_throttle;
ALTER TABLE auth_throttle DROP COLUMN locked_until;
ALTER TABLE auth_throttle ADD COLUMN account bytea;
CREATE INDEX auth_throttle_account ON auth_throttle (org_id, account) WHERE account IS NOT NULL;
