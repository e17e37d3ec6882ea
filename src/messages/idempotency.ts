import { createHash } from 'node:crypto';
import type { Queryable } from '../db/index.ts';
import { SealpostError } from '../errors/index.ts';

// Idempotency keys: a retried request with the same key and the same body gets the first answer;
// the same key with another body is a 409. The key is stored in the same transaction as what the
// request created, so a crash can never leave one without the other.

export interface Remembered {
  status: number;
  body: unknown;
}

export const requestHash = (body: unknown) => createHash('sha256').update(JSON.stringify(body)).digest();

const reused = () =>
  new SealpostError(
    'idempotency_key_reused',
    'This Idempotency-Key was used with another request body. Use a new key for a new request.',
  );

/** The answer remembered for this key, or null when the key is new. */
export async function recall(
  q: Queryable,
  orgId: string,
  scope: string,
  key: string,
  hash: Buffer,
): Promise<Remembered | null> {
  const { rows } = await q.query<{ request_hash: Buffer; status_code: number; response: unknown }>(
    'SELECT request_hash, status_code, response FROM idempotency_keys WHERE org_id = $1 AND scope = $2 AND key = $3',
    [orgId, scope, key],
  );
  const row = rows[0];
  if (!row) return null;
  if (!Buffer.from(row.request_hash).equals(hash)) throw reused();
  return { status: row.status_code, body: row.response };
}

/** Remembers the answer inside the transaction that made it. */
export async function remember(
  tx: Queryable,
  orgId: string,
  scope: string,
  key: string,
  hash: Buffer,
  answer: Remembered,
): Promise<void> {
  await tx.query(
    `INSERT INTO idempotency_keys (org_id, scope, key, request_hash, status_code, response)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [orgId, scope, key, hash, answer.status, JSON.stringify(answer.body)],
  );
}

export const isUniqueViolation = (err: unknown) => (err as { code?: string })?.code === '23505';
