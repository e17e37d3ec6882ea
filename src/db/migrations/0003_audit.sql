-- The audit trail: per organisation, an append-only chain of events, each event's hash covering the
-- previous event's hash (see src/audit/hash.ts). System-wide events use the all-zero UUID as org_id.
-- No foreign keys: the history outlives the organisations, users and keys it mentions.
--
-- The database refuses to change or remove events (triggers below). A superuser or the tables'
-- owner can still disable triggers; that is why every event is hashed into the chain and each
-- chain's head is kept in audit_heads: `sealpost audit verify` then finds the first broken event.
CREATE TABLE audit_events (
  org_id       uuid NOT NULL,
  seq          bigint NOT NULL CHECK (seq >= 1),
  event_id     uuid NOT NULL UNIQUE,
  occurred_at  timestamptz NOT NULL,
  actor_type   text NOT NULL CHECK (length(actor_type) BETWEEN 1 AND 32),
  actor_id     text NOT NULL CHECK (length(actor_id) BETWEEN 1 AND 200),
  actor_label  text NOT NULL CHECK (length(actor_label) <= 200),
  action       text NOT NULL CHECK (length(action) BETWEEN 3 AND 100),
  object_type  text NOT NULL CHECK (length(object_type) BETWEEN 1 AND 64),
  object_id    text NOT NULL CHECK (length(object_id) <= 200),
  outcome      text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
  ip           text CHECK (length(ip) <= 64),
  request_id   text CHECK (length(request_id) <= 128),
  -- Never PHI: ids, counts, scopes, reasons. Names, addresses, subjects and bodies stay out.
  details      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
  prev_hash    bytea NOT NULL CHECK (length(prev_hash) = 32),
  hash         bytea NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (org_id, seq)
);

-- The filters of GET /v1/audit-events and `sealpost audit export`, each in the order results are
-- returned (occurred_at, seq), so a page is one index range scan.
CREATE INDEX audit_events_time ON audit_events (org_id, occurred_at, seq);
CREATE INDEX audit_events_actor ON audit_events (org_id, actor_id, occurred_at, seq);
CREATE INDEX audit_events_object ON audit_events (org_id, object_type, object_id, occurred_at, seq);

-- Each chain's last event. Appending locks this row, which serialises appends to one chain.
CREATE TABLE audit_heads (
  org_id  uuid PRIMARY KEY,
  seq     bigint NOT NULL CHECK (seq >= 0),
  hash    bytea NOT NULL CHECK (length(hash) = 32)
);

CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Audit events are never updated or deleted; append a new event instead.';
END
$$;

CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON audit_heads
  FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON audit_heads
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();

-- An event must extend its chain: its seq follows the head's and its prev_hash is the head's hash.
-- The same trigger then advances the head, so the head cannot drift from the events.
CREATE FUNCTION audit_events_extend_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE audit_heads SET seq = NEW.seq, hash = NEW.hash
    WHERE org_id = NEW.org_id AND seq = NEW.seq - 1 AND hash = NEW.prev_hash;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'audit event % of chain % does not extend the chain head', NEW.seq, NEW.org_id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER audit_events_extend_chain AFTER INSERT ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_extend_chain();

-- A head starts empty (seq 0, hash of 32 zero bytes) and moves only by one, only when an event is
-- inserted (the trigger above, hence trigger depth 2).
CREATE FUNCTION audit_heads_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.seq <> 0 OR NEW.hash <> decode(repeat('00', 32), 'hex') THEN
      RAISE EXCEPTION 'a new audit chain head must be empty (seq 0, zero hash)'
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  ELSIF pg_trigger_depth() < 2 OR NEW.org_id <> OLD.org_id OR NEW.seq <> OLD.seq + 1 THEN
    RAISE EXCEPTION 'an audit chain head moves only when an event is appended'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_heads_guard BEFORE INSERT OR UPDATE ON audit_heads
  FOR EACH ROW EXECUTE FUNCTION audit_heads_guard();
