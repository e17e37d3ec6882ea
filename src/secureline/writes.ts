import type { AuditInput } from '../audit/index.ts';
import type { Queryable } from '../db/index.ts';
import type { StoredRecipient } from '../messages/index.ts';
import { suppress } from '../suppressions/index.ts';
import type { Attempt } from './attempts.ts';

// The outcomes of deliveries, written for many at once: concurrent deliveries hand them to a
// BulkWriter, which stores a whole batch with one statement per table in one transaction. Every
// item still carries its organisation: each row is matched on (org_id, recipient_id).

/** One attempt's outcome to store: the attempt row, and for a finished attempt the rest. */
export interface Outcome {
  recipient: StoredRecipient;
  attempt: Attempt;
  now: Date;
  /**
   * The recipient's new state, and its next try (it is due again then) or none; absent for an
   * attempt that hands over to the portal.
   */
  update?: {
    state: string;
    method: string;
    reason: string;
    nextAttemptAt: Date | null;
    finishedAt: Date | null;
  };
  suppress?: Parameters<typeof suppress>[2];
  audit?: AuditInput;
}

/** Stores outcomes: attempts, new states and next tries, suppressions and audit events, in bulk. */
export async function recordOutcomes(
  q: Queryable,
  deps: {
    stageAudit(q: Queryable, records: AuditInput | AuditInput[]): Promise<unknown>;
  },
  outcomes: Outcome[],
): Promise<void[]> {
  // The recipients first: the attempts' foreign key check then finds each row already locked by
  // this transaction, instead of writing a share lock on it (a WAL record per attempt).
  const updates = outcomes.filter((o) => o.update);
  if (updates.length > 0)
    await q.query(
      `UPDATE message_recipients r SET state = u.state, method = u.method, method_reason = u.method_reason,
         mx = u.mx, smtp_code = u.smtp_code, smtp_response = u.smtp_response, tls_version = u.tls_version,
         tls_cipher = u.tls_cipher, attempts = u.attempts, next_attempt_at = u.next_attempt_at,
         due_at = u.next_attempt_at, claims = 0, claimed_by = NULL, updated_at = u.updated_at, finished_at = u.finished_at
       FROM jsonb_to_recordset($1::jsonb) AS u (org_id uuid, recipient_id uuid, state text, method text,
         method_reason text, mx text, smtp_code int, smtp_response text, tls_version text, tls_cipher text,
         attempts int, next_attempt_at timestamptz, updated_at timestamptz, finished_at timestamptz)
       WHERE r.org_id = u.org_id AND r.recipient_id = u.recipient_id AND r.state = 'delivering'`,
      [
        JSON.stringify(
          updates.map(({ recipient, attempt: a, now, update }) => ({
            org_id: recipient.org_id,
            recipient_id: recipient.recipient_id,
            state: update!.state,
            method: update!.method,
            method_reason: update!.reason,
            mx: a.mx ?? null,
            smtp_code: a.code ?? null,
            smtp_response: a.response ?? a.detail ?? null,
            tls_version: a.tls?.version ?? null,
            tls_cipher: a.tls?.cipher ?? null,
            attempts: a.number,
            next_attempt_at: update!.nextAttemptAt,
            updated_at: now,
            finished_at: update!.finishedAt,
          })),
        ),
      ],
    );
  await q.query(
    `INSERT INTO delivery_attempts (org_id, recipient_id, attempt, started_at, finished_at, method, outcome, mx,
       smtp_code, smtp_response, tls_version, tls_cipher, detail)
     SELECT a.org_id, a.recipient_id, a.attempt, a.started_at, a.finished_at, a.method, a.outcome, a.mx,
       a.smtp_code, a.smtp_response, a.tls_version, a.tls_cipher, a.detail
     FROM jsonb_to_recordset($1::jsonb) AS a (org_id uuid, recipient_id uuid, attempt int, started_at timestamptz,
       finished_at timestamptz, method text, outcome text, mx text, smtp_code int, smtp_response text,
       tls_version text, tls_cipher text, detail text)
     ON CONFLICT (org_id, recipient_id, attempt) DO NOTHING`,
    [
      JSON.stringify(
        outcomes.map(({ recipient, attempt: a, now }) => ({
          org_id: recipient.org_id,
          recipient_id: recipient.recipient_id,
          attempt: a.number,
          started_at: a.startedAt,
          finished_at: now,
          method: a.method,
          outcome: a.outcome,
          mx: a.mx ?? null,
          smtp_code: a.code ?? null,
          smtp_response: a.response ?? null,
          tls_version: a.tls?.version ?? null,
          tls_cipher: a.tls?.cipher ?? null,
          detail: a.detail ?? null,
        })),
      ),
    ],
  );
  for (const o of outcomes) if (o.suppress) await suppress(q, o.recipient.org_id, o.suppress);
  const audits = outcomes.flatMap((o) => (o.audit ? [o.audit] : []));
  if (audits.length > 0) await deps.stageAudit(q, audits);
  return outcomes.map(() => undefined);
}
