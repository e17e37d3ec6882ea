import { createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { type SigningKey, signingKeyId } from '../crypto/index.ts';
import type { Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';

// A checkpoint is one chain's head, (org_id, seq, hash), signed with an Ed25519 key held outside
// the database. Whoever rewrites the database can recompute a chain's hashes but cannot sign, so a
// chain that no longer holds the hash a checkpoint signed at its seq, or that ends before it, was
// rewritten or cut. Exported, the checkpoints are the auditor's own anchor: deleting them from the
// database then hides nothing.

/** Names the signed form below; a future form gets a new tag. */
export const CHECKPOINT_FORMAT = 'sealpost.audit.checkpoint.v1';

export interface Checkpoint {
  orgId: string;
  seq: number;
  /** The hash of the chain's event at `seq`. */
  hash: Buffer;
  signedAt: Date;
  /** SHA-256 of the signing key's DER public key, hex. */
  keyId: string;
  /** Ed25519 over checkpointBytes. */
  signature: Buffer;
}

/** A checkpoint read from an export, with the public half of the key that signed it. */
export interface ExportedCheckpoint extends Checkpoint {
  publicKey: KeyObject;
}

/** A checkpoint as one line of an export: what a third party needs to check it, and nothing else. */
export interface CheckpointJson {
  format: string;
  org_id: string;
  seq: number;
  hash: string;
  signed_at: string;
  key_id: string;
  signature: string;
  public_key: string;
}

/**
 * The signed bytes: the UTF-8 JSON array [format, org_id, seq, hash, signed_at, key_id], without
 * spaces, exactly as `jq -cj '[.format, .org_id, .seq, .hash, .signed_at, .key_id]'` prints a line.
 */
export function checkpointBytes(c: Omit<Checkpoint, 'signature'>): Buffer {
  return Buffer.from(
    JSON.stringify([
      CHECKPOINT_FORMAT,
      c.orgId,
      c.seq,
      c.hash.toString('hex'),
      c.signedAt.toISOString(),
      c.keyId,
    ]),
    'utf8',
  );
}

/** Whether the checkpoint's signature holds under this public key. */
export function checkpointSigned(c: Checkpoint, publicKey: KeyObject): boolean {
  return c.signature.length === 64 && verify(null, checkpointBytes(c), publicKey, c.signature);
}

/** Heads signed per statement. */
const WRITE_PAGE = 1000;

/**
 * Signs the head of every chain that moved since this key last signed it, and returns how many.
 * A chain whose head stands still (or went back) is skipped: its newest checkpoint still holds.
 * Reads and writes in autocommit statements, off the path of appends: it never takes a head's lock.
 */
export async function writeCheckpoints(db: Queryable, key: SigningKey, now: Date): Promise<number> {
  const publicKey = key.publicKey.export({ type: 'spki', format: 'der' });
  let written = 0;
  let after: string | null = null;
  for (;;) {
    const { rows }: { rows: { org_id: string; seq: number | string; hash: Uint8Array }[] } = await db.query(
      `SELECT h.org_id, h.seq, h.hash FROM audit_heads h
       WHERE ($2::uuid IS NULL OR h.org_id > $2) AND h.seq > 0 AND NOT EXISTS (
         SELECT 1 FROM audit_checkpoints c WHERE c.org_id = h.org_id AND c.seq >= h.seq AND c.key_id = $1)
       ORDER BY h.org_id LIMIT $3`,
      [key.id, after, WRITE_PAGE],
    );
    if (rows.length === 0) return written;
    const heads = rows.map((r) => ({
      orgId: r.org_id,
      seq: Number(r.seq),
      hash: Buffer.from(r.hash),
      signedAt: now,
      keyId: key.id,
    }));
    const { rowCount } = await db.query(
      `INSERT INTO audit_checkpoints (org_id, seq, key_id, hash, signed_at, signature, public_key)
       SELECT org_id, seq, $1, hash, $2, signature, $3
       FROM unnest($4::uuid[], $5::bigint[], $6::bytea[], $7::bytea[]) AS c (org_id, seq, hash, signature)
       ON CONFLICT DO NOTHING`,
      [
        key.id,
        now.toISOString(),
        publicKey,
        heads.map((h) => h.orgId),
        heads.map((h) => h.seq),
        heads.map((h) => h.hash),
        heads.map((h) => sign(null, checkpointBytes(h), key.privateKey)),
      ],
    );
    written += rowCount;
    after = heads.at(-1)!.orgId;
    if (rows.length < WRITE_PAGE) return written;
  }
}

const COLUMNS = 'org_id, seq, key_id, hash, signed_at, signature, public_key';

type CheckpointRow = {
  org_id: string;
  seq: number | string;
  key_id: string;
  hash: Uint8Array;
  signed_at: Date;
  signature: Uint8Array;
  public_key: Uint8Array;
};

export function checkpointFromRow(row: CheckpointRow): Checkpoint {
  return {
    orgId: row.org_id,
    seq: Number(row.seq),
    hash: Buffer.from(row.hash),
    signedAt: row.signed_at,
    keyId: row.key_id,
    signature: Buffer.from(row.signature),
  };
}

/**
 * One chain's checkpoints with seq after `afterSeq` (and key id after `afterKey` at that seq), in
 * (seq, key id) order: a keyset page.
 */
export async function checkpointPage(
  db: Queryable,
  orgId: string,
  after: { seq: number; keyId: string },
  limit: number,
): Promise<Checkpoint[]> {
  const { rows } = await db.query<CheckpointRow>(
    `SELECT ${COLUMNS} FROM audit_checkpoints
     WHERE org_id = $1 AND (seq, key_id) > ($2::bigint, $3::text) ORDER BY seq, key_id LIMIT $4`,
    [orgId, after.seq, after.keyId, limit],
  );
  return rows.map(checkpointFromRow);
}

export function checkpointJson(c: Checkpoint, publicKey: Uint8Array): CheckpointJson {
  return {
    format: CHECKPOINT_FORMAT,
    org_id: c.orgId,
    seq: c.seq,
    hash: c.hash.toString('hex'),
    signed_at: c.signedAt.toISOString(),
    key_id: c.keyId,
    signature: c.signature.toString('base64'),
    public_key: Buffer.from(publicKey).toString('base64'),
  };
}

/**
 * Every checkpoint (or one organisation's), oldest chain position first, as JSON lines without
 * line breaks, each with its key's public half. A page at a time: constant memory.
 */
export async function* exportCheckpoints(
  db: Queryable,
  options: { orgId?: string; pageSize?: number } = {},
): AsyncGenerator<string> {
  const pageSize = options.pageSize ?? 1000;
  let after: { orgId: string; seq: number; keyId: string } | null = null;
  for (;;) {
    const { rows }: { rows: CheckpointRow[] } = await db.query(
      `SELECT ${COLUMNS} FROM audit_checkpoints
       WHERE ($1::uuid IS NULL OR org_id = $1)
         AND ($2::uuid IS NULL OR (org_id, seq, key_id) > ($2::uuid, $3::bigint, $4::text))
       ORDER BY org_id, seq, key_id LIMIT $5`,
      [options.orgId ?? null, after?.orgId ?? null, after?.seq ?? 0, after?.keyId ?? '', pageSize],
    );
    for (const row of rows) {
      const c = checkpointFromRow(row);
      yield JSON.stringify(checkpointJson(c, row.public_key));
      after = c;
    }
    if (rows.length < pageSize) return;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** Exactly the form toISOString writes (the signed bytes hold it as written). */
function isIsoTime(s: string): boolean {
  const date = new Date(s);
  return !Number.isNaN(date.getTime()) && date.toISOString() === s;
}

/**
 * Reads an export (JSON lines) into checkpoints that each carry their public key. A line that is
 * not a checkpoint is refused with its number; whether its signature holds is verify's question.
 */
export function parseCheckpoints(text: string): ExportedCheckpoint[] {
  const checkpoints: ExportedCheckpoint[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const bad = (why: string) =>
      errors.badRequest(`Line ${i + 1} of the checkpoints is not a checkpoint: ${why}.`);
    let c: Partial<CheckpointJson>;
    try {
      c = JSON.parse(line) as Partial<CheckpointJson>;
    } catch {
      throw bad('not JSON');
    }
    if (c === null || typeof c !== 'object') throw bad('not an object');
    if (c.format !== CHECKPOINT_FORMAT) throw bad(`format must be ${CHECKPOINT_FORMAT}`);
    if (typeof c.org_id !== 'string' || !UUID.test(c.org_id))
      throw bad('org_id must be a UUID in lower case');
    if (!Number.isSafeInteger(c.seq) || (c.seq as number) < 1) throw bad('seq must be a positive integer');
    if (typeof c.hash !== 'string' || !HEX64.test(c.hash)) throw bad('hash must be 64 hex digits');
    if (typeof c.signed_at !== 'string' || !isIsoTime(c.signed_at))
      throw bad('signed_at must be an ISO 8601 time in UTC with milliseconds');
    if (typeof c.key_id !== 'string' || !HEX64.test(c.key_id)) throw bad('key_id must be 64 hex digits');
    if (typeof c.signature !== 'string') throw bad('signature must be base64');
    if (typeof c.public_key !== 'string') throw bad('public_key must be base64');
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: Buffer.from(c.public_key, 'base64'), format: 'der', type: 'spki' });
    } catch {
      throw bad('public_key is not a public key');
    }
    if (publicKey.asymmetricKeyType !== 'ed25519') throw bad('public_key is not an Ed25519 key');
    if (signingKeyId(publicKey) !== c.key_id) throw bad('key_id is not the SHA-256 of public_key');
    checkpoints.push({
      orgId: c.org_id,
      seq: c.seq as number,
      hash: Buffer.from(c.hash, 'hex'),
      signedAt: new Date(c.signed_at),
      keyId: c.key_id,
      signature: Buffer.from(c.signature, 'base64'),
      publicKey,
    });
  });
  return checkpoints;
}
