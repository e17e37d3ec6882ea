import { Type } from 'typebox';
import type { AuditInput } from '../audit/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { auditContext, DateTime, Nullable, ProblemSchema, type HttpServer } from '../http/index.ts';
import { normalizeAddress } from '../messages/index.ts';

// A recipient's stored preference: some patients want every message in the portal, some accept
// only end-to-end encryption. It counts like the message's own `protection`.

export type RecipientPreference = 'portal' | 'e2e';

export async function recipientPreference(
  q: Queryable,
  orgId: string,
  address: string,
): Promise<RecipientPreference | null> {
  const { rows } = await q.query<{ protection: RecipientPreference }>(
    'SELECT protection FROM recipient_preferences WHERE org_id = $1 AND address = $2',
    [orgId, address],
  );
  return rows[0]?.protection ?? null;
}

export interface PreferenceDeps {
  db: Db;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
}

const PreferenceSchema = Type.Object({
  address: Type.String(),
  protection: Type.String({ description: 'portal or e2e' }),
  created_at: DateTime,
  updated_at: DateTime,
});

export function preferenceRoutes(deps: PreferenceDeps) {
  return async (app: HttpServer) => {
    app.post(
      '/v1/recipient-preferences',
      {
        config: { scope: 'recipient_keys:manage' },
        schema: {
          tags: ['recipient keys'],
          summary: 'Set how a recipient is reached: always the portal, or end-to-end encryption only',
          body: Type.Object(
            {
              address: Type.String({ minLength: 3, maxLength: 254 }),
              protection: Type.Union([Type.Literal('portal'), Type.Literal('e2e')]),
            },
            { additionalProperties: false },
          ),
          response: { 200: PreferenceSchema, 422: ProblemSchema },
        },
      },
      async (request) => {
        const address = normalizeAddress(request.body.address);
        if (!address) throw errors.validation(`"${request.body.address}" is not an email address.`);
        return deps.db.transaction(async (tx) => {
          const { rows } = await tx.query<{
            address: string;
            protection: string;
            created_at: Date;
            updated_at: Date;
          }>(
            `INSERT INTO recipient_preferences (org_id, address, protection) VALUES ($1, $2, $3)
             ON CONFLICT (org_id, address) DO UPDATE SET protection = $3, updated_at = now()
             RETURNING address, protection, created_at, updated_at`,
            [request.auth.orgId, address, request.body.protection],
          );
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'recipient_preference.set',
            objectType: 'recipient_preference',
            // The address identifies a person: the trail keeps the action and the choice only.
            objectId: 'address',
            outcome: 'success',
            details: { protection: request.body.protection },
          });
          return rows[0]!;
        });
      },
    );

    app.get(
      '/v1/recipient-preferences',
      {
        config: { scope: 'recipient_keys:read' },
        schema: {
          tags: ['recipient keys'],
          summary: 'Recipients with a stored preference, in address order',
          querystring: Type.Object(
            {
              address: Type.Optional(Type.String({ maxLength: 254 })),
              cursor: Type.Optional(Type.String({ maxLength: 254 })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ data: Type.Array(PreferenceSchema), next_cursor: Nullable(Type.String()) }),
          },
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 100;
        const { rows } = await deps.db.query<{
          address: string;
          protection: string;
          created_at: Date;
          updated_at: Date;
        }>(
          `SELECT address, protection, created_at, updated_at FROM recipient_preferences
           WHERE org_id = $1 AND ($2::text IS NULL OR address > $2) AND ($3::text IS NULL OR address = $3)
           ORDER BY address LIMIT $4`,
          [
            request.auth.orgId,
            request.query.cursor ?? null,
            request.query.address?.toLowerCase() ?? null,
            limit,
          ],
        );
        return { data: rows, next_cursor: rows.length === limit ? rows[rows.length - 1]!.address : null };
      },
    );

    app.delete(
      '/v1/recipient-preferences/:address',
      {
        config: { scope: 'recipient_keys:manage' },
        schema: {
          tags: ['recipient keys'],
          summary: "Forget a recipient's preference",
          params: Type.Object({ address: Type.String({ minLength: 3, maxLength: 254 }) }),
          response: { 204: Type.Null(), 404: ProblemSchema },
        },
      },
      async (request, reply) => {
        await deps.db.transaction(async (tx) => {
          const { rowCount } = await tx.query(
            'DELETE FROM recipient_preferences WHERE org_id = $1 AND address = $2',
            [request.auth.orgId, request.params.address.toLowerCase()],
          );
          if (rowCount === 0) throw errors.notFound('The preference');
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'recipient_preference.removed',
            objectType: 'recipient_preference',
            objectId: 'address',
            outcome: 'success',
          });
        });
        return reply.code(204).send(null);
      },
    );
  };
}
