import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { type AuditInput, csvCell } from '../audit/index.ts';
import type { Keyring } from '../crypto/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import {
  auditContext,
  DateTime,
  Nullable,
  ProblemSchema as Problem,
  type HttpServer,
} from '../http/index.ts';
import type { JobQueue } from '../queue/index.ts';
import type { BreakGlass } from './break-glass.ts';
import { ACCESS_REVIEW_COLUMNS, accessReview, changeUserStatus, type LifecycleAction } from './lifecycle.ts';
import type { StaffAuth } from './staff-auth.ts';

// Disable, enable and delete staff users, and the access review export. Each needs users:manage
// (users:read for the review) and, from a session, a sign-in in the last few minutes.

export interface LifecycleDeps {
  db: Db;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  keyring: Keyring;
  queue: JobQueue;
  clock: () => Date;
  publicUrl: string;
  staff: StaffAuth;
  breakGlass: BreakGlass;
}

const UserParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const Result = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled'), Type.Literal('deleted')]),
  sessions_ended: Type.Integer(),
  api_keys_revoked: Type.Integer(),
});

const ReviewRow = Type.Object({
  id: Type.String(),
  email: Type.String(),
  display_name: Nullable(Type.String()),
  role: Type.String({ description: 'A built-in role, or the id of a custom role' }),
  role_name: Type.String(),
  status: Type.String(),
  factors: Type.Object({
    totp: Type.Boolean(),
    passkeys: Type.Integer(),
    recovery_codes_left: Type.Integer(),
  }),
  last_sign_in_at: Nullable(DateTime),
  sessions_active: Type.Integer(),
  break_glass_eligible: Type.Boolean(),
  created_at: DateTime,
  invited_by: Nullable(Type.String({ description: '<actor type>:<id> of who sent the invitation' })),
});

const callerOf = (request: FastifyRequest) => ({
  orgId: request.auth.orgId,
  userId: request.auth.session?.userId ?? null,
  scopes: request.auth.scopes,
});

export function lifecycleRoutes(deps: LifecycleDeps) {
  return async (app: HttpServer) => {
    const change =
      (action: LifecycleAction, verb: string) =>
      async (request: FastifyRequest<{ Params: { id: string } }>) =>
        deps.db.transaction(async (tx) => {
          const result = await changeUserStatus(
            tx,
            deps.staff,
            callerOf(request),
            request.params.id,
            action,
            {
              ip: request.ip,
              requestId: request.id,
            },
          );
          await deps.audit(tx, {
            ...auditContext(request),
            action: `user.${verb}`,
            objectType: 'user',
            objectId: result.id,
            outcome: 'success',
            details: { sessions_ended: result.sessions_ended, api_keys_revoked: result.api_keys_revoked },
          });
          return result;
        });

    const manage = { scope: 'users:manage', recentAuth: true } as const;
    const problems = { 403: Problem, 404: Problem, 409: Problem };

    app.post(
      '/v1/users/:id/disable',
      {
        config: manage,
        schema: {
          tags: ['users'],
          summary: 'Disable a user: every session ends and the API keys they made are revoked, at once',
          description:
            'Needs a recent sign-in. You cannot disable yourself, the last active owner, or a user whose role holds permissions you do not.',
          params: UserParams,
          response: { 200: Result, ...problems },
        },
      },
      change('disable', 'disabled'),
    );

    app.post(
      '/v1/users/:id/enable',
      {
        config: manage,
        schema: {
          tags: ['users'],
          summary: 'Enable a disabled user (their revoked API keys stay revoked)',
          params: UserParams,
          response: { 200: Result, ...problems },
        },
      },
      change('enable', 'enabled'),
    );

    app.delete(
      '/v1/users/:id',
      {
        config: manage,
        schema: {
          tags: ['users'],
          summary: 'Delete a user; their history stays in the audit trail and the address is free again',
          description:
            'The user is kept as a tombstone (id, name, role, dates and a SHA-256 of the address) so audit events still name them; password, factors, sessions and API keys go.',
          params: UserParams,
          response: { 200: Result, ...problems },
        },
      },
      change('delete', 'deleted'),
    );

    app.get(
      '/v1/users/access-review',
      {
        config: { scope: 'users:read', recentAuth: true },
        schema: {
          tags: ['users'],
          summary: 'Access review: every user with role, status, factors, last sign-in and sessions',
          description:
            'For periodic access reviews. Factors are kinds and counts, never secrets. format=csv downloads the same as CSV. Each export is an audit event. Needs a recent sign-in.',
          querystring: Type.Object(
            { format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])) },
            { additionalProperties: false },
          ),
          response: {
            200: {
              description: 'Every user (json), or the same as a CSV download.',
              content: {
                'application/json': {
                  schema: Type.Object({ generated_at: DateTime, data: Type.Array(ReviewRow) }),
                },
                'text/csv': {
                  schema: Type.String({
                    description: `A header row (${ACCESS_REVIEW_COLUMNS.join(', ')}), then one user per row.`,
                  }),
                },
              },
            },
            403: Problem,
          },
        },
      },
      async (request, reply) => {
        const now = deps.clock();
        const format = request.query.format ?? 'json';
        const rows = await accessReview(deps.db, request.auth.orgId, now);
        await deps.db.transaction((tx) =>
          deps.audit(tx, {
            ...auditContext(request),
            action: 'users.access_review_exported',
            objectType: 'organization',
            objectId: request.auth.orgId,
            outcome: 'success',
            details: { format, users: rows.length },
          }),
        );
        if (format === 'json') return { generated_at: now, data: rows };
        const cell = (v: unknown) => csvCell(v instanceof Date ? v.toISOString() : v);
        const lines = [
          ACCESS_REVIEW_COLUMNS.join(','),
          ...rows.map((r) => {
            const flat: Record<string, unknown> = { ...r, ...r.factors };
            return ACCESS_REVIEW_COLUMNS.map((c) => cell(flat[c])).join(',');
          }),
        ];
        return reply
          .type('text/csv; charset=utf-8')
          .header(
            'content-disposition',
            `attachment; filename="access-review-${now.toISOString().slice(0, 10)}.csv"`,
          )
          .send(`${lines.join('\r\n')}\r\n`);
      },
    );
  };
}
