-- Web Key Directory answers, kept so that delivery asks a recipient's domain only once in a while:
-- a key found, "no key" (nothing published, no directory, nothing usable), or a failure.
--
-- A published key is public and the same for every organisation, yet the cache is kept per
-- organisation: which addresses an organisation writes to is its own data, the rows go with it,
-- and the table shards by org_id like every other. The price is one lookup per organisation.
CREATE TABLE wkd_cache (
  org_id          uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  address         text NOT NULL CHECK (address = lower(address) AND length(address) BETWEEN 3 AND 320),
  outcome         text NOT NULL CHECK (outcome IN ('key', 'none', 'error')),
  fingerprint     text CHECK (fingerprint ~ '^[0-9a-f]{40,64}$'),
  key_text        text,
  -- When the key stops being usable; it is checked again at every use.
  key_expires_at  timestamptz,
  -- Why there is no key: the directory's answer or the failure, for operators.
  reason          text,
  fetched_at      timestamptz NOT NULL,
  fresh_until     timestamptz NOT NULL,
  PRIMARY KEY (org_id, address),
  CHECK ((outcome = 'key') = (fingerprint IS NOT NULL AND key_text IS NOT NULL))
);
