-- Sending domains: only a verified domain may appear in From.
CREATE TABLE sending_domains (
  org_id           uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  domain           text NOT NULL CHECK (domain = lower(domain)),
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified')),
  created_at       timestamptz NOT NULL DEFAULT now(),
  verified_at      timestamptz,
  last_checked_at  timestamptz,
  last_check       jsonb,
  PRIMARY KEY (org_id, domain)
);

-- DKIM keys, two per domain (RSA-2048 and Ed25519, RFC 8463), the private half sealed.
CREATE TABLE dkim_keys (
  org_id              uuid NOT NULL,
  domain              text NOT NULL,
  selector            text NOT NULL,
  algorithm           text NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
  public_key          text NOT NULL,
  private_key_sealed  bytea NOT NULL,
  status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
  created_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, domain, selector),
  FOREIGN KEY (org_id, domain) REFERENCES sending_domains (org_id, domain) ON DELETE CASCADE
);
