-- DKIM key rotation with overlap: a new pair waits as 'pending' (published, not yet signing)
-- until its DNS records check out; then it becomes 'active' and the old pair 'retired', whose
-- records stay published for a while so mail signed just before the switch still verifies.
ALTER TABLE dkim_keys DROP CONSTRAINT dkim_keys_status_check;
ALTER TABLE dkim_keys ADD CONSTRAINT dkim_keys_status_check
  CHECK (status IN ('pending', 'active', 'retired'));
ALTER TABLE dkim_keys ADD COLUMN retired_at timestamptz;
UPDATE dkim_keys SET retired_at = created_at WHERE status = 'retired';
ALTER TABLE dkim_keys ADD CONSTRAINT dkim_keys_retired_at_check
  CHECK ((status = 'retired') = (retired_at IS NOT NULL));

-- At most one key per algorithm signs, and at most one waits: one rotation at a time.
CREATE UNIQUE INDEX dkim_keys_one_active ON dkim_keys (org_id, domain, algorithm) WHERE status = 'active';
CREATE UNIQUE INDEX dkim_keys_one_pending ON dkim_keys (org_id, domain, algorithm) WHERE status = 'pending';
