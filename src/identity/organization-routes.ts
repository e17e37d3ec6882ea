import { Type } from 'typebox';
import { errors } from '../errors/index.ts';
import { DateTime, Nullable, type HttpServer } from '../http/index.ts';
import type { IdentityDeps } from './service.ts';
import { listUsers } from './users.ts';

/** The organisation the credentials belong to, and its staff users. */
export function organizationRoutes(deps: IdentityDeps) {
  return async (app: HttpServer) => {
    app.get(
      '/v1/organization',
      {
        config: { scope: 'org:read' },
        schema: {
          tags: ['organization'],
          summary: 'The organisation the credentials belong to',
          response: {
            200: Type.Object({
              id: Type.String(),
              name: Type.String(),
              status: Type.String(),
              created_at: DateTime,
            }),
          },
        },
      },
      async (request) => {
        const { rows } = await deps.db.query<{ id: string; name: string; status: string; created_at: Date }>(
          'SELECT org_id AS id, name, status, created_at FROM organizations WHERE org_id = $1',
          [request.auth.orgId],
        );
        if (!rows[0]) throw errors.notFound('The organisation');
        return rows[0];
      },
    );

    app.get(
      '/v1/users',
      {
        config: { scope: 'users:read' },
        schema: {
          tags: ['users'],
          summary: 'Staff users of the organisation',
          response: {
            200: Type.Object({
              data: Type.Array(
                Type.Object({
                  id: Type.String(),
                  email: Type.String(),
                  display_name: Nullable(Type.String()),
                  role: Type.String(),
                  status: Type.String(),
                  created_at: DateTime,
                  last_login_at: Nullable(DateTime),
                }),
              ),
            }),
          },
        },
      },
      async (request) => ({ data: await listUsers(deps.db, request.auth.orgId) }),
    );
  };
}
