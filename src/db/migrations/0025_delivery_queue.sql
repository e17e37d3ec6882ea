-- The delivery queue is message_recipients itself: a recipient with a due_at is waiting for a
-- worker (from that time on) or held by one (until that time, its lease). Workers claim due rows
-- with FOR UPDATE SKIP LOCKED, transactional mail (higher priority) first; an outcome clears
-- due_at, or sets it to the next try. `claims` counts the claims since the last recorded outcome,
-- so a delivery that keeps failing to record one ends rather than loops.
ALTER TABLE message_recipients
  ADD COLUMN due_at timestamptz,
  ADD COLUMN priority smallint NOT NULL DEFAULT 10,
  ADD COLUMN claims smallint NOT NULL DEFAULT 0;

CREATE INDEX message_recipients_due ON message_recipients (priority, due_at) WHERE due_at IS NOT NULL;

-- Deliveries still open when this runs move over from the job table that held them before.
UPDATE message_recipients r SET
  due_at = CASE WHEN r.state = 'delivering' THEN now() ELSE coalesce(r.next_attempt_at, now()) END,
  priority = CASE WHEN m.priority = 'bulk' THEN 0 ELSE 10 END
FROM messages m
WHERE m.org_id = r.org_id AND m.message_id = r.message_id AND r.state IN ('queued', 'delivering', 'deferred');

DO $$
BEGIN
  IF to_regclass('pgboss.job') IS NOT NULL THEN
    DELETE FROM pgboss.job WHERE name IN ('secureline.deliver', 'secureline.deliver.dead');
  END IF;
END $$;
