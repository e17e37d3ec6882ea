-- Organisation keys, each wrapped (AES-256-GCM) by a master key that never enters the database.
-- A destroyed key keeps its row (version history) but loses its wrapped bytes for good.
CREATE TABLE org_keys (
  org_id         uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  version        integer NOT NULL CHECK (version > 0),
  wrapped_key    bytea,
  master_key_id  text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  destroyed_at   timestamptz,
  PRIMARY KEY (org_id, version),
  CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
);
CREATE INDEX org_keys_master ON org_keys (master_key_id) WHERE wrapped_key IS NOT NULL;
