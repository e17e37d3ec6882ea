-- Webhooks: endpoints an organisation registers, the events owed to each (deliveries), and every
-- attempt to hand one over (the delivery log). Events themselves are not copied: a delivery
-- names its audit event by position in the organisation's chain, and the payload is rebuilt from
-- it at each attempt (the chain never changes).

CREATE TABLE webhook_endpoints (
  org_id                uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  endpoint_id           uuid NOT NULL,
  url                   text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
  description           text NOT NULL DEFAULT '' CHECK (length(description) <= 200),
  -- The event types wanted; NULL: every type, including those added later.
  event_types           text[],
  -- Whether events may carry PHI (the recipient's address) to this endpoint.
  include_phi           boolean NOT NULL DEFAULT false,
  enabled               boolean NOT NULL DEFAULT true,
  disabled_reason       text CHECK (length(disabled_reason) <= 300),
  disabled_at           timestamptz,
  -- Events after this position of the organisation's chain are owed (its head at creation).
  from_seq              bigint NOT NULL,
  -- Failures since the last success, and since when: what automatic disabling looks at.
  consecutive_failures  integer NOT NULL DEFAULT 0,
  failing_since         timestamptz,
  last_success_at       timestamptz,
  -- The lease of the worker sending to this endpoint now (one at a time, across all workers).
  drain_until           timestamptz,
  -- When this endpoint's next retry is due: workers wake it then (see wakeDue).
  wake_at               timestamptz,
  created_at            timestamptz NOT NULL,
  updated_at            timestamptz NOT NULL,
  PRIMARY KEY (org_id, endpoint_id)
);
CREATE INDEX webhook_endpoints_wake ON webhook_endpoints (wake_at) WHERE wake_at IS NOT NULL;

-- Signing secrets, sealed (bound to their row). The newest signs; an older one keeps signing too
-- until expires_at (the overlap after a rotation), so receivers can switch without a gap.
CREATE TABLE webhook_secrets (
  org_id       uuid NOT NULL,
  secret_id    uuid NOT NULL,
  endpoint_id  uuid NOT NULL,
  sealed       bytea NOT NULL,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz,
  PRIMARY KEY (org_id, secret_id),
  FOREIGN KEY (org_id, endpoint_id) REFERENCES webhook_endpoints (org_id, endpoint_id) ON DELETE CASCADE
);
CREATE INDEX webhook_secrets_by_endpoint ON webhook_secrets (org_id, endpoint_id, created_at);

-- Per organisation, the chain position up to which events have been fanned out to endpoints.
CREATE TABLE webhook_cursors (
  org_id      uuid PRIMARY KEY REFERENCES organizations (org_id) ON DELETE CASCADE,
  seq         bigint NOT NULL CHECK (seq >= 0),
  updated_at  timestamptz NOT NULL
);

-- One event owed to one endpoint. kind: event (fanned out; at most one per endpoint and event),
-- replay (asked for again), test (a test event, whose payload is kept here: it has no audit event).
CREATE TABLE webhook_deliveries (
  org_id           uuid NOT NULL,
  delivery_id      uuid NOT NULL,
  endpoint_id      uuid NOT NULL,
  kind             text NOT NULL CHECK (kind IN ('event', 'replay', 'test')),
  event_id         uuid NOT NULL,
  event_seq        bigint,
  event_type       text NOT NULL,
  payload          jsonb,
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  -- When the next attempt is due; NULL once the delivery succeeded or gave up.
  next_attempt_at  timestamptz,
  last_status      integer,
  last_error       text,
  created_at       timestamptz NOT NULL,
  finished_at      timestamptz,
  PRIMARY KEY (org_id, delivery_id),
  FOREIGN KEY (org_id, endpoint_id) REFERENCES webhook_endpoints (org_id, endpoint_id) ON DELETE CASCADE,
  CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL)),
  CHECK ((kind = 'test') = (event_seq IS NULL))
);
-- Fan-out is idempotent: an event is owed to an endpoint once (replays are extra deliveries).
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (org_id, endpoint_id, event_id)
  WHERE kind = 'event';
-- What a worker sends next to an endpoint: due first, then in chain order.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (org_id, endpoint_id, next_attempt_at, event_seq)
  WHERE next_attempt_at IS NOT NULL;
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at) WHERE finished_at IS NOT NULL;

-- The delivery log: every attempt, with the HTTP status (NULL when no answer came) and timing.
CREATE TABLE webhook_attempts (
  org_id        uuid NOT NULL,
  attempt_id    bigint GENERATED ALWAYS AS IDENTITY,
  endpoint_id   uuid NOT NULL,
  delivery_id   uuid NOT NULL,
  attempt       integer NOT NULL CHECK (attempt >= 1),
  started_at    timestamptz NOT NULL,
  duration_ms   integer NOT NULL CHECK (duration_ms >= 0),
  status        integer,
  error         text CHECK (length(error) <= 500),
  PRIMARY KEY (org_id, attempt_id),
  FOREIGN KEY (org_id, delivery_id) REFERENCES webhook_deliveries (org_id, delivery_id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (org_id, endpoint_id, attempt_id DESC);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (org_id, delivery_id);
