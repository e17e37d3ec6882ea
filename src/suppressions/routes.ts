import { Type } from 'typebox';
import type { AuditInput } from '../audit/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { auditContext, DateTime, Nullable, ProblemSchema, type HttpServer } from '../http/index.ts';
import { listSuppressions, removeSuppression } from './store.ts';

export interface SuppressionDeps {
  db: Db;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
}

const SuppressionSchema = Type.Object({
  address: Type.String(),
  reason: Type.String({
    description:
      'hard_bounce, complaint or manual (all mail held back), or unsubscribe (marketing mail only)',
  }),
  detail: Nullable(Type.String()),
  message_id: Nullable(Type.String()),
  created_at: DateTime,
});

const AddressParams = Type.Object({ address: Type.String({ minLength: 3, maxLength: 254 }) });

export function suppressionRoutes(deps: SuppressionDeps) {
  return async (app: HttpServer) => {
    app.get(
      '/v1/suppressions',
      {
        config: { scope: 'suppressions:read' },
        schema: {
          tags: ['suppressions'],
          summary: 'Addresses not sent to (hard bounces, complaints), in address order',
          querystring: Type.Object(
            {
              address: Type.Optional(Type.String({ maxLength: 254 })),
              cursor: Type.Optional(Type.String({ maxLength: 254 })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ data: Type.Array(SuppressionSchema), next_cursor: Nullable(Type.String()) }),
          },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 100;
        const rows = await listSuppressions(deps.db, request.auth.orgId, {
          limit,
          after: request.query.cursor,
          address: request.query.address?.toLowerCase(),
        });
        return { data: rows, next_cursor: rows.length === limit ? rows[rows.length - 1]!.address : null };
      },
    );

    app.delete(
      '/v1/suppressions/:address',
      {
        config: { scope: 'suppressions:manage' },
        schema: {
          tags: ['suppressions'],
          summary: 'Allow sending to an address again',
          params: AddressParams,
          response: { 204: Type.Null(), 404: ProblemSchema },
        },
      },
      async (request, reply) => {
        const address = request.params.address.toLowerCase();
        await deps.db.transaction(async (tx) => {
          if (!(await removeSuppression(tx, request.auth.orgId, address)))
            throw errors.notFound('The suppression');
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'suppression.removed',
            objectType: 'suppression',
            // The address identifies a person: the audit trail names the action only.
            objectId: 'address',
            outcome: 'success',
          });
        });
        return reply.code(204).send(null);
      },
    );
  };
}
