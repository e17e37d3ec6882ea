-- The mode a message was accepted in: a message accepted in the sandbox is never delivered, even
-- after the instance is switched to production.
ALTER TABLE messages ADD COLUMN sandbox boolean NOT NULL DEFAULT false;

-- Settings of the instance itself, under the all-zero organisation id (as the audit trail's
-- system chain): today the mode the database was set up in, which a process must match.
CREATE TABLE instance_settings (
  org_id      uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
  key         text NOT NULL,
  value       text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, key)
);
