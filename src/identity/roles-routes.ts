import { Type } from 'typebox';
import { errors } from '../errors/index.ts';
import {
  auditContext,
  DateTime,
  Nullable,
  ProblemSchema as Problem,
  type HttpServer,
} from '../http/index.ts';
import { PERMISSION_DESCRIPTIONS, PERMISSIONS } from '../access-model/index.ts';
import {
  assertWithin,
  checkPermissions,
  createRole,
  deleteRole,
  getRole,
  isCustomRoleId,
  listRoles,
  permissionsOf,
  roleExists,
  updateRole,
} from './roles.ts';
import type { IdentityDeps } from './service.ts';
import type { StaffAuth } from './staff-auth.ts';

// Roles over HTTP: the built-in ones are listed and read-only; custom ones are made from the same
// permission set, never granting more than their maker holds. A role's permissions are looked up
// on every request, so a change reaches its users' sessions and keys at once; a user given another
// role has their sessions ended (the role's sign-in policy may differ).

const PermissionList = Type.Array(Type.Union(PERMISSIONS.map((p) => Type.Literal(p))), {
  uniqueItems: true,
});
const RoleSchema = Type.Object({
  id: Type.String({ description: "A built-in role's name, or a custom role's id." }),
  name: Type.String(),
  description: Nullable(Type.String()),
  built_in: Type.Boolean(),
  permissions: Type.Array(Type.String()),
  users: Type.Integer({ description: 'How many users hold the role.' }),
  created_at: Nullable(DateTime),
  updated_at: Nullable(DateTime),
});
const RoleParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' });
const Description = Nullable(Type.String({ maxLength: 500 }));

export function rolesRoutes(deps: IdentityDeps, staff: StaffAuth) {
  return async (app: HttpServer) => {
    app.get(
      '/v1/roles',
      {
        config: { scope: 'roles:read' },
        schema: {
          tags: ['roles'],
          summary: 'Roles: the built-in ones and the custom ones, with their permissions',
          response: {
            200: Type.Object({
              data: Type.Array(RoleSchema),
              permissions: Type.Array(Type.String(), { description: 'Every permission there is.' }),
              permission_descriptions: Type.Record(Type.String(), Type.String(), {
                description: 'What each permission allows, in words for a person choosing.',
              }),
            }),
          },
        },
      },
      async (request) => ({
        data: await listRoles(deps.db, request.auth.orgId),
        permissions: [...PERMISSIONS],
        permission_descriptions: PERMISSION_DESCRIPTIONS,
      }),
    );

    app.post(
      '/v1/roles',
      {
        config: { scope: 'roles:manage', recentAuth: true },
        schema: {
          tags: ['roles'],
          summary: 'Create a custom role (needs a recent sign-in)',
          body: Type.Object(
            { name: Name, description: Type.Optional(Description), permissions: PermissionList },
            { additionalProperties: false },
          ),
          response: { 201: RoleSchema, 403: Problem, 409: Problem, 422: Problem },
        },
      },
      async (request, reply) => {
        const permissions = checkPermissions(request.body.permissions);
        assertWithin(permissions, request.auth.scopes, 'This role');
        const role = await deps.db.transaction(async (tx) => {
          const created = await createRole(tx, request.auth.orgId, { ...request.body, permissions });
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'role.created',
            objectType: 'role',
            objectId: created.id,
            outcome: 'success',
            details: { permissions: permissions.join(' ') },
          });
          return created;
        });
        reply.code(201);
        return role;
      },
    );

    app.patch(
      '/v1/roles/:id',
      {
        config: { scope: 'roles:manage', recentAuth: true },
        schema: {
          tags: ['roles'],
          summary: "Change a custom role's name, description or permissions (needs a recent sign-in)",
          description:
            "Takes effect at once for every session and API key of the role's users. Built-in roles cannot be changed.",
          params: RoleParams,
          body: Type.Object(
            {
              name: Type.Optional(Name),
              description: Type.Optional(Description),
              permissions: Type.Optional(PermissionList),
            },
            { additionalProperties: false },
          ),
          response: { 200: RoleSchema, 403: Problem, 404: Problem, 409: Problem, 422: Problem },
        },
      },
      async (request) => {
        const { orgId } = request.auth;
        const id = request.params.id;
        const before = await getRole(deps.db, orgId, id);
        if (!before) throw errors.notFound('The role');
        if (before.built_in) throw errors.forbidden('Built-in roles cannot be changed: make a custom role.');
        // Neither what the role grants now nor what it would grant may exceed the caller's own.
        assertWithin(before.permissions, request.auth.scopes, 'Changing this role');
        const permissions = request.body.permissions ? checkPermissions(request.body.permissions) : undefined;
        if (permissions) assertWithin(permissions, request.auth.scopes, 'This role');
        return deps.db.transaction(async (tx) => {
          const role = await updateRole(tx, orgId, id, { ...request.body, permissions });
          const added = role.permissions.filter((p) => !before.permissions.includes(p));
          const removed = before.permissions.filter((p) => !role.permissions.includes(p));
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'role.updated',
            objectType: 'role',
            objectId: id,
            outcome: 'success',
            details: {
              changed: Object.keys(request.body).sort().join(' '),
              added: added.join(' '),
              removed: removed.join(' '),
              users: role.users,
            },
          });
          return role;
        });
      },
    );

    app.delete(
      '/v1/roles/:id',
      {
        config: { scope: 'roles:manage', recentAuth: true },
        schema: {
          tags: ['roles'],
          summary: 'Delete a custom role nobody holds (needs a recent sign-in)',
          params: RoleParams,
          response: { 204: Type.Null(), 403: Problem, 404: Problem, 409: Problem },
        },
      },
      async (request, reply) => {
        const { orgId } = request.auth;
        const id = request.params.id;
        const role = await getRole(deps.db, orgId, id);
        if (!role) throw errors.notFound('The role');
        if (role.built_in) throw errors.forbidden('Built-in roles cannot be deleted.');
        assertWithin(role.permissions, request.auth.scopes, 'Deleting this role');
        await deps.db.transaction(async (tx) => {
          if (!(await deleteRole(tx, orgId, id))) throw errors.notFound('The role');
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'role.deleted',
            objectType: 'role',
            objectId: id,
            outcome: 'success',
          });
        });
        reply.code(204);
      },
    );

    app.put(
      '/v1/users/:id/role',
      {
        config: { scope: 'users:manage', recentAuth: true },
        schema: {
          tags: ['users'],
          summary: 'Give a user another role; their sessions end (needs a recent sign-in)',
          description:
            'You can give only a role whose permissions you hold, to a user whose present role grants nothing you do not hold. The last owner keeps the role.',
          params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
          body: Type.Object(
            { role: Type.String({ minLength: 1, maxLength: 64 }) },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ id: Type.String(), role: Type.String(), sessions_ended: Type.Integer() }),
            403: Problem,
            404: Problem,
            409: Problem,
            422: Problem,
          },
        },
      },
      async (request) => {
        const { orgId } = request.auth;
        const userId = request.params.id;
        const next = request.body.role;
        if (!/^[0-9a-f-]{36}$/i.test(userId)) throw errors.notFound('The user');
        return deps.db.transaction(async (tx) => {
          const { rows } = await tx.query<{ role: string }>(
            'SELECT role FROM users WHERE org_id = $1 AND user_id = $2 FOR UPDATE',
            [orgId, userId],
          );
          if (!rows[0]) throw errors.notFound('The user');
          const current = rows[0].role;
          if (!(await roleExists(tx, orgId, next)))
            throw errors.validation(`Unknown role "${next}".`, { role: next });
          assertWithin(await permissionsOf(tx, orgId, next), request.auth.scopes, 'This role');
          assertWithin(
            await permissionsOf(tx, orgId, current),
            request.auth.scopes,
            "This user's present role",
          );
          if (current === 'owner' && next !== 'owner') {
            const { rows: owners } = await tx.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM users WHERE org_id = $1 AND role = 'owner' AND status = 'active'",
              [orgId],
            );
            if (owners[0]!.n <= 1)
              throw errors.conflict(
                'last_owner',
                'The organisation needs an owner: make another user owner first.',
              );
          }
          if (current === next) return { id: userId, role: next, sessions_ended: 0 };
          await tx.query('UPDATE users SET role = $3 WHERE org_id = $1 AND user_id = $2', [
            orgId,
            userId,
            next,
          ]);
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'user.role_changed',
            objectType: 'user',
            objectId: userId,
            outcome: 'success',
            details: {
              from: isCustomRoleId(current) ? `custom:${current}` : current,
              to: isCustomRoleId(next) ? `custom:${next}` : next,
            },
          });
          const ended = await staff.revokeAll(tx, orgId, userId, 'role_changed', {
            ip: request.ip,
            requestId: request.id,
          });
          return { id: userId, role: next, sessions_ended: ended };
        });
      },
    );
  };
}
