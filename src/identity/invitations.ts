import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { AuditInput } from '../audit/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { errors, SealpostError } from '../errors/index.ts';
import type { Actor } from '../access-model/index.ts';
import { PASSWORD_MIN_SINGLE_FACTOR, type PasswordProblem, passwordProblem } from '../passwords/index.ts';
import { ssoOnly } from './oidc-config.ts';
import { roleExists } from './roles.ts';
import { userActor } from './staff-auth.ts';
import { createUser } from './users.ts';

// Invitations: an administrator names an address and a role; the person gets a link that works
// once, for INVITATION_DAYS, and sets their own password (NIST rules) there. Only a hash of the
// link's token is kept. Inviting the same address again replaces the open invitation. In an
// organisation that signs in with single sign-on only, the invited person signs in at the
// identity provider instead, and their first SSO sign-in accepts the invitation (its role).

export const INVITATION_DAYS = 7;
const EMAIL = /^[^\s@]+@[^\s@]+$/;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export interface Invitation {
  id: string;
  email: string;
  role: string;
  status: 'pending' | 'accepted' | 'expired' | 'revoked' | 'replaced';
  invited_by: { type: string; id: string };
  created_at: Date;
  expires_at: Date;
  accepted_at: Date | null;
  accepted_user_id: string | null;
}

const tokenHash = (token: string) => createHash('sha256').update(token).digest();

/** A new invitation's id and token (made before its transaction: the mail is sealed first). */
export const newInvitation = () => ({ id: randomUUID(), token: randomBytes(32).toString('base64url') });

export const invitationExpiry = (now: Date) => new Date(now.getTime() + INVITATION_DAYS * 86_400_000);

export const invitationLink = (publicUrl: string, token: string) =>
  `${publicUrl.replace(/\/+$/, '')}/console/invite/${token}`;

const SELECT = `SELECT invitation_id AS id, email, role, invited_by_type, invited_by, created_at, expires_at,
  accepted_at, accepted_user_id, ended_reason`;

interface Row {
  [k: string]: unknown;
  id: string;
  email: string;
  role: string;
  invited_by_type: string;
  invited_by: string;
  created_at: Date;
  expires_at: Date;
  accepted_at: Date | null;
  accepted_user_id: string | null;
  ended_reason: 'revoked' | 'replaced' | null;
}

function present(row: Row, now: Date): Invitation {
  const status = row.accepted_at
    ? 'accepted'
    : row.ended_reason
      ? row.ended_reason
      : row.expires_at <= now
        ? 'expired'
        : 'pending';
  return {
    id: row.id,
    email: row.email,
    role: row.role,
    status,
    invited_by: { type: row.invited_by_type, id: row.invited_by },
    created_at: row.created_at,
    expires_at: row.expires_at,
    accepted_at: row.accepted_at,
    accepted_user_id: row.accepted_user_id,
  };
}

export async function createInvitation(
  tx: Queryable,
  input: {
    orgId: string;
    id: string;
    token: string;
    email: string;
    role: string;
    invitedBy: Actor;
    now: Date;
  },
): Promise<{ invitation: Invitation; replaced: string[] }> {
  const email = input.email.trim();
  if (!EMAIL.test(email) || email.length > 320) throw errors.validation('The email address is not valid.');
  if (!(await roleExists(tx, input.orgId, input.role)))
    throw errors.validation(`Unknown role "${input.role}".`, { role: input.role });
  const existing = await tx.query(
    `SELECT 1 FROM users WHERE org_id = $1 AND lower(email) = lower($2) AND status <> 'deleted'`,
    [input.orgId, email],
  );
  if (existing.rows.length > 0)
    throw errors.conflict(
      'user_exists',
      'A user with this email address already exists (enable them if disabled).',
    );
  const replaced = await tx.query<{ id: string }>(
    `UPDATE staff_invitations SET ended_at = $3, ended_reason = 'replaced'
     WHERE org_id = $1 AND lower(email) = lower($2) AND accepted_at IS NULL AND ended_at IS NULL
     RETURNING invitation_id AS id`,
    [input.orgId, email, input.now],
  );
  const expiresAt = invitationExpiry(input.now);
  const { rows } = await tx.query<Row>(
    `INSERT INTO staff_invitations (org_id, invitation_id, email, role, token_hash, invited_by_type, invited_by,
       created_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     RETURNING invitation_id AS id, email, role, invited_by_type, invited_by, created_at, expires_at,
       accepted_at, accepted_user_id, ended_reason`,
    [
      input.orgId,
      input.id,
      email,
      input.role,
      tokenHash(input.token),
      input.invitedBy.type,
      input.invitedBy.id,
      input.now,
      expiresAt,
    ],
  );
  return { invitation: present(rows[0]!, input.now), replaced: replaced.rows.map((r) => r.id) };
}

export async function listInvitations(q: Queryable, orgId: string, now: Date): Promise<Invitation[]> {
  const { rows } = await q.query<Row>(
    `${SELECT} FROM staff_invitations WHERE org_id = $1 ORDER BY created_at DESC, invitation_id`,
    [orgId],
  );
  return rows.map((r) => present(r, now));
}

/** Revokes an open invitation; false when there is none open with this id. */
export async function revokeInvitation(q: Queryable, orgId: string, id: string, now: Date): Promise<boolean> {
  const { rowCount } = await q.query(
    `UPDATE staff_invitations SET ended_at = $3, ended_reason = 'revoked'
     WHERE org_id = $1 AND invitation_id = $2 AND accepted_at IS NULL AND ended_at IS NULL`,
    [orgId, id, now],
  );
  return rowCount > 0;
}

export async function invitationExists(q: Queryable, orgId: string, id: string): Promise<boolean> {
  const { rows } = await q.query('SELECT 1 FROM staff_invitations WHERE org_id = $1 AND invitation_id = $2', [
    orgId,
    id,
  ]);
  return rows.length > 0;
}

/** The same answer for a token never issued, used, replaced, revoked or expired. */
export const invitationInvalid = () =>
  new SealpostError(
    'invitation_invalid',
    'This invitation link is not valid: it may have expired, been used or been replaced. Ask for a new one.',
  );

export interface OpenInvitation {
  orgId: string;
  id: string;
  email: string;
  role: string;
  invitedBy: string;
  orgName: string;
  expiresAt: Date;
}

/** The open invitation a token opens, or null. */
export async function findInvitation(q: Queryable, token: string, now: Date): Promise<OpenInvitation | null> {
  if (!TOKEN.test(token)) return null;
  const { rows } = await q.query<{
    org_id: string;
    id: string;
    email: string;
    role: string;
    invited_by_type: string;
    invited_by: string;
    org_name: string;
    expires_at: Date;
  }>(
    `SELECT i.org_id, i.invitation_id AS id, i.email, i.role, i.invited_by_type, i.invited_by, o.name AS org_name, i.expires_at
     FROM staff_invitations i JOIN organizations o ON o.org_id = i.org_id
     WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.ended_at IS NULL AND i.expires_at > $2 AND o.status = 'active'`,
    [tokenHash(token), now],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    orgId: row.org_id,
    id: row.id,
    email: row.email,
    role: row.role,
    invitedBy: `${row.invited_by_type}:${row.invited_by}`,
    orgName: row.org_name,
    expiresAt: row.expires_at,
  };
}

export type AcceptResult =
  { ok: true; orgId: string; userId: string; email: string } | { ok: false; problem: PasswordProblem };

/**
 * Creates the user with the password chosen, once: the invitation row is locked and checked
 * again inside the transaction, so two tabs racing with the same link make one user.
 */
export async function acceptInvitation(
  deps: { db: Db; audit(q: Queryable, record: AuditInput): Promise<unknown>; now: Date },
  input: {
    token: string;
    password: string;
    passwordAgain?: string | undefined;
    displayName?: string | undefined;
  },
  client: { ip: string | null; requestId: string | null },
): Promise<AcceptResult> {
  const found = await findInvitation(deps.db, input.token, deps.now);
  if (!found) throw invitationInvalid();
  if (await ssoOnly(deps.db, found.orgId)) throw ssoRequired();
  const problem = passwordProblem(input.password, {
    address: found.email,
    min: PASSWORD_MIN_SINGLE_FACTOR,
    ...(input.passwordAgain !== undefined ? { again: input.passwordAgain } : {}),
  });
  if (problem) return { ok: false, problem };
  return deps.db.transaction(async (tx) => {
    const { rows } = await tx.query(
      `SELECT 1 FROM staff_invitations WHERE org_id = $1 AND invitation_id = $2
         AND accepted_at IS NULL AND ended_at IS NULL AND expires_at > $3 FOR UPDATE`,
      [found.orgId, found.id, deps.now],
    );
    if (rows.length === 0) throw invitationInvalid();
    const user = await createUser(tx, found.orgId, {
      email: found.email,
      role: found.role,
      password: input.password,
      ...(input.displayName ? { displayName: input.displayName } : {}),
    });
    await tx.query('UPDATE users SET password_changed_at = $3 WHERE org_id = $1 AND user_id = $2', [
      found.orgId,
      user.id,
      deps.now,
    ]);
    await recordAcceptance(tx, deps, found, user.id, client, 'password');
    return { ok: true as const, orgId: found.orgId, userId: user.id, email: found.email };
  });
}

export const ssoRequired = () =>
  new SealpostError(
    'sso_required',
    'This organisation signs in with single sign-on only: continue with single sign-on, with the invited address, to create your account.',
    { status: 409 },
  );

/** The open invitation for an address in an organisation (the SSO path has no token). */
export async function pendingInvitationFor(
  q: Queryable,
  orgId: string,
  email: string,
  now: Date,
): Promise<{ id: string; role: string; invitedBy: string } | null> {
  const { rows } = await q.query<{ id: string; role: string; invited_by_type: string; invited_by: string }>(
    `SELECT invitation_id AS id, role, invited_by_type, invited_by FROM staff_invitations
     WHERE org_id = $1 AND lower(email) = lower($2) AND accepted_at IS NULL AND ended_at IS NULL AND expires_at > $3
     ORDER BY created_at DESC LIMIT 1 FOR UPDATE`,
    [orgId, email, now],
  );
  const row = rows[0];
  return row ? { id: row.id, role: row.role, invitedBy: `${row.invited_by_type}:${row.invited_by}` } : null;
}

/** Marks the invitation used by the user just made, with its two audit events. */
export async function recordAcceptance(
  tx: Queryable,
  deps: { audit(q: Queryable, record: AuditInput): Promise<unknown>; now: Date },
  invitation: { orgId: string; id: string; role: string; invitedBy: string },
  userId: string,
  client: { ip: string | null; requestId: string | null },
  via: 'password' | 'sso',
): Promise<void> {
  await tx.query(`UPDATE users SET invited_by = $3, created_at = $4 WHERE org_id = $1 AND user_id = $2`, [
    invitation.orgId,
    userId,
    invitation.invitedBy,
    deps.now,
  ]);
  await tx.query(
    `UPDATE staff_invitations SET accepted_at = $3, accepted_user_id = $4 WHERE org_id = $1 AND invitation_id = $2`,
    [invitation.orgId, invitation.id, deps.now, userId],
  );
  const base = {
    orgId: invitation.orgId,
    actor: userActor(userId),
    outcome: 'success' as const,
    ip: client.ip,
    requestId: client.requestId,
  };
  await deps.audit(tx, {
    ...base,
    action: 'invitation.accepted',
    objectType: 'invitation',
    objectId: invitation.id,
    details: { user_id: userId, via },
  });
  await deps.audit(tx, {
    ...base,
    action: 'user.created',
    objectType: 'user',
    objectId: userId,
    details: { role: invitation.role, invitation_id: invitation.id, invited_by: invitation.invitedBy },
  });
}
