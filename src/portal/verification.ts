import { createHash, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../db/index.ts';
import { loadMessage, openContent } from '../messages/index.ts';
import { endSessionsOf } from './sessions.ts';
import type { PortalRecipient } from './store.ts';
import { PORTAL_MAIL_QUEUE, type PortalDeps, type PortalMailJob, recipientActor } from './types.ts';

// Proving who you are before the first view: a one-time code by email or SMS, or a passphrase
// the sender shares out of band. Codes are single use, expire, allow a few tries each; wrong
// answers add up per recipient, and too many lock the message for them and alert the sender.
// A guess is judged and counted in one transaction that holds the recipient's delivery row, so
// guesses sent at once take turns and none is judged against a count that others are changing.

/** Tries one code allows before it is spent. */
export const TRIES_PER_CODE = 5;
const CODES_PER_HOUR = 5;
const SECONDS_BETWEEN_CODES = 30;

export const codeBinding = (codeId: string) => ({ table: 'portal_codes', row: codeId });

export type IssueOutcome = 'sent' | 'wait' | 'limit';

export async function issueCode(
  deps: PortalDeps,
  p: PortalRecipient,
  ip: string | null,
): Promise<IssueOutcome> {
  const now = deps.clock();
  const { rows } = await deps.db.query<{ hour: number; last: Date | null }>(
    `SELECT count(*)::int AS hour, max(created_at) AS last FROM portal_codes
     WHERE org_id = $1 AND recipient_id = $2 AND created_at > $3`,
    [p.orgId, p.recipientId, new Date(now.getTime() - 3_600_000)],
  );
  const recent = rows[0]!;
  if (recent.last && now.getTime() - recent.last.getTime() < SECONDS_BETWEEN_CODES * 1000) return 'wait';
  if (recent.hour >= CODES_PER_HOUR) return 'limit';

  const codeId = randomUUID();
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
  const sealed = await deps.keyring.seal(p.orgId, codeBinding(codeId), code);
  const channel = p.verification === 'sms' ? 'sms' : 'email';
  await deps.db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO portal_codes (org_id, code_id, recipient_id, channel, code_sealed, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        p.orgId,
        codeId,
        p.recipientId,
        channel,
        sealed,
        now,
        new Date(now.getTime() + deps.settings.codeMinutes * 60_000),
      ],
    );
    const job: PortalMailJob = {
      org_id: p.orgId,
      recipient_id: p.recipientId,
      kind: 'code',
      code_id: codeId,
    };
    await deps.queue.sendMany(PORTAL_MAIL_QUEUE, [{ data: job }], { tx });
    await deps.stageAudit(tx, {
      orgId: p.orgId,
      actor: recipientActor(p.recipientId),
      ip,
      action: 'portal.code_requested',
      objectType: 'message',
      objectId: p.messageId,
      outcome: 'success',
      details: { recipient_id: p.recipientId, channel },
    });
  });
  return 'sent';
}

export type CheckOutcome =
  | { ok: true }
  | { ok: false; reason: 'wrong'; left: number; locked: boolean }
  | { ok: false; reason: 'none' }
  /** Locked by the guesses before this one: it was not judged. */
  | { ok: false; reason: 'locked' };

const digest = (s: string) => createHash('sha256').update(s).digest();
const same = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

export async function checkCode(
  deps: PortalDeps,
  p: PortalRecipient,
  given: string,
  ip: string | null,
): Promise<CheckOutcome> {
  const now = deps.clock();
  const { rows } = await deps.db.query<{ code_id: string; code_sealed: Buffer }>(
    `SELECT code_id, code_sealed FROM portal_codes
     WHERE org_id = $1 AND recipient_id = $2 AND used_at IS NULL AND expires_at > $3 AND attempts < $4
     ORDER BY created_at DESC LIMIT ${CODES_PER_HOUR}`,
    [p.orgId, p.recipientId, now, TRIES_PER_CODE],
  );
  if (rows.length === 0) return { ok: false, reason: 'none' };
  // Opened before the transaction: the keyring may read the database (PGlite runs one at a time).
  const codes = await Promise.all(
    rows.map(async (row) => ({
      id: row.code_id,
      value: await deps.keyring.openText(p.orgId, codeBinding(row.code_id), row.code_sealed),
    })),
  );
  const code = given.replace(/\s+/g, '');
  return deps.db.transaction(async (tx): Promise<CheckOutcome> => {
    if (!(await takeTurn(tx, p))) return { ok: false, reason: 'locked' };
    // In turn, each code has the tries the guesses before this one left it.
    const { rows: live } = await tx.query<{ code_id: string; attempts: number }>(
      `SELECT code_id, attempts FROM portal_codes
       WHERE org_id = $1 AND code_id = ANY($2::uuid[]) AND used_at IS NULL AND expires_at > $3 AND attempts < $4`,
      [p.orgId, codes.map((c) => c.id), now, TRIES_PER_CODE],
    );
    if (live.length === 0) return { ok: false, reason: 'none' };
    const right = codes.find((c) => live.some((l) => l.code_id === c.id) && same(c.value, code));
    if (right) {
      await tx.query('UPDATE portal_codes SET used_at = $3 WHERE org_id = $1 AND code_id = $2', [
        p.orgId,
        right.id,
        now,
      ]);
      return { ok: true };
    }
    await tx.query(
      'UPDATE portal_codes SET attempts = attempts + 1 WHERE org_id = $1 AND code_id = ANY($2::uuid[])',
      [p.orgId, live.map((l) => l.code_id)],
    );
    const triesLeft = TRIES_PER_CODE - 1 - Math.max(...live.map((l) => l.attempts));
    const failure = await recordFailure(deps, tx, p, 'code', ip);
    return { ok: false, reason: 'wrong', left: Math.min(failure.left, triesLeft), locked: failure.locked };
  });
}

export async function checkPassphrase(
  deps: PortalDeps,
  p: PortalRecipient,
  given: string,
  ip: string | null,
): Promise<CheckOutcome> {
  const message = await loadMessage(deps.db, p.orgId, p.messageId);
  const content = await openContent(deps.keyring, message);
  const expected = content.portal?.passphrase;
  return deps.db.transaction(async (tx): Promise<CheckOutcome> => {
    if (!(await takeTurn(tx, p))) return { ok: false, reason: 'locked' };
    if (expected !== undefined && same(expected.trim(), given.trim())) return { ok: true };
    const failure = await recordFailure(deps, tx, p, 'passphrase', ip);
    return { ok: false, reason: 'wrong', left: failure.left, locked: failure.locked };
  });
}

/**
 * Holds the recipient's delivery row for one guess until its transaction ends; false when the
 * message is locked for them already (then the guess is not judged). Portal accounts take their
 * turn the same way (accounts.ts).
 */
export async function takeTurn(tx: Queryable, p: PortalRecipient): Promise<boolean> {
  const { rows } = await tx.query<{ locked: boolean }>(
    `SELECT locked_at IS NOT NULL AS locked FROM portal_deliveries
     WHERE org_id = $1 AND recipient_id = $2 FOR UPDATE`,
    [p.orgId, p.recipientId],
  );
  return rows[0]?.locked === false;
}

/** Counts a wrong answer; the one that reaches the limit locks the message and alerts the sender. */
export async function recordFailure(
  deps: PortalDeps,
  tx: Queryable,
  p: PortalRecipient,
  kind: 'code' | 'passphrase' | 'password' | 'passkey',
  ip: string | null,
): Promise<{ left: number; locked: boolean }> {
  const now = deps.clock();
  const max = deps.settings.maxFailures;
  const { rows } = await tx.query<{ failed_attempts: number; locked: boolean }>(
    `UPDATE portal_deliveries SET failed_attempts = failed_attempts + 1,
       locked_at = CASE WHEN failed_attempts + 1 >= $3 THEN coalesce(locked_at, $4) ELSE locked_at END
     WHERE org_id = $1 AND recipient_id = $2
     RETURNING failed_attempts, locked_at = $4 AS locked`,
    [p.orgId, p.recipientId, max, now],
  );
  const { failed_attempts: failed, locked } = rows[0]!;
  const event = {
    orgId: p.orgId,
    actor: recipientActor(p.recipientId),
    ip,
    objectType: 'message',
    objectId: p.messageId,
    details: { recipient_id: p.recipientId, kind, failures: failed },
  };
  await deps.stageAudit(tx, { ...event, action: 'portal.verification_failed', outcome: 'failure' });
  if (locked) {
    await endSessionsOf(tx, p.orgId, [p.recipientId], now);
    // A lock is a security event: chained at once, and the sender hears of it.
    await deps.audit(tx, { ...event, action: 'portal.locked', outcome: 'denied' });
    const job: PortalMailJob = { org_id: p.orgId, recipient_id: p.recipientId, kind: 'locked' };
    await deps.queue.sendMany(PORTAL_MAIL_QUEUE, [{ data: job }], { tx });
  }
  return { left: Math.max(0, max - failed), locked };
}

/** The recipient proved who they are: failures start again from zero. */
export async function markVerified(
  deps: PortalDeps,
  tx: Queryable,
  p: PortalRecipient,
  method: string,
  ip: string | null,
) {
  const now = deps.clock();
  await tx.query(
    `UPDATE portal_deliveries SET verified_at = coalesce(verified_at, $3), failed_attempts = 0
     WHERE org_id = $1 AND recipient_id = $2`,
    [p.orgId, p.recipientId, now],
  );
  await deps.stageAudit(tx, {
    orgId: p.orgId,
    actor: recipientActor(p.recipientId),
    ip,
    action: 'portal.verified',
    objectType: 'message',
    objectId: p.messageId,
    outcome: 'success',
    details: { recipient_id: p.recipientId, method },
  });
}
