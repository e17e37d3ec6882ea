-- Engagement: the key that signs tracking and unsubscribe links, per organisation, and
-- unsubscribes as a reason to suppress (for marketing mail only).

CREATE TABLE engagement_keys (
  org_id      uuid PRIMARY KEY REFERENCES organizations (org_id) ON DELETE CASCADE,
  key_sealed  bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE suppressions DROP CONSTRAINT suppressions_reason_check;
ALTER TABLE suppressions ADD CONSTRAINT suppressions_reason_check
  CHECK (reason IN ('hard_bounce', 'complaint', 'manual', 'unsubscribe'));
