import type { WriteBatcher, BulkWriter } from '../db/index.ts';
import type { StoredMessage, StoredRecipient } from '../messages/index.ts';
import { type Attempt, backoffSeconds } from './attempts.ts';
import type { Delivery, Stop } from './steps.ts';
import type { SecurelineDeps } from './types.ts';
import type { Outcome } from './writes.ts';

// The last step of a delivery: what it ended with, written for its recipient. Outcomes of
// concurrent deliveries share commits and statements (writes.ts). An outcome only applies to a
// recipient still being delivered: a delivery may run twice (a worker died after sending, before
// recording), the queue being at least once.

const ACTOR = { type: 'system' as const, id: 'secureline', label: 'secureline' };

export interface RecordEnv {
  deps: SecurelineDeps;
  writes: WriteBatcher;
  outcomes: BulkWriter<Outcome, void>;
}

/** Writes how the delivery stopped: its attempt, or the recipient failed with none. */
export function record(env: RecordEnv, d: Delivery, stop: Stop): Promise<void> {
  return 'unsent' in stop
    ? failUnsent(env, d.message, d.recipient, stop.unsent.reason, stop.unsent.code)
    : recordAttempt(env, d, stop.attempt);
}

/** An attempt that hands the recipient over to the portal: the attempt alone, the recipient stays. */
export async function recordHandover({ deps, outcomes }: RecordEnv, d: Delivery, attempt: Attempt) {
  const now = deps.clock();
  await outcomes.add({ recipient: d.recipient, attempt, now });
  observe(deps, attempt, now);
}

/** The recipient's new state for an attempt that ended, and when to try again. */
export function stateAfter(
  deps: Pick<SecurelineDeps, 'lifetimeHours' | 'retryBaseSeconds'>,
  d: Pick<Delivery, 'message' | 'choice'>,
  attempt: Attempt,
  now: Date,
): { state: string; action: string; retryAt: Date | null; detail: string | null } {
  const portal = d.choice!.method === 'portal';
  switch (attempt.outcome) {
    case 'delivered':
      return {
        state: portal ? 'portal_notified' : 'delivered',
        action: portal ? 'message.portal_notified' : 'message.delivered',
        retryAt: null,
        detail: attempt.detail ?? null,
      };
    case 'bounced':
      return { state: 'bounced', action: 'message.bounced', retryAt: null, detail: attempt.detail ?? null };
    case 'failed':
    case 'tls_failed':
      return { state: 'failed', action: 'message.failed', retryAt: null, detail: attempt.detail ?? null };
    case 'deferred': {
      const gaveUpAt = d.message.created_at.getTime() + deps.lifetimeHours * 3_600_000;
      const next = now.getTime() + backoffSeconds(attempt.number, deps.retryBaseSeconds) * 1000;
      if (next > gaveUpAt)
        return {
          state: 'bounced',
          action: 'message.bounced',
          retryAt: null,
          detail: `gave up after ${deps.lifetimeHours} hours of deferrals: ${attempt.detail ?? ''}`.trim(),
        };
      return {
        state: 'deferred',
        action: 'message.deferred',
        retryAt: new Date(next),
        detail: attempt.detail ?? null,
      };
    }
  }
}

/** The attempt, the recipient's new state, the next try and the audit event, in one (shared) transaction. */
async function recordAttempt({ deps, outcomes }: RecordEnv, d: Delivery, attempt: Attempt): Promise<void> {
  const { message, recipient } = d;
  const choice = d.choice!;
  const now = deps.clock();
  const { state, action, retryAt, detail } = stateAfter(deps, d, attempt, now);
  const final = state !== 'deferred';
  await outcomes.add({
    recipient,
    attempt: { ...attempt, detail },
    now,
    update: {
      state,
      method: choice.method,
      reason: choice.reason,
      nextAttemptAt: retryAt,
      finishedAt: final ? now : null,
    },
    // A permanent refusal of the address itself (not a give-up after deferrals) suppresses it.
    ...(attempt.outcome === 'bounced' && attempt.code && attempt.code >= 500
      ? {
          suppress: {
            address: recipient.address,
            reason: 'hard_bounce' as const,
            detail: `${attempt.code} ${attempt.response ?? ''}`.trim().slice(0, 300),
            messageId: message.message_id,
          },
        }
      : {}),
    audit: {
      orgId: recipient.org_id,
      actor: ACTOR,
      action,
      objectType: 'message',
      objectId: message.message_id,
      outcome: state === 'delivered' || state === 'portal_notified' ? 'success' : 'failure',
      details: {
        recipient_id: recipient.recipient_id,
        method: choice.method,
        attempt: attempt.number,
        ...(attempt.mx ? { mx: attempt.mx } : {}),
        ...(attempt.code ? { smtp_code: attempt.code } : {}),
        ...(attempt.tls ? { tls_version: attempt.tls.version, tls_cipher: attempt.tls.cipher } : {}),
        ...(retryAt ? { retry_at: retryAt.toISOString() } : {}),
      },
    },
  });
  observe(deps, attempt, now);
  deps.log.info(
    {
      org_id: recipient.org_id,
      message_id: message.message_id,
      recipient_id: recipient.recipient_id,
      method: choice.method,
      state,
      attempt: attempt.number,
    },
    'delivery attempt recorded',
  );
}

/**
 * Fails a recipient without an attempt: a message accepted in the sandbox that met a production
 * worker (it was a trial, never sent), or one given up on.
 */
export async function failUnsent(
  { deps, writes }: RecordEnv,
  message: StoredMessage,
  recipient: StoredRecipient,
  reason: string,
  code: string,
): Promise<void> {
  const now = deps.clock();
  await writes.run(async (tx) => {
    await tx.query(
      `UPDATE message_recipients SET state = 'failed', method_reason = $3, updated_at = $4, finished_at = $4,
         due_at = NULL, claims = 0, claimed_by = NULL
       WHERE org_id = $1 AND recipient_id = $2 AND state = 'delivering'`,
      [recipient.org_id, recipient.recipient_id, reason, now],
    );
    await deps.stageAudit(tx, {
      orgId: recipient.org_id,
      actor: ACTOR,
      action: 'message.failed',
      objectType: 'message',
      objectId: message.message_id,
      outcome: 'failure',
      details: { recipient_id: recipient.recipient_id, reason: code },
    });
  });
}

function observe(deps: SecurelineDeps, attempt: Attempt, now: Date): void {
  deps.observe?.(attempt.method, attempt.outcome, (now.getTime() - attempt.startedAt.getTime()) / 1000);
}
