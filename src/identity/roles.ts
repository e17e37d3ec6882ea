import type { Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import type { AuthCache } from './auth-cache.ts';
import { isBuiltInRole, ROLES } from './permissions.ts';
import { isPermission, type Permission, PERMISSIONS } from '../access-model/index.ts';

// Roles: the built-in ones (permissions.ts) and each organisation's custom ones, made from the
// same permission set. A user's role column holds a built-in role's name or a custom role's id.
// Authentication looks a custom role's permissions up through the auth cache (auth-cache.ts): a
// role changed through this process applies to the next request, one changed elsewhere within seconds.

export interface Role {
  id: string;
  name: string;
  description: string | null;
  built_in: boolean;
  permissions: Permission[];
  users: number;
  created_at: Date | null;
  updated_at: Date | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The permissions a role grants in an organisation; none for a role that does not exist. */
export async function permissionsOf(
  q: Queryable,
  orgId: string,
  role: string,
): Promise<readonly Permission[]> {
  if (isBuiltInRole(role)) return ROLES[role]!;
  if (!UUID.test(role)) return [];
  const { rows } = await q.query<{ permissions: string[] }>(
    'SELECT permissions FROM org_roles WHERE org_id = $1 AND role_id = $2',
    [orgId, role],
  );
  // A permission retired from the code since the role was saved grants nothing.
  return (rows[0]?.permissions ?? []).filter(isPermission);
}

/** permissionsOf for authentication: a custom role's permissions are cached a few seconds. */
export function rolePermissions(
  deps: { db: Queryable; authCache?: AuthCache | undefined },
  orgId: string,
  role: string,
): Promise<readonly Permission[]> {
  const { db, authCache } = deps;
  if (!authCache || !UUID.test(role)) return permissionsOf(db, orgId, role);
  return authCache.get(`role:${orgId}:${role}`, () => permissionsOf(db, orgId, role));
}

export async function roleExists(q: Queryable, orgId: string, role: string): Promise<boolean> {
  if (isBuiltInRole(role)) return true;
  if (!UUID.test(role)) return false;
  const { rows } = await q.query('SELECT 1 FROM org_roles WHERE org_id = $1 AND role_id = $2', [orgId, role]);
  return rows.length > 0;
}

/** Only permissions from the set, each once, in the set's order. */
export function checkPermissions(given: readonly string[]): Permission[] {
  const unknown = given.filter((p) => !isPermission(p));
  if (unknown.length > 0)
    throw errors.validation(`Unknown permission: ${unknown.join(', ')}.`, { unknown_permissions: unknown });
  return PERMISSIONS.filter((p) => given.includes(p));
}

/** Refuses to hand out what the caller does not hold (no escalation through roles or keys). */
export function assertWithin(granted: readonly string[], held: readonly string[], what: string): void {
  const beyond = granted.filter((p) => !held.includes(p));
  if (beyond.length > 0)
    throw errors.forbidden(`${what} would grant permissions you do not hold: ${beyond.join(', ')}.`);
}

async function userCounts(q: Queryable, orgId: string): Promise<Map<string, number>> {
  const { rows } = await q.query<{ role: string; n: number }>(
    'SELECT role, count(*)::int AS n FROM users WHERE org_id = $1 GROUP BY role',
    [orgId],
  );
  return new Map(rows.map((r) => [r.role, r.n]));
}

interface RoleRow {
  [column: string]: unknown;
  role_id: string;
  name: string;
  description: string | null;
  permissions: string[];
  created_at: Date;
  updated_at: Date;
}

const toRole = (row: RoleRow, users: number): Role => ({
  id: row.role_id,
  name: row.name,
  description: row.description,
  built_in: false,
  permissions: row.permissions.filter(isPermission),
  users,
  created_at: row.created_at,
  updated_at: row.updated_at,
});

export async function listRoles(q: Queryable, orgId: string): Promise<Role[]> {
  const counts = await userCounts(q, orgId);
  const builtIn: Role[] = Object.entries(ROLES).map(([name, permissions]) => ({
    id: name,
    name,
    description: null,
    built_in: true,
    permissions: [...permissions],
    users: counts.get(name) ?? 0,
    created_at: null,
    updated_at: null,
  }));
  const { rows } = await q.query<RoleRow>(
    `SELECT role_id, name, description, permissions, created_at, updated_at FROM org_roles
     WHERE org_id = $1 ORDER BY lower(name), role_id`,
    [orgId],
  );
  return [...builtIn, ...rows.map((r) => toRole(r, counts.get(r.role_id) ?? 0))];
}

export async function getRole(q: Queryable, orgId: string, id: string): Promise<Role | null> {
  return (await listRoles(q, orgId)).find((r) => r.id === id) ?? null;
}

export async function createRole(
  q: Queryable,
  orgId: string,
  input: { name: string; description?: string | null | undefined; permissions: Permission[] },
): Promise<Role> {
  if (isBuiltInRole(input.name.trim().toLowerCase()))
    throw errors.conflict('role_exists', `"${input.name}" is the name of a built-in role.`);
  const { rows } = await q.query<RoleRow>(
    `INSERT INTO org_roles (org_id, name, description, permissions) VALUES ($1, $2, $3, $4)
     ON CONFLICT (org_id, lower(name)) DO NOTHING
     RETURNING role_id, name, description, permissions, created_at, updated_at`,
    [orgId, input.name.trim(), input.description ?? null, input.permissions],
  );
  if (!rows[0]) throw errors.conflict('role_exists', 'A role with this name already exists.');
  return toRole(rows[0], 0);
}

export async function updateRole(
  q: Queryable,
  orgId: string,
  id: string,
  change: { name?: string | undefined; description?: string | null | undefined; permissions?: Permission[] },
): Promise<Role> {
  const name = change.name?.trim();
  if (name !== undefined && isBuiltInRole(name.toLowerCase()))
    throw errors.conflict('role_exists', `"${name}" is the name of a built-in role.`);
  const { rows: clash } = name
    ? await q.query(
        'SELECT 1 FROM org_roles WHERE org_id = $1 AND lower(name) = lower($2) AND role_id <> $3',
        [orgId, name, id],
      )
    : { rows: [] };
  if (clash.length > 0) throw errors.conflict('role_exists', 'A role with this name already exists.');
  const { rows } = await q.query<RoleRow>(
    `UPDATE org_roles SET name = coalesce($3, name),
       description = CASE WHEN $4 THEN $5 ELSE description END,
       permissions = coalesce($6, permissions), updated_at = now()
     WHERE org_id = $1 AND role_id = $2
     RETURNING role_id, name, description, permissions, created_at, updated_at`,
    [
      orgId,
      id,
      name ?? null,
      change.description !== undefined,
      change.description ?? null,
      change.permissions ?? null,
    ],
  );
  if (!rows[0]) throw errors.notFound('The role');
  return toRole(rows[0], (await userCounts(q, orgId)).get(id) ?? 0);
}

/** Deletes a custom role nobody holds; false when there is no such role. */
export async function deleteRole(q: Queryable, orgId: string, id: string): Promise<boolean> {
  const { rows: held } = await q.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM users WHERE org_id = $1 AND role = $2',
    [orgId, id],
  );
  if (held[0]!.n > 0)
    throw errors.conflict(
      'role_in_use',
      `${held[0]!.n} user(s) hold this role: give them another role before deleting it.`,
    );
  const { rowCount } = await q.query('DELETE FROM org_roles WHERE org_id = $1 AND role_id = $2', [orgId, id]);
  if (rowCount === 0) return false;
  // Policies that named the role forget it.
  await q.query('UPDATE access_policies SET role_networks = role_networks - $2 WHERE org_id = $1', [
    orgId,
    id,
  ]);
  await q.query(
    `UPDATE staff_auth_policies SET mfa_roles = array_remove(mfa_roles, $2),
       passkey_required_roles = array_remove(passkey_required_roles, $2) WHERE org_id = $1`,
    [orgId, id],
  );
  return true;
}

export const isCustomRoleId = (id: string) => UUID.test(id);
