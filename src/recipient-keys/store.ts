import { isTimestampText, type Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import type { Actor } from '../access-model/index.ts';
import type { ParsedRecipientKey, RecipientKeyKind } from './types.ts';

/** A recipient key on file. */
export interface StoredKey {
  id: string;
  address: string;
  kind: RecipientKeyKind;
  fingerprint: string;
  algorithm: string;
  /** Armored OpenPGP public key, or PEM certificate. */
  key: string;
  expiresAt: Date | null;
  createdAt: Date;
}

export interface KeyPage {
  keys: StoredKey[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

interface KeyRow {
  [column: string]: unknown;
  key_id: string;
  address: string;
  kind: RecipientKeyKind;
  fingerprint: string;
  algorithm: string;
  key_text: string;
  expires_at: Date | null;
  created_at: Date;
}

const COLUMNS = 'key_id, address, kind, fingerprint, algorithm, key_text, expires_at, created_at';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const fromRow = (row: KeyRow): StoredKey => ({
  id: row.key_id,
  address: row.address,
  kind: row.kind,
  fingerprint: row.fingerprint,
  algorithm: row.algorithm,
  key: row.key_text,
  expiresAt: row.expires_at,
  createdAt: row.created_at,
});

/** Files a parsed key under a lower-case address; the same key twice for one address is a 409. */
export async function addRecipientKey(
  q: Queryable,
  orgId: string,
  input: { address: string; parsed: ParsedRecipientKey; createdBy: Actor; now: Date },
): Promise<StoredKey> {
  const { address, parsed, createdBy, now } = input;
  const { rows } = await q.query<KeyRow>(
    `INSERT INTO recipient_keys
       (org_id, address, kind, fingerprint, algorithm, key_text, expires_at, created_at, created_by_type, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (org_id, address, fingerprint) DO NOTHING
     RETURNING ${COLUMNS}`,
    [
      orgId,
      address,
      parsed.kind,
      parsed.fingerprint,
      parsed.algorithm,
      parsed.normalized,
      parsed.expiresAt,
      // The clock's milliseconds, not now()'s microseconds: the list cursor carries this time.
      now,
      createdBy.type,
      createdBy.id,
    ],
  );
  if (!rows[0])
    throw errors.conflict('recipient_key_exists', 'This key is already on file for this address.');
  return fromRow(rows[0]);
}

export async function getRecipientKey(q: Queryable, orgId: string, id: string): Promise<StoredKey | null> {
  if (!UUID.test(id)) return null;
  const { rows } = await q.query<KeyRow>(
    `SELECT ${COLUMNS} FROM recipient_keys WHERE org_id = $1 AND key_id = $2`,
    [orgId, id],
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

/** Removes a key; returns what was removed, or null when there was no such key. */
export async function deleteRecipientKey(q: Queryable, orgId: string, id: string): Promise<StoredKey | null> {
  if (!UUID.test(id)) return null;
  const { rows } = await q.query<KeyRow>(
    `DELETE FROM recipient_keys WHERE org_id = $1 AND key_id = $2 RETURNING ${COLUMNS}`,
    [orgId, id],
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

/** One page of keys, newest first, optionally for one address (keyset pagination). */
export async function listRecipientKeys(
  q: Queryable,
  orgId: string,
  options: { address?: string; cursor?: string; limit: number },
): Promise<KeyPage> {
  const where = ['org_id = $1'];
  const params: unknown[] = [orgId];
  if (options.address !== undefined) {
    params.push(options.address.trim().toLowerCase());
    where.push(`address = $${params.length}`);
  }
  if (options.cursor) {
    const after = decodeCursor(options.cursor);
    params.push(after.createdAt, after.id);
    where.push(`(created_at, key_id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(options.limit + 1);
  const { rows } = await q.query<KeyRow>(
    `SELECT ${COLUMNS} FROM recipient_keys WHERE ${where.join(' AND ')}
     ORDER BY created_at DESC, key_id DESC LIMIT $${params.length}`,
    params,
  );
  const keys = rows.slice(0, options.limit).map(fromRow);
  const last = keys.at(-1);
  return { keys, nextCursor: rows.length > options.limit && last ? encodeCursor(last) : null };
}

/**
 * The keys SecureLine may encrypt to for an address at `now` (not expired), newest first, by kind.
 */
export async function findRecipientKeys(
  q: Queryable,
  orgId: string,
  address: string,
  now: Date,
): Promise<{ pgp: StoredKey[]; smime: StoredKey[] }> {
  const { rows } = await q.query<KeyRow>(
    `SELECT ${COLUMNS} FROM recipient_keys
     WHERE org_id = $1 AND address = $2 AND (expires_at IS NULL OR expires_at > $3)
     ORDER BY created_at DESC, key_id DESC`,
    [orgId, address.trim().toLowerCase(), now],
  );
  const keys = rows.map(fromRow);
  return { pgp: keys.filter((k) => k.kind === 'pgp'), smime: keys.filter((k) => k.kind === 'smime') };
}

function encodeCursor(key: StoredKey): string {
  return Buffer.from(`${key.createdAt.toISOString()}|${key.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|([0-9a-f-]{36})$/.exec(
    Buffer.from(cursor, 'base64url').toString('utf8'),
  );
  if (!match || !isTimestampText(match[1]!) || !UUID.test(match[2]!))
    throw errors.badRequest('The cursor is not one this API gave out.');
  return { createdAt: match[1]!, id: match[2]! };
}
