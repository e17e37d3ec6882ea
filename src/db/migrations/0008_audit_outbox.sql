-- Audit events of high-volume actions (a message queued, a delivery attempt recorded) are staged
-- here in the action's own transaction, then moved into their organisation's hash chain in
-- batches: one chain commit per batch instead of one per event, so the chain's head lock does not
-- become the ceiling of the whole mail flow. Staged rows are durable with the action (fail closed
-- as before); they wait here for well under a second.
CREATE TABLE audit_outbox (
  org_id       uuid NOT NULL,
  entry_id     bigint GENERATED ALWAYS AS IDENTITY,
  occurred_at  timestamptz NOT NULL,
  event        jsonb NOT NULL,
  PRIMARY KEY (org_id, entry_id)
);
