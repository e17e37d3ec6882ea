import { randomBytes, randomUUID } from 'node:crypto';
import argon2 from 'argon2';
import type { Queryable } from '../db/index.ts';
import {
  normalisePassword as normalise,
  PASSWORD_MAX,
  PASSWORD_MIN_SINGLE_FACTOR,
  type PasswordProblem,
  passwordProblem as sharedPasswordProblem,
} from '../passwords/index.ts';
import type { PortalRecipient } from './store.ts';
import { type PortalDeps, recipientActor } from './types.ts';
import { recordFailure, takeTurn } from './verification.ts';

// Portal accounts: one per organisation and recipient address, created by a recipient who has
// proved who they are, so later messages from that organisation need only a sign-in. The
// password follows NIST SP 800-63B rev. 4 for a single factor: at least 15 characters, up to
// 256, any characters, no composition rules; common passwords and the address are refused. Only
// an argon2id hash is kept. Wrong passwords count toward the delivery's failure limit (like wrong
// codes) and toward the account's own: 10 lock it for 15 minutes, whichever message they came by.
// Guesses sent at once are judged in turn against both counts (judgeSignIn).

export const PASSWORD_MIN = PASSWORD_MIN_SINGLE_FACTOR;
export { PASSWORD_MAX };
export const ACCOUNT_MAX_FAILURES = 10;
export const ACCOUNT_LOCK_MINUTES = 15;

export interface PortalAccount {
  orgId: string;
  accountId: string;
  passwordHash: string;
  failedAttempts: number;
  lockedUntil: Date | null;
}

export async function findAccount(
  q: Queryable,
  orgId: string,
  address: string,
): Promise<PortalAccount | null> {
  const { rows } = await q.query<{
    account_id: string;
    password_hash: string;
    failed_attempts: number;
    locked_until: Date | null;
  }>(
    `SELECT account_id, password_hash, failed_attempts, locked_until FROM portal_accounts
     WHERE org_id = $1 AND address = $2`,
    [orgId, address.toLowerCase()],
  );
  const row = rows[0];
  return row
    ? {
        orgId,
        accountId: row.account_id,
        passwordHash: row.password_hash,
        failedAttempts: row.failed_attempts,
        lockedUntil: row.locked_until,
      }
    : null;
}

/**
 * Accounts stand in for the email code only. An account is made after proving control of the
 * mailbox, so it may replace that proof; it may not replace an SMS code or a passphrase the sender
 * chose on purpose, and a session opened by one of those may not create an account for the address.
 */
export const accountsAllowed = (p: PortalRecipient) => p.verification === 'email';

export async function hasAccount(q: Queryable, p: PortalRecipient): Promise<boolean> {
  return accountsAllowed(p) && (await findAccount(q, p.orgId, p.address)) !== null;
}

// --- The password rules (src/passwords, shared with staff accounts) -----------------------------

export type { PasswordProblem };

/** A portal password is the account's only factor: the single-factor minimum applies. */
export const passwordProblem = (password: string, address: string, again?: string) =>
  sharedPasswordProblem(password, { address, ...(again !== undefined ? { again } : {}) });

/** argon2id with the library's defaults (m = 64 MiB, t = 3, p = 4: RFC 9106's second setting). */
const hashPassword = (password: string) => argon2.hash(normalise(password), { type: argon2.argon2id });
const verifyPassword = (hash: string, password: string) =>
  argon2.verify(hash, normalise(password)).catch(() => false);

// Checked when there is no account, so that the answer takes as long as with one.
let dummy: Promise<string> | undefined;
const dummyHash = () => (dummy ??= hashPassword(randomBytes(24).toString('base64url')));

// --- Creating an account ----------------------------------------------------------------------

export type CreateOutcome =
  { ok: true; accountId: string } | { ok: false; problem: PasswordProblem | 'exists' };

export async function createAccount(
  deps: PortalDeps,
  p: PortalRecipient,
  input: { password: string; again: string },
  request: { ip: string | null; requestId: string | null },
): Promise<CreateOutcome> {
  if (!accountsAllowed(p)) return { ok: false, problem: 'exists' };
  const problem = passwordProblem(input.password, p.address, input.again);
  if (problem) return { ok: false, problem };
  if (await hasAccount(deps.db, p)) return { ok: false, problem: 'exists' };
  const passwordHash = await hashPassword(input.password);
  const accountId = randomUUID();
  return deps.db.transaction(async (tx) => {
    // One account per organisation and address, even against two submissions at once.
    const { rows } = await tx.query(
      `INSERT INTO portal_accounts (org_id, address, account_id, password_hash, created_at)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, address) DO NOTHING RETURNING 1`,
      [p.orgId, p.address.toLowerCase(), accountId, passwordHash, deps.clock()],
    );
    if (rows.length === 0) return { ok: false, problem: 'exists' } as const;
    await deps.stageAudit(tx, {
      orgId: p.orgId,
      actor: recipientActor(p.recipientId),
      ip: request.ip,
      requestId: request.requestId,
      action: 'portal.account_created',
      objectType: 'portal_account',
      objectId: accountId,
      outcome: 'success',
      details: { recipient_id: p.recipientId, message_id: p.messageId },
    });
    return { ok: true, accountId } as const;
  });
}

// --- Signing in -------------------------------------------------------------------------------

export type Factor = 'password' | 'passkey';

export type SignInOutcome =
  | { ok: true; account: PortalAccount }
  | { ok: false; reason: 'wrong'; left: number; locked: boolean }
  | { ok: false; reason: 'account_locked' }
  /** Locked by the guesses before this one: it was not judged. */
  | { ok: false; reason: 'message_locked' };

export const accountLocked = (account: PortalAccount | null, now: Date) =>
  account?.lockedUntil != null && account.lockedUntil > now;

export async function checkPassword(
  deps: PortalDeps,
  p: PortalRecipient,
  password: string,
  request: { ip: string | null; requestId: string | null },
): Promise<SignInOutcome> {
  const account = await findAccount(deps.db, p.orgId, p.address);
  if (accountLocked(account, deps.clock())) return refusedWhileLocked(deps, p, account!, 'password', request);
  const right = account
    ? await verifyPassword(account.passwordHash, password)
    : (await verifyPassword(await dummyHash(), password), false);
  return judgeSignIn(deps, p, account, right, 'password', request);
}

/** A sign-in tried while the account is locked: refused without looking at the password. */
export function refusedWhileLocked(
  deps: PortalDeps,
  p: PortalRecipient,
  account: PortalAccount,
  factor: Factor,
  request: { ip: string | null },
): SignInOutcome {
  deps.tallyAudit({
    orgId: p.orgId,
    actor: recipientActor(p.recipientId),
    ip: request.ip,
    action: 'portal.account_sign_in_failed',
    objectType: 'portal_account',
    objectId: account.accountId,
    outcome: 'denied',
    details: { recipient_id: p.recipientId, factor, reason: 'locked' },
  });
  return { ok: false, reason: 'account_locked' };
}

/**
 * Judges a password or passkey checked already (`right`), in turn: one transaction holds the
 * delivery's row, then the account's, so that guesses sent at once are each judged against the
 * failures counted before them, and none after the message or the account is locked; the slow
 * argon2id check runs before, holding nothing. A wrong one is one more failure for the delivery
 * (as a wrong code, which may lock the message) and for the account (the tenth locks it for a
 * while). Refusals are tallied (src/audit/tally.ts): anyone holding the link can repeat them.
 */
export async function judgeSignIn(
  deps: PortalDeps,
  p: PortalRecipient,
  account: PortalAccount | null,
  right: boolean,
  factor: Factor,
  request: { ip: string | null; requestId: string | null },
): Promise<SignInOutcome> {
  const now = deps.clock();
  return deps.db.transaction(async (tx): Promise<SignInOutcome> => {
    if (!(await takeTurn(tx, p))) return { ok: false, reason: 'message_locked' };
    if (account) {
      const { rows } = await tx.query<{ locked: boolean }>(
        `SELECT coalesce(locked_until > $3, false) AS locked FROM portal_accounts
         WHERE org_id = $1 AND account_id = $2 FOR UPDATE`,
        [p.orgId, account.accountId, now],
      );
      if (rows[0]?.locked) return refusedWhileLocked(deps, p, account, factor, request);
    }
    if (right && account) return { ok: true, account };
    const failure = await recordFailure(deps, tx, p, factor, request.ip);
    const refusal = {
      orgId: p.orgId,
      actor: recipientActor(p.recipientId),
      ip: request.ip,
      action: 'portal.account_sign_in_failed',
      outcome: 'failure' as const,
    };
    if (!account) {
      deps.tallyAudit({
        ...refusal,
        objectType: 'message',
        objectId: p.messageId,
        details: { recipient_id: p.recipientId, factor, reason: 'no_account' },
      });
      return { ok: false, reason: 'wrong', ...failure };
    }
    const until = new Date(now.getTime() + ACCOUNT_LOCK_MINUTES * 60_000);
    const { rows } = await tx.query<{ locked: boolean }>(
      `UPDATE portal_accounts SET
         failed_attempts = CASE WHEN failed_attempts + 1 >= $3 THEN 0 ELSE failed_attempts + 1 END,
         locked_until = CASE WHEN failed_attempts + 1 >= $3 THEN $4 ELSE locked_until END
       WHERE org_id = $1 AND account_id = $2
       RETURNING locked_until IS NOT DISTINCT FROM $4::timestamptz AS locked`,
      [p.orgId, account.accountId, ACCOUNT_MAX_FAILURES, until],
    );
    const locked = rows[0]?.locked ?? false;
    const accountObject = { objectType: 'portal_account', objectId: account.accountId };
    deps.tallyAudit({
      ...refusal,
      ...accountObject,
      details: { recipient_id: p.recipientId, factor, reason: 'wrong' },
    });
    // A lock is a security event: chained at once.
    if (locked)
      await deps.audit(tx, {
        ...refusal,
        ...accountObject,
        requestId: request.requestId,
        action: 'portal.account_locked',
        outcome: 'denied',
        details: {
          recipient_id: p.recipientId,
          failures: ACCOUNT_MAX_FAILURES,
          minutes: ACCOUNT_LOCK_MINUTES,
        },
      });
    // The message's own lock says more; otherwise the account's is news.
    if (locked && !failure.locked) return { ok: false, reason: 'account_locked' };
    return { ok: false, reason: 'wrong', ...failure };
  });
}

/** In the transaction that starts the session: the account's failures start again from zero. */
export async function accountSignedIn(
  deps: PortalDeps,
  tx: Queryable,
  p: PortalRecipient,
  account: PortalAccount,
  factor: Factor,
  request: { ip: string | null; requestId: string | null },
): Promise<void> {
  await tx.query(
    `UPDATE portal_accounts SET failed_attempts = 0, locked_until = NULL, last_sign_in_at = $3
     WHERE org_id = $1 AND account_id = $2`,
    [p.orgId, account.accountId, deps.clock()],
  );
  await deps.stageAudit(tx, {
    orgId: p.orgId,
    actor: recipientActor(p.recipientId),
    ip: request.ip,
    requestId: request.requestId,
    action: 'portal.account_signed_in',
    objectType: 'portal_account',
    objectId: account.accountId,
    outcome: 'success',
    details: { recipient_id: p.recipientId, message_id: p.messageId, factor },
  });
}
