import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../db/index.ts';

// A recipient's session in the portal, after they proved who they are. It is bound to that one
// recipient, ends after a short idle time and after an absolute one, and only a hash of the
// cookie's secret is stored.

const hash = (secret: string) => createHash('sha256').update(secret).digest();

export interface Session {
  orgId: string;
  sessionId: string;
  recipientId: string;
  /** The cookie's secret: the key of this session's CSRF tokens. */
  secret: string;
}

export interface SessionLimits {
  idleMs: number;
  absoluteMs: number;
}

export async function startSession(
  q: Queryable,
  input: { orgId: string; recipientId: string; now: Date; limits: SessionLimits },
): Promise<Session> {
  const secret = randomBytes(32).toString('base64url');
  const sessionId = randomUUID();
  await q.query(
    `INSERT INTO portal_sessions (org_id, session_id, recipient_id, secret_hash, created_at, last_seen_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $5, $6)`,
    [
      input.orgId,
      sessionId,
      input.recipientId,
      hash(secret),
      input.now,
      new Date(input.now.getTime() + input.limits.absoluteMs),
    ],
  );
  return { orgId: input.orgId, sessionId, recipientId: input.recipientId, secret };
}

/** The live session this secret opens, its idle clock restarted; null when there is none. */
export async function findSession(
  q: Queryable,
  secret: string | undefined,
  now: Date,
  limits: SessionLimits,
): Promise<Session | null> {
  if (!secret || !/^[A-Za-z0-9_-]{43}$/.test(secret)) return null;
  const { rows } = await q.query<{ org_id: string; session_id: string; recipient_id: string }>(
    `UPDATE portal_sessions SET last_seen_at = $2
     WHERE secret_hash = $1 AND ended_at IS NULL AND expires_at > $2 AND last_seen_at > $3
     RETURNING org_id, session_id, recipient_id`,
    [hash(secret), now, new Date(now.getTime() - limits.idleMs)],
  );
  const row = rows[0];
  return row ? { orgId: row.org_id, sessionId: row.session_id, recipientId: row.recipient_id, secret } : null;
}

export async function endSession(q: Queryable, session: Session, now: Date): Promise<void> {
  await q.query('UPDATE portal_sessions SET ended_at = $3 WHERE org_id = $1 AND session_id = $2', [
    session.orgId,
    session.sessionId,
    now,
  ]);
}

/** Ends every session of these recipients (revoked, locked, expired). */
export async function endSessionsOf(q: Queryable, orgId: string, recipientIds: string[], now: Date) {
  await q.query(
    `UPDATE portal_sessions SET ended_at = $3
     WHERE org_id = $1 AND recipient_id = ANY($2::uuid[]) AND ended_at IS NULL`,
    [orgId, recipientIds, now],
  );
}

// CSRF: each form carries a token derived from a secret only this browser's cookie holds (the
// session's, or before sign-in a random one), so another site cannot forge a submission.
export const csrfToken = (secret: string) =>
  createHmac('sha256', secret).update('sealpost-portal-csrf').digest('base64url');

export function csrfValid(secret: string | undefined, given: unknown): boolean {
  if (!secret || typeof given !== 'string') return false;
  const expected = Buffer.from(csrfToken(secret));
  const actual = Buffer.from(given);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
