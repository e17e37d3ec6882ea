-- The chain is checked and its head moved once per INSERT statement rather than once per event.
-- A flush places tens of events at once; the per-row trigger updated the head row once for each
-- of them (a new row version, a plpgsql call and the head guard every time). The guarantee is the
-- same: inside the statement each chain's new events must follow one another (seq by one,
-- prev_hash the previous event's hash); the first must follow the chain's head; the head then
-- moves to the last. A head can still only move while events are being inserted, and only to an
-- event that exists with that hash.
DROP TRIGGER audit_events_extend_chain ON audit_events;
DROP FUNCTION audit_events_extend_chain();

CREATE FUNCTION audit_events_extend_chains() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  broken record;
BEGIN
  -- Links inside the statement: each chain's new events follow one another.
  SELECT org_id, seq INTO broken FROM (
    SELECT org_id, seq, prev_hash, lag(seq) OVER w AS before_seq, lag(hash) OVER w AS before_hash
    FROM new_events WINDOW w AS (PARTITION BY org_id ORDER BY seq)
  ) e
  WHERE before_seq IS NOT NULL AND (seq <> before_seq + 1 OR prev_hash <> before_hash)
  LIMIT 1;

  -- The first of each chain's new events follows its head, which moves to the last. A concurrent
  -- insert into the same chain waits for the head's row lock, then finds the head moved: its
  -- WHERE no longer matches and the statement is refused.
  IF NOT FOUND THEN
    WITH ends AS (
      SELECT org_id, min(seq) AS first_seq, max(seq) AS last_seq FROM new_events GROUP BY org_id
    ), moved AS (
      UPDATE audit_heads h SET seq = last.seq, hash = last.hash
      FROM ends
      JOIN new_events first ON first.org_id = ends.org_id AND first.seq = ends.first_seq
      JOIN new_events last ON last.org_id = ends.org_id AND last.seq = ends.last_seq
      WHERE h.org_id = ends.org_id AND h.seq = first.seq - 1 AND h.hash = first.prev_hash
      RETURNING h.org_id
    )
    SELECT org_id, first_seq AS seq INTO broken FROM ends
    WHERE NOT EXISTS (SELECT 1 FROM moved WHERE moved.org_id = ends.org_id)
    LIMIT 1;
  END IF;

  IF FOUND THEN
    RAISE EXCEPTION 'audit event % of chain % does not extend the chain head', broken.seq, broken.org_id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER audit_events_extend_chains AFTER INSERT ON audit_events
  REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_extend_chains();

-- The head moves only from inside that trigger (depth 2), only forward, and only onto an event
-- of its chain that exists with that hash.
CREATE OR REPLACE FUNCTION audit_heads_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.seq <> 0 OR NEW.hash <> decode(repeat('00', 32), 'hex') THEN
      RAISE EXCEPTION 'a new audit chain head must be empty (seq 0, zero hash)'
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  ELSIF pg_trigger_depth() < 2 OR NEW.org_id <> OLD.org_id OR NEW.seq <= OLD.seq
    OR NOT EXISTS (SELECT 1 FROM audit_events WHERE org_id = NEW.org_id AND seq = NEW.seq AND hash = NEW.hash) THEN
    RAISE EXCEPTION 'an audit chain head moves only when an event is appended'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;
