-- Sandbox mode: text messages (one-time codes, links) kept instead of sent. The number and the
-- body are sealed; the number's last two digits stay in clear, to tell captures apart in a list.
CREATE TABLE sandbox_sms (
  org_id       uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  sms_id       uuid NOT NULL,
  captured_at  timestamptz NOT NULL DEFAULT now(),
  purpose      text NOT NULL,
  to_last2     text NOT NULL,
  to_sealed    bytea NOT NULL,
  body_sealed  bytea NOT NULL,
  PRIMARY KEY (org_id, sms_id)
);
CREATE INDEX sandbox_sms_by_time ON sandbox_sms (org_id, captured_at DESC, sms_id DESC);
