import type { Queryable } from '../db/index.ts';
import type { Method, StoredRecipient } from '../messages/index.ts';
import type { TlsInfo } from '../outbound/index.ts';

/** One delivery attempt, as it ended: what delivery_attempts records. */
export interface Attempt {
  number: number;
  startedAt: Date;
  method: Method;
  outcome: 'delivered' | 'deferred' | 'bounced' | 'tls_failed' | 'failed';
  mx?: string | null;
  code?: number | null;
  response?: string | null;
  tls?: TlsInfo | null;
  detail?: string | null;
}

/** Growing intervals: base, 2×, 4×, … capped at an hour (or 64× base, when the base is small). */
export function backoffSeconds(attempt: number, base: number): number {
  const cap = Math.min(3600, base * 64);
  return Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
}

export async function insertAttempt(q: Queryable, recipient: StoredRecipient, a: Attempt, now: Date) {
  await q.query(
    `INSERT INTO delivery_attempts (org_id, recipient_id, attempt, started_at, finished_at, method, outcome, mx,
       smtp_code, smtp_response, tls_version, tls_cipher, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     ON CONFLICT (org_id, recipient_id, attempt) DO NOTHING`,
    [
      recipient.org_id,
      recipient.recipient_id,
      a.number,
      a.startedAt,
      now,
      a.method,
      a.outcome,
      a.mx ?? null,
      a.code ?? null,
      a.response ?? null,
      a.tls?.version ?? null,
      a.tls?.cipher ?? null,
      a.detail ?? null,
    ],
  );
}
