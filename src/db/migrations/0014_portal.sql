-- The secure portal: how a recipient proves who they are, their sessions, what they did there,
-- and the sending organisation's branding.

-- Per recipient: proof of identity, lockout, and the read receipts the sender sees.
ALTER TABLE portal_deliveries
  ADD COLUMN verification    text NOT NULL DEFAULT 'email' CHECK (verification IN ('email', 'sms', 'passphrase')),
  ADD COLUMN language        text NOT NULL DEFAULT 'en',
  ADD COLUMN failed_attempts integer NOT NULL DEFAULT 0,
  ADD COLUMN locked_at       timestamptz,
  ADD COLUMN verified_at     timestamptz,
  ADD COLUMN first_viewed_at timestamptz,
  ADD COLUMN last_viewed_at  timestamptz,
  ADD COLUMN views           integer NOT NULL DEFAULT 0,
  ADD COLUMN downloads       integer NOT NULL DEFAULT 0,
  ADD COLUMN replies         integer NOT NULL DEFAULT 0;

-- One-time codes, sent by email or SMS. The code is sealed (the worker that sends it opens it)
-- and compared after opening; it never sits in a job or a log.
CREATE TABLE portal_codes (
  org_id        uuid NOT NULL,
  code_id       uuid NOT NULL,
  recipient_id  uuid NOT NULL,
  channel       text NOT NULL CHECK (channel IN ('email', 'sms')),
  code_sealed   bytea NOT NULL,
  created_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  attempts      integer NOT NULL DEFAULT 0,
  used_at       timestamptz,
  PRIMARY KEY (org_id, code_id),
  FOREIGN KEY (org_id, recipient_id) REFERENCES portal_deliveries (org_id, recipient_id) ON DELETE CASCADE
);
CREATE INDEX portal_codes_by_recipient ON portal_codes (org_id, recipient_id, created_at DESC);

-- A recipient's session after proving who they are: bound to that one recipient. Only a hash of
-- the cookie's secret is stored.
CREATE TABLE portal_sessions (
  org_id        uuid NOT NULL,
  session_id    uuid NOT NULL,
  recipient_id  uuid NOT NULL,
  secret_hash   bytea NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL,
  last_seen_at  timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  ended_at      timestamptz,
  PRIMARY KEY (org_id, session_id),
  FOREIGN KEY (org_id, recipient_id) REFERENCES portal_deliveries (org_id, recipient_id) ON DELETE CASCADE
);
CREATE INDEX portal_sessions_by_recipient ON portal_sessions (org_id, recipient_id);

-- A reply written in the portal is a message of its own, linked to the one it answers.
ALTER TABLE messages ADD COLUMN reply_of uuid;

-- How the portal verifies recipients and who a reply may reach, per organisation.
ALTER TABLE secureline_policies
  ADD COLUMN portal_verification text NOT NULL DEFAULT 'email'
    CHECK (portal_verification IN ('email', 'sms', 'passphrase')),
  ADD COLUMN portal_replies      text NOT NULL DEFAULT 'sender' CHECK (portal_replies IN ('none', 'sender', 'all')),
  ADD COLUMN notice_subject      boolean NOT NULL DEFAULT false,
  ADD COLUMN portal_inbox        text;

-- What recipients see of the sending organisation: its name, colour and logo.
CREATE TABLE org_branding (
  org_id        uuid PRIMARY KEY REFERENCES organizations (org_id) ON DELETE CASCADE,
  display_name  text,
  color         text CHECK (color ~ '^#[0-9a-f]{6}$'),
  logo          bytea,
  logo_type     text CHECK (logo_type IN ('image/png', 'image/jpeg', 'image/gif', 'image/webp')),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
