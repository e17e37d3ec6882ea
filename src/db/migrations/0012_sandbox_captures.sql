-- Sandbox mode: what would have left, captured after the whole pipeline ran (encryption, DKIM).
-- The raw message is sealed: a capture of TLS-protected mail holds PHI in clear.
CREATE TABLE sandbox_captures (
  org_id        uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  capture_id    uuid NOT NULL,
  message_id    uuid NOT NULL,
  recipient_id  uuid NOT NULL,
  captured_at   timestamptz NOT NULL DEFAULT now(),
  recipient     text NOT NULL,
  envelope_from text NOT NULL,
  tls           text NOT NULL,
  outcome       text NOT NULL,
  size_bytes    integer NOT NULL,
  raw_sealed    bytea NOT NULL,
  PRIMARY KEY (org_id, capture_id)
);
CREATE INDEX sandbox_captures_by_time ON sandbox_captures (org_id, captured_at DESC, capture_id DESC);
