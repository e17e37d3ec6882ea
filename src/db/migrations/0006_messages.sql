-- Messages: what was submitted (sealed), and per recipient what SecureLine did with it.

-- The content (addresses with names, subject, bodies, headers, attachments, metadata) is one
-- sealed blob; the columns beside it hold only what routing, listing and policy need.
CREATE TABLE messages (
  org_id          uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  message_id      uuid NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  send_at         timestamptz,
  from_address    text NOT NULL,
  from_domain     text NOT NULL,
  protection      text NOT NULL CHECK (protection IN ('auto', 'portal', 'e2e')),
  priority        text NOT NULL CHECK (priority IN ('transactional', 'bulk')),
  tags            text[] NOT NULL DEFAULT '{}',
  size_bytes      integer NOT NULL,
  dlp             jsonb NOT NULL,
  phi             boolean NOT NULL,
  rfc_message_id  text NOT NULL,
  content_sealed  bytea NOT NULL,
  submitted_by    jsonb NOT NULL,
  PRIMARY KEY (org_id, message_id)
);
CREATE INDEX messages_by_time ON messages (org_id, created_at DESC, message_id DESC);
CREATE INDEX messages_by_tag ON messages USING gin (tags);

CREATE TABLE message_recipients (
  org_id          uuid NOT NULL,
  recipient_id    uuid NOT NULL,
  message_id      uuid NOT NULL,
  position        integer NOT NULL,
  kind            text NOT NULL CHECK (kind IN ('to', 'cc', 'bcc')),
  address         text NOT NULL,
  state           text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivering', 'deferred',
                    'delivered', 'bounced', 'failed', 'portal_notified', 'expired', 'revoked')),
  method          text CHECK (method IN ('pgp', 'smime', 'tls', 'portal')),
  method_reason   text,
  mx              text,
  smtp_code       integer,
  smtp_response   text,
  tls_version     text,
  tls_cipher      text,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz,
  PRIMARY KEY (org_id, recipient_id),
  FOREIGN KEY (org_id, message_id) REFERENCES messages (org_id, message_id) ON DELETE CASCADE
);
CREATE INDEX message_recipients_by_message ON message_recipients (org_id, message_id, position);
CREATE INDEX message_recipients_by_state ON message_recipients (org_id, state);

-- Every delivery attempt of every recipient, as it ended.
CREATE TABLE delivery_attempts (
  org_id          uuid NOT NULL,
  recipient_id    uuid NOT NULL,
  attempt         integer NOT NULL,
  started_at      timestamptz NOT NULL,
  finished_at     timestamptz NOT NULL,
  method          text NOT NULL,
  outcome         text NOT NULL CHECK (outcome IN ('delivered', 'deferred', 'bounced', 'tls_failed', 'failed')),
  mx              text,
  smtp_code       integer,
  smtp_response   text,
  tls_version     text,
  tls_cipher      text,
  detail          text,
  PRIMARY KEY (org_id, recipient_id, attempt),
  FOREIGN KEY (org_id, recipient_id) REFERENCES message_recipients (org_id, recipient_id) ON DELETE CASCADE
);

-- A recipient waiting in the portal: the link's token is sealed (so the notice can be sent
-- again) and hashed (so a visit finds it without opening every seal).
CREATE TABLE portal_deliveries (
  org_id          uuid NOT NULL,
  recipient_id    uuid NOT NULL,
  token_hash      bytea NOT NULL UNIQUE,
  token_sealed    bytea NOT NULL,
  reason          text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  revoked_at      timestamptz,
  PRIMARY KEY (org_id, recipient_id),
  FOREIGN KEY (org_id, recipient_id) REFERENCES message_recipients (org_id, recipient_id) ON DELETE CASCADE
);

-- Addresses that must not be sent to: hard bounces, complaints, or by hand.
CREATE TABLE suppressions (
  org_id          uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  address         text NOT NULL CHECK (address = lower(address)),
  reason          text NOT NULL CHECK (reason IN ('hard_bounce', 'complaint', 'manual')),
  detail          text,
  message_id      uuid,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, address)
);

-- Idempotency keys: the same key with the same request returns the first answer.
CREATE TABLE idempotency_keys (
  org_id          uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  scope           text NOT NULL,
  key             text NOT NULL,
  request_hash    bytea NOT NULL,
  status_code     integer NOT NULL,
  response        jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, scope, key)
);

-- SecureLine policy per organisation; no row means the defaults.
CREATE TABLE secureline_policies (
  org_id                        uuid PRIMARY KEY REFERENCES organizations (org_id) ON DELETE CASCADE,
  tls_for_phi                   boolean NOT NULL DEFAULT true,
  opportunistic_tls_without_phi boolean NOT NULL DEFAULT false,
  smime_algorithm               text NOT NULL DEFAULT 'aes-256-gcm'
                                  CHECK (smime_algorithm IN ('aes-256-gcm', 'aes-256-cbc')),
  hide_subject                  boolean NOT NULL DEFAULT true,
  portal_expiry_days            integer,
  updated_at                    timestamptz NOT NULL DEFAULT now()
);
