import { createHash } from 'node:crypto';
import type { Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { assertWithin, permissionsOf } from './roles.ts';
import type { ClientInfo, StaffAuth } from './staff-auth.ts';

// Disabling, enabling and deleting staff users. Disabling ends every session of the user and
// revokes the API keys they created, at once; a deleted user stays as a tombstone (the address
// replaced, its SHA-256 kept, the name and dates kept) so the audit trail's actor ids still
// resolve to someone. Nobody acts on themselves, on a user whose role holds more than they do, or
// leaves the organisation without an active owner.

export type LifecycleAction = 'disable' | 'enable' | 'delete';

export interface Caller {
  orgId: string;
  /** The calling user, when a session (not an API key) made the request. */
  userId: string | null;
  scopes: readonly string[];
}

export interface LifecycleResult {
  id: string;
  status: 'active' | 'disabled' | 'deleted';
  sessions_ended: number;
  api_keys_revoked: number;
}

export const emailSha256 = (email: string) =>
  createHash('sha256').update(email.trim().toLowerCase()).digest();

/** Checks the caller may act on this user; returns the user's row, locked. */
async function target(tx: Queryable, caller: Caller, userId: string) {
  const { rows } = await tx.query<{ role: string; status: string; email: string }>(
    `SELECT role, status, email FROM users WHERE org_id = $1 AND user_id = $2 AND status <> 'deleted' FOR UPDATE`,
    [caller.orgId, userId],
  );
  const user = rows[0];
  if (!user) throw errors.notFound('The user');
  if (caller.userId === userId)
    throw errors.conflict(
      'self',
      'You cannot disable or delete your own account: ask another administrator.',
    );
  assertWithin(await permissionsOf(tx, caller.orgId, user.role), caller.scopes, "This user's role");
  return user;
}

async function assertAnotherOwner(tx: Queryable, orgId: string, userId: string): Promise<void> {
  const { rows } = await tx.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM users WHERE org_id = $1 AND role = 'owner' AND status = 'active' AND user_id <> $2`,
    [orgId, userId],
  );
  if (rows[0]!.n < 1)
    throw errors.conflict(
      'last_owner',
      'This is the last active owner of the organisation: make another user owner first.',
    );
}

/** Ends the user's sessions and elevations and revokes the keys they created. */
async function cutOff(
  tx: Queryable,
  staff: StaffAuth,
  orgId: string,
  userId: string,
  reason: string,
  client: ClientInfo,
) {
  const now = staff.clock();
  const sessions = await staff.revokeAll(tx, orgId, userId, reason, client);
  const keys = await tx.query(
    `UPDATE api_keys SET revoked_at = $3 WHERE org_id = $1 AND created_by_type = 'user' AND created_by = $2 AND revoked_at IS NULL`,
    [orgId, userId, now],
  );
  const ended = await tx.query<{ activation_id: string; actions: number }>(
    `UPDATE break_glass_activations SET ended_at = $3, ended_reason = 'session_ended'
     WHERE org_id = $1 AND user_id = $2 AND ended_at IS NULL RETURNING activation_id, actions`,
    [orgId, userId, now],
  );
  for (const row of ended.rows)
    await staff.deps.audit(tx, {
      orgId,
      actor: { type: 'system', id: 'break-glass', label: 'break-glass' },
      action: 'break_glass.expired',
      objectType: 'break_glass_activation',
      objectId: row.activation_id,
      outcome: 'success',
      ip: client.ip,
      requestId: client.requestId,
      details: { reason: 'session_ended', user_id: userId, actions: row.actions, cause: reason },
    });
  return { sessions, keys: keys.rowCount };
}

export async function changeUserStatus(
  tx: Queryable,
  staff: StaffAuth,
  caller: Caller,
  userId: string,
  action: LifecycleAction,
  client: ClientInfo,
): Promise<LifecycleResult> {
  const user = await target(tx, caller, userId);
  const now = staff.clock();
  const { orgId } = caller;
  if (action === 'enable') {
    if (user.status === 'active')
      return { id: userId, status: 'active', sessions_ended: 0, api_keys_revoked: 0 };
    await tx.query(
      `UPDATE users SET status = 'active', disabled_at = NULL WHERE org_id = $1 AND user_id = $2`,
      [orgId, userId],
    );
    return { id: userId, status: 'active', sessions_ended: 0, api_keys_revoked: 0 };
  }
  if (user.role === 'owner' && user.status === 'active') await assertAnotherOwner(tx, orgId, userId);
  const reason = action === 'disable' ? 'user_disabled' : 'user_deleted';
  const cut = await cutOff(tx, staff, orgId, userId, reason, client);
  if (action === 'disable') {
    await tx.query(
      `UPDATE users SET status = 'disabled', disabled_at = $3 WHERE org_id = $1 AND user_id = $2`,
      [orgId, userId, now],
    );
    return { id: userId, status: 'disabled', sessions_ended: cut.sessions, api_keys_revoked: cut.keys };
  }
  // The tombstone: the address gives way (for reuse), its hash and the name stay for the record.
  await tx.query(
    `UPDATE users SET status = 'deleted', deleted_at = $3, email = 'deleted:' || user_id::text, email_sha256 = $4,
       password_hash = NULL, password_short = false
     WHERE org_id = $1 AND user_id = $2`,
    [orgId, userId, now, emailSha256(user.email)],
  );
  for (const table of [
    'staff_totp',
    'staff_recovery_codes',
    'staff_passkeys',
    'staff_sign_in_origins',
    'break_glass_accounts',
  ])
    await tx.query(`DELETE FROM ${table} WHERE org_id = $1 AND user_id = $2`, [orgId, userId]);
  return { id: userId, status: 'deleted', sessions_ended: cut.sessions, api_keys_revoked: cut.keys };
}

// --- Access review ---------------------------------------------------------------------------

export interface AccessReviewRow {
  id: string;
  email: string;
  display_name: string | null;
  role: string;
  role_name: string;
  status: string;
  factors: { totp: boolean; passkeys: number; recovery_codes_left: number };
  last_sign_in_at: Date | null;
  sessions_active: number;
  break_glass_eligible: boolean;
  created_at: Date;
  invited_by: string | null;
}

export const ACCESS_REVIEW_COLUMNS = [
  'id',
  'email',
  'display_name',
  'role',
  'role_name',
  'status',
  'totp',
  'passkeys',
  'recovery_codes_left',
  'last_sign_in_at',
  'sessions_active',
  'break_glass_eligible',
  'created_at',
  'invited_by',
] as const;

/** Every user who is not deleted, with role, status, factors (kinds and counts), sign-ins and sessions. */
export async function accessReview(q: Queryable, orgId: string, now: Date): Promise<AccessReviewRow[]> {
  const { rows } = await q.query<{
    id: string;
    email: string;
    display_name: string | null;
    role: string;
    role_name: string;
    status: string;
    totp: boolean;
    passkeys: number;
    recovery_codes_left: number;
    last_sign_in_at: Date | null;
    sessions_active: number;
    break_glass_eligible: boolean;
    created_at: Date;
    invited_by: string | null;
  }>(
    `SELECT u.user_id AS id, u.email, u.display_name, u.role, coalesce(r.name, u.role) AS role_name, u.status,
       EXISTS (SELECT 1 FROM staff_totp t WHERE t.org_id = u.org_id AND t.user_id = u.user_id AND t.confirmed_at IS NOT NULL) AS totp,
       (SELECT count(*)::int FROM staff_passkeys k WHERE k.org_id = u.org_id AND k.user_id = u.user_id) AS passkeys,
       (SELECT count(*)::int FROM staff_recovery_codes c WHERE c.org_id = u.org_id AND c.user_id = u.user_id AND c.used_at IS NULL) AS recovery_codes_left,
       u.last_login_at AS last_sign_in_at,
       (SELECT count(*)::int FROM staff_sessions s WHERE s.org_id = u.org_id AND s.user_id = u.user_id AND s.ended_at IS NULL
          AND s.stage = 'active' AND s.expires_at > $2
          AND s.last_seen_at > $2::timestamptz - make_interval(mins => coalesce(p.idle_minutes, 15))) AS sessions_active,
       EXISTS (SELECT 1 FROM break_glass_accounts b WHERE b.org_id = u.org_id AND b.user_id = u.user_id) AS break_glass_eligible,
       u.created_at, u.invited_by
     FROM users u
     LEFT JOIN org_roles r ON r.org_id = u.org_id AND r.role_id::text = u.role
     LEFT JOIN staff_auth_policies p ON p.org_id = u.org_id
     WHERE u.org_id = $1 AND u.status <> 'deleted'
     ORDER BY u.created_at, u.user_id`,
    [orgId, now],
  );
  return rows.map(({ totp, passkeys, recovery_codes_left, ...row }) => ({
    ...row,
    factors: { totp, passkeys, recovery_codes_left },
  }));
}
