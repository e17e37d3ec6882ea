import type { AuditInput } from '../audit/index.ts';
import type { Queryable } from '../db/index.ts';
import {
  DELIVERY_QUEUE,
  type DeliveryJob,
  FINAL_STATES,
  type StoredMessage,
  type StoredRecipient,
} from '../messages/index.ts';
import type { JobQueue } from '../queue/index.ts';
import { suppress } from '../suppressions/index.ts';
import type { Attempt } from './attempts.ts';
import type { RecipientPreference } from './preferences.ts';

// The database side of deliveries, written for many at once: concurrent deliveries hand their
// claims and their outcomes to a BulkWriter, which stores a whole batch with one statement per
// table in one transaction. Every item still carries its organisation: each row is matched on
// (org_id, recipient_id).

export interface Claim {
  org_id: string;
  recipient_id: string;
  at: Date;
}

export type Claimed = StoredRecipient & {
  preference: RecipientPreference | null;
  /** Whether the organisation has a valid key on file for the address (then it is looked up). */
  has_uploaded_keys: boolean;
  message: StoredMessage;
};

type ClaimRow = StoredRecipient & {
  [k: string]: unknown;
  preference: RecipientPreference | null;
  has_uploaded_keys: boolean;
  m_created_at: Date;
  send_at: Date | null;
  from_address: string;
  from_domain: string;
  protection: StoredMessage['protection'];
  priority: StoredMessage['priority'];
  tags: string[];
  size_bytes: number;
  dlp: StoredMessage['dlp'];
  phi: boolean;
  rfc_message_id: string;
  content_sealed: Buffer;
  sandbox: boolean;
};

/**
 * Marks each recipient as being delivered and reads it, with its stored preference, whether a key
 * is on file for it (most have none, and are then spared a look-up) and its message, in one
 * statement; null for a recipient already in a final state (a job that runs again).
 */
export async function claimRecipients(q: Queryable, claims: Claim[]): Promise<(Claimed | null)[]> {
  const { rows } = await q.query<ClaimRow>(
    `UPDATE message_recipients r SET state = 'delivering', updated_at = c.at
     FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS c (org_id, recipient_id, at), messages m
     WHERE r.org_id = c.org_id AND r.recipient_id = c.recipient_id AND r.state <> ALL($4::text[])
       AND m.org_id = r.org_id AND m.message_id = r.message_id
     RETURNING r.org_id, r.recipient_id, r.message_id, r.position, r.kind, r.address, r.state, r.method,
       r.method_reason, r.attempts,
       (SELECT protection FROM recipient_preferences p WHERE p.org_id = r.org_id AND p.address = r.address)
         AS preference,
       EXISTS (SELECT 1 FROM recipient_keys k WHERE k.org_id = r.org_id AND k.address = lower(btrim(r.address))
         AND (k.expires_at IS NULL OR k.expires_at > c.at)) AS has_uploaded_keys,
       m.created_at AS m_created_at, m.send_at, m.from_address, m.from_domain, m.protection, m.priority, m.tags,
       m.size_bytes, m.dlp, m.phi, m.rfc_message_id, m.content_sealed, m.sandbox`,
    [
      claims.map((c) => c.org_id),
      claims.map((c) => c.recipient_id),
      claims.map((c) => c.at),
      [...FINAL_STATES],
    ],
  );
  const byId = new Map(rows.map((r) => [`${r.org_id}/${r.recipient_id}`, r]));
  return claims.map((c) => {
    const r = byId.get(`${c.org_id}/${c.recipient_id}`);
    // One row per recipient: a job handed in twice in one batch is claimed once.
    byId.delete(`${c.org_id}/${c.recipient_id}`);
    if (!r) return null;
    return {
      org_id: r.org_id,
      recipient_id: r.recipient_id,
      message_id: r.message_id,
      position: r.position,
      kind: r.kind,
      address: r.address,
      state: r.state,
      method: r.method,
      method_reason: r.method_reason,
      attempts: r.attempts,
      preference: r.preference,
      has_uploaded_keys: r.has_uploaded_keys,
      message: {
        org_id: r.org_id,
        message_id: r.message_id,
        created_at: r.m_created_at,
        send_at: r.send_at,
        from_address: r.from_address,
        from_domain: r.from_domain,
        protection: r.protection,
        priority: r.priority,
        tags: r.tags,
        size_bytes: r.size_bytes,
        dlp: r.dlp,
        phi: r.phi,
        rfc_message_id: r.rfc_message_id,
        content_sealed: r.content_sealed,
        sandbox: r.sandbox,
      },
    };
  });
}

/** One attempt's outcome to store: the attempt row, and for a finished attempt the rest. */
export interface Outcome {
  recipient: StoredRecipient;
  attempt: Attempt;
  now: Date;
  /** The recipient's new state; absent for an attempt that hands over to the portal. */
  update?: {
    state: string;
    method: string;
    reason: string;
    nextAttemptAt: Date | null;
    finishedAt: Date | null;
  };
  suppress?: Parameters<typeof suppress>[2];
  retry?: { startAfter: Date; priority: number };
  audit?: AuditInput;
}

/** Stores outcomes: attempts, new states, suppressions, next tries and audit events, in bulk. */
export async function recordOutcomes(
  q: Queryable,
  deps: {
    queue: JobQueue;
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
         updated_at = u.updated_at, finished_at = u.finished_at
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
  const retries = outcomes.filter((o) => o.retry);
  if (retries.length > 0)
    await deps.queue.sendMany(
      DELIVERY_QUEUE,
      retries.map(({ recipient, retry }) => ({
        data: { org_id: recipient.org_id, recipient_id: recipient.recipient_id } satisfies DeliveryJob,
        startAfter: retry!.startAfter,
        priority: retry!.priority,
      })),
      { tx: q },
    );
  const audits = outcomes.flatMap((o) => (o.audit ? [o.audit] : []));
  if (audits.length > 0) await deps.stageAudit(q, audits);
  return outcomes.map(() => undefined);
}
