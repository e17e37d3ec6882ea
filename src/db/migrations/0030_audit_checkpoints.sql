-- Signed checkpoints of the audit chains' heads (see src/audit/checkpoints.ts). A hash chain shows
-- an edit only to someone who still holds a hash from before it: whoever can write the database
-- can delete a chain's tail and move its head back, or edit an event and recompute every later
-- hash. A checkpoint is a chain's (seq, hash) signed with an Ed25519 key that is not in the
-- database, so such rewriting no longer matches the checkpoints signed before it; exported, they
-- are the auditor's own copy, out of the attacker's reach.
--
-- One row per chain head and signing key, written only when the head moved since that key's last
-- one. Each row carries the public half of its key, so an export holds what a third party needs to
-- check it; verify itself never trusts that column, only the keys it holds.
--
-- Append-only like the chain itself. No foreign keys: the evidence outlives what it names.
CREATE TABLE audit_checkpoints (
  org_id      uuid NOT NULL,
  seq         bigint NOT NULL CHECK (seq >= 1),
  -- SHA-256 of the public key's DER encoding (SubjectPublicKeyInfo), in hex.
  key_id      text NOT NULL,
  hash        bytea NOT NULL CHECK (length(hash) = 32),
  signed_at   timestamptz NOT NULL,
  signature   bytea NOT NULL CHECK (length(signature) = 64),
  public_key  bytea NOT NULL CHECK (length(public_key) = 44),
  PRIMARY KEY (org_id, seq, key_id),
  CHECK (key_id = encode(sha256(public_key), 'hex'))
);

CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
