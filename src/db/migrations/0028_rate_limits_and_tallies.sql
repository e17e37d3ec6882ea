-- An API key's own rate limit, set by an administrator; null: the default
-- (SEALPOST_RATE_LIMIT_PER_KEY).
ALTER TABLE api_keys
  ADD COLUMN rate_limit_per_minute integer CHECK (rate_limit_per_minute BETWEEN 1 AND 10000000);

-- Refusals anyone can repeat at will (a wrong API key secret, an invalid portal link) are counted
-- here rather than appended one by one: each process adds what it counted every second, and once
-- a window has ended its rows become one audit event each, with the count (src/audit/tally.ts).
-- A row is one event to be: its organisation, window and tally key (a SHA-256 of the event it
-- stands for: action, object, source address, details). Rows live one window and a second.
CREATE TABLE audit_tallies (
  org_id        uuid NOT NULL,
  window_start  timestamptz NOT NULL,
  tally_key     text NOT NULL,
  window_end    timestamptz NOT NULL,
  event         jsonb NOT NULL,
  refusals      bigint NOT NULL CHECK (refusals > 0),
  first_at      timestamptz NOT NULL,
  last_at       timestamptz NOT NULL,
  PRIMARY KEY (org_id, window_start, tally_key)
);
CREATE INDEX audit_tallies_window_end ON audit_tallies (window_end);
