-- Sandbox captures say what kind of mail they hold: a delivery of a submitted message, the
-- portal's mail about one, or mail to staff about their accounts (only those who manage users see
-- it, and its access links are masked before it is kept). The portal's mail captured before this
-- stays under 'message': the difference matters only for staff mail.
ALTER TABLE sandbox_captures
  ADD COLUMN kind text NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'portal', 'staff'));

-- Staff mail captured before this was kept with its links in clear (an invitation's link makes
-- whoever reads it a user with the invited role): it cannot be masked after the fact, so it goes.
-- Staff mail is filed under its own id as message and recipient; a delivery never is.
DELETE FROM sandbox_captures WHERE recipient_id = message_id;

-- The files a recipient may attach in the portal, by type (src/portal/uploads.ts): what patients
-- send, decided from the content. Organisation policy, editable through /v1/policies/secureline.
ALTER TABLE secureline_policies
  ADD COLUMN portal_upload_types text[] NOT NULL
    DEFAULT ARRAY['pdf', 'jpeg', 'png', 'gif', 'webp', 'heic', 'tiff', 'text', 'docx', 'xlsx', 'pptx']
    CHECK (portal_upload_types <@ ARRAY['pdf', 'jpeg', 'png', 'gif', 'webp', 'heic', 'tiff', 'text', 'docx', 'xlsx', 'pptx']);
