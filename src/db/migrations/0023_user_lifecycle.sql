-- Staff user lifecycle: invitations, disable / enable / delete, the mail staff are sent, and
-- break-glass emergency access.

-- A deleted user stays as a tombstone so that audit events still name a known actor: the address
-- is replaced by 'deleted:<user_id>' (which frees it for reuse) and only its SHA-256 is kept, with
-- the display name, the role and the dates. Password and factors are removed.
ALTER TABLE users DROP CONSTRAINT users_status_check;
ALTER TABLE users ADD CONSTRAINT users_status_check CHECK (status IN ('active', 'disabled', 'deleted'));
ALTER TABLE users ADD COLUMN invited_by text;
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
ALTER TABLE users ADD COLUMN deleted_at timestamptz;
ALTER TABLE users ADD COLUMN email_sha256 bytea;

-- An invitation's token is shown once, in the mail; only its SHA-256 is kept. One open invitation
-- per address: inviting again replaces it.
CREATE TABLE staff_invitations (
  org_id            uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  invitation_id     uuid NOT NULL,
  email             text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  role              text NOT NULL,
  token_hash        bytea NOT NULL,
  invited_by_type   text NOT NULL,
  invited_by        text NOT NULL,
  created_at        timestamptz NOT NULL,
  expires_at        timestamptz NOT NULL,
  accepted_at       timestamptz,
  accepted_user_id  uuid,
  -- 'revoked' (DELETE), 'replaced' (invited again)
  ended_at          timestamptz,
  ended_reason      text CHECK (ended_reason IN ('revoked', 'replaced')),
  PRIMARY KEY (org_id, invitation_id)
);
CREATE UNIQUE INDEX staff_invitations_token ON staff_invitations (token_hash);
CREATE UNIQUE INDEX staff_invitations_open ON staff_invitations (org_id, lower(email))
  WHERE accepted_at IS NULL AND ended_at IS NULL;

-- Mail to staff (invitations, break-glass alerts) waiting for a worker: sealed under the
-- organisation's key, since an invitation carries its token; the row is deleted once sent.
CREATE TABLE staff_mail_outbox (
  org_id          uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  mail_id         uuid NOT NULL,
  purpose         text NOT NULL CHECK (purpose IN ('invitation', 'break_glass_alert', 'new_device')),
  payload_sealed  bytea NOT NULL,
  created_at      timestamptz NOT NULL,
  PRIMARY KEY (org_id, mail_id)
);

-- Break-glass: the users an owner designated in advance, the longest elevation the organisation
-- allows, and every activation with its review.
CREATE TABLE break_glass_policies (
  org_id       uuid NOT NULL REFERENCES organizations (org_id) ON DELETE CASCADE,
  max_minutes  integer NOT NULL DEFAULT 60 CHECK (max_minutes BETWEEN 5 AND 480),
  updated_at   timestamptz NOT NULL,
  PRIMARY KEY (org_id)
);

CREATE TABLE break_glass_accounts (
  org_id         uuid NOT NULL,
  user_id        uuid NOT NULL,
  designated_by  text NOT NULL,
  designated_at  timestamptz NOT NULL,
  PRIMARY KEY (org_id, user_id),
  FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, user_id) ON DELETE CASCADE
);

CREATE TABLE break_glass_activations (
  org_id          uuid NOT NULL,
  activation_id   uuid NOT NULL,
  user_id         uuid NOT NULL,
  session_id      uuid NOT NULL,
  -- The reason given may name a patient: sealed, shown only to reviewers.
  reason_sealed   bytea NOT NULL,
  activated_at    timestamptz NOT NULL,
  expires_at      timestamptz NOT NULL,
  ended_at        timestamptz,
  ended_reason    text CHECK (ended_reason IN ('deactivated', 'expired', 'session_ended')),
  actions         integer NOT NULL DEFAULT 0,
  owners_alerted  integer NOT NULL DEFAULT 0,
  reviewed_at     timestamptz,
  reviewed_by     text,
  review_sealed   bytea,
  PRIMARY KEY (org_id, activation_id),
  FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, user_id) ON DELETE CASCADE
);
-- The authentication of every request from a session asks whether it is elevated.
CREATE UNIQUE INDEX break_glass_open_by_session ON break_glass_activations (org_id, session_id)
  WHERE ended_at IS NULL;
