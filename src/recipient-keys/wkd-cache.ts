// The Web Key Directory cache (table wkd_cache): per organisation, the last answer for an
// address, until it goes stale.
import type { Queryable } from '../db/index.ts';

/** What a directory lookup came to. */
export type WkdAnswer =
  | { outcome: 'key'; fingerprint: string; key: string; expiresAt: Date | null }
  | { outcome: 'none' | 'error'; reason: string };

interface CacheRow {
  [column: string]: unknown;
  outcome: WkdAnswer['outcome'];
  fingerprint: string | null;
  key_text: string | null;
  key_expires_at: Date | null;
  reason: string | null;
}

/** The answer kept for a lower-case address, if it is still fresh at `now`. */
export async function readWkdCache(
  q: Queryable,
  orgId: string,
  address: string,
  now: Date,
): Promise<WkdAnswer | null> {
  const { rows } = await q.query<CacheRow>(
    `SELECT outcome, fingerprint, key_text, key_expires_at, reason FROM wkd_cache
     WHERE org_id = $1 AND address = $2 AND fresh_until > $3`,
    [orgId, address, now],
  );
  const row = rows[0];
  if (!row) return null;
  if (row.outcome === 'key')
    return {
      outcome: 'key',
      fingerprint: row.fingerprint!,
      key: row.key_text!,
      expiresAt: row.key_expires_at,
    };
  return { outcome: row.outcome, reason: row.reason ?? '' };
}

/** Keeps `answer` for a lower-case address until `now + ttlMs`, in place of what was kept before. */
export async function writeWkdCache(
  q: Queryable,
  orgId: string,
  address: string,
  answer: WkdAnswer,
  now: Date,
  ttlMs: number,
): Promise<void> {
  const key = answer.outcome === 'key' ? answer : null;
  await q.query(
    `INSERT INTO wkd_cache
       (org_id, address, outcome, fingerprint, key_text, key_expires_at, reason, fetched_at, fresh_until)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (org_id, address) DO UPDATE SET
       outcome = EXCLUDED.outcome, fingerprint = EXCLUDED.fingerprint, key_text = EXCLUDED.key_text,
       key_expires_at = EXCLUDED.key_expires_at, reason = EXCLUDED.reason,
       fetched_at = EXCLUDED.fetched_at, fresh_until = EXCLUDED.fresh_until`,
    [
      orgId,
      address,
      answer.outcome,
      key?.fingerprint ?? null,
      key?.key ?? null,
      key?.expiresAt ?? null,
      answer.outcome === 'key' ? null : answer.reason,
      now,
      new Date(now.getTime() + ttlMs),
    ],
  );
}
