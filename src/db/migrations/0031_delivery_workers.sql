-- Delivery workers say they are alive, so that the deliveries of one that died are taken over in
-- seconds rather than when their leases end. Each live worker process has a row here (under the
-- all-zero organisation id, as the instance's other rows), renewed at every heartbeat; a row whose
-- expires_at has passed belongs to a dead worker. The times are the database's own, so workers on
-- hosts whose clocks disagree still agree on who is dead.
CREATE TABLE delivery_workers (
  org_id        uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
  worker_id     uuid NOT NULL,
  -- For operators: which process it is.
  host          text NOT NULL,
  pid           integer NOT NULL,
  started_at    timestamptz NOT NULL,
  heartbeat_at  timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (org_id, worker_id)
);

-- The worker holding a claim (NULL when none does). When a worker is found dead, its claims are
-- found through this index and handed back.
ALTER TABLE message_recipients ADD COLUMN claimed_by uuid;
CREATE INDEX message_recipients_claimed_by ON message_recipients (claimed_by) WHERE claimed_by IS NOT NULL;
