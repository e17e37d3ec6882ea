import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { errors, SealpostError } from '../errors/index.ts';
import {
  auditContext,
  DateTime,
  Nullable,
  ProblemSchema as Problem,
  type HttpServer,
} from '../http/index.ts';
import { clientOf, requireRecent, signInRefused } from './auth-routes.ts';
import {
  activate,
  DEFAULT_MINUTES,
  isEligible,
  listActivations,
  maxMinutes,
  notEligible,
  review,
} from './break-glass.ts';
import type { LifecycleDeps } from './lifecycle-routes.ts';
import { ROLES } from './permissions.ts';
import { userActor } from './staff-auth.ts';

// Break-glass over HTTP. Setting it up (who may use it, for how long at most) and reviewing each
// use are for owners, in their own session. Activating and deactivating act on the caller's own
// session, so those two are public to the authentication hook and check the cookie (and CSRF)
// themselves, like /v1/auth.

const Activation = Type.Object({
  id: Type.String(),
  user_id: Type.String(),
  session_id: Type.String(),
  reason: Type.String(),
  activated_at: DateTime,
  expires_at: DateTime,
  ended_at: Nullable(DateTime),
  ended_reason: Nullable(Type.String()),
  actions: Type.Integer({ description: 'Requests made while elevated (each one is an audit event)' }),
  owners_alerted: Type.Integer(),
  reviewed_at: Nullable(DateTime),
  reviewed_by: Nullable(Type.String()),
  review_note: Nullable(Type.String()),
});

const Policy = Type.Object({
  max_minutes: Type.Integer({ minimum: 5, maximum: 480 }),
  default_minutes: Type.Integer(),
});

const security = [{ sessionCookie: [] }];

/** Owners set break-glass up and review it, from their own session (never with an API key). */
function requireOwnerSession(request: FastifyRequest): string {
  const session = request.auth.session;
  if (!session || session.role !== 'owner' || request.auth.breakGlass)
    throw errors.forbidden('Only an owner, signed in, can set up or review emergency access.');
  return session.userId;
}

export function breakGlassRoutes(deps: LifecycleDeps) {
  return async (app: HttpServer) => {
    const owner = { scope: 'users:manage', recentAuth: true } as const;

    app.get(
      '/v1/break-glass/policy',
      {
        config: { scope: 'policy:read' },
        schema: {
          tags: ['break-glass'],
          summary: 'How long emergency access may last',
          response: { 200: Policy },
        },
      },
      async (request) => {
        const max = await maxMinutes(deps.db, request.auth.orgId);
        return { max_minutes: max, default_minutes: Math.min(DEFAULT_MINUTES, max) };
      },
    );

    app.put(
      '/v1/break-glass/policy',
      {
        config: { scope: 'policy:manage', recentAuth: true },
        schema: {
          tags: ['break-glass'],
          summary: 'Set the longest emergency access allowed (owners, recent sign-in)',
          body: Type.Object(
            { max_minutes: Type.Integer({ minimum: 5, maximum: 480 }) },
            { additionalProperties: false },
          ),
          response: { 200: Policy, 403: Problem },
        },
      },
      async (request) => {
        requireOwnerSession(request);
        const { orgId } = request.auth;
        const max = request.body.max_minutes;
        await deps.db.transaction(async (tx) => {
          await tx.query(
            `INSERT INTO break_glass_policies (org_id, max_minutes, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (org_id) DO UPDATE SET max_minutes = $2, updated_at = $3`,
            [orgId, max, deps.clock()],
          );
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'break_glass.policy_changed',
            objectType: 'organization',
            objectId: orgId,
            outcome: 'success',
            details: { max_minutes: max },
          });
        });
        return { max_minutes: max, default_minutes: Math.min(DEFAULT_MINUTES, max) };
      },
    );

    app.get(
      '/v1/break-glass/accounts',
      {
        config: { scope: 'users:read' },
        schema: {
          tags: ['break-glass'],
          summary: 'Users designated for emergency access',
          response: {
            200: Type.Object({
              data: Type.Array(
                Type.Object({
                  user_id: Type.String(),
                  designated_by: Type.String(),
                  designated_at: DateTime,
                }),
              ),
            }),
          },
        },
      },
      async (request) => {
        const { rows } = await deps.db.query(
          `SELECT user_id, designated_by, designated_at FROM break_glass_accounts WHERE org_id = $1 ORDER BY designated_at`,
          [request.auth.orgId],
        );
        return { data: rows as never };
      },
    );

    app.post(
      '/v1/break-glass/accounts',
      {
        config: owner,
        schema: {
          tags: ['break-glass'],
          summary: 'Designate a user for emergency access (owners, recent sign-in)',
          description:
            'The user must be active and have a second factor (TOTP or recovery codes): activation asks for a code.',
          body: Type.Object({ user_id: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
          response: {
            201: Type.Object({
              user_id: Type.String(),
              designated_by: Type.String(),
              designated_at: DateTime,
            }),
            403: Problem,
            404: Problem,
            409: Problem,
            422: Problem,
          },
        },
      },
      async (request, reply) => {
        const ownerId = requireOwnerSession(request);
        const { orgId } = request.auth;
        const userId = request.body.user_id;
        const now = deps.clock();
        const { rows } = await deps.db.query<{ status: string }>(
          `SELECT status FROM users WHERE org_id = $1 AND user_id = $2 AND status <> 'deleted'`,
          [orgId, userId],
        );
        if (!rows[0]) throw errors.notFound('The user');
        if (rows[0].status !== 'active') throw errors.conflict('user_disabled', 'The user is disabled.');
        const factors = await deps.staff.factors(deps.db, orgId, userId);
        if (!factors.totp && factors.recovery_codes_left === 0)
          throw errors.validation(
            'The user needs an authenticator app or recovery codes first: activation asks for a code.',
          );
        await deps.db.transaction(async (tx) => {
          const { rowCount } = await tx.query(
            `INSERT INTO break_glass_accounts (org_id, user_id, designated_by, designated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING`,
            [orgId, userId, ownerId, now],
          );
          if (rowCount === 0) throw errors.conflict('already_designated', 'This user is designated already.');
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'break_glass.account_designated',
            objectType: 'user',
            objectId: userId,
            outcome: 'success',
          });
        });
        reply.code(201);
        return { user_id: userId, designated_by: ownerId, designated_at: now };
      },
    );

    app.delete(
      '/v1/break-glass/accounts/:id',
      {
        config: owner,
        schema: {
          tags: ['break-glass'],
          summary: 'Withdraw a user’s designation for emergency access (owners)',
          params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
          response: { 204: Type.Null(), 403: Problem, 404: Problem },
        },
      },
      async (request, reply) => {
        const { orgId } = request.auth;
        // Another organisation's designation is not found, whoever asks.
        const found = await deps.db.query(
          'SELECT 1 FROM break_glass_accounts WHERE org_id = $1 AND user_id = $2',
          [orgId, request.params.id],
        );
        if (found.rows.length === 0) throw errors.notFound('The designation');
        requireOwnerSession(request);
        const removed = await deps.db.transaction(async (tx) => {
          const { rowCount } = await tx.query(
            'DELETE FROM break_glass_accounts WHERE org_id = $1 AND user_id = $2',
            [orgId, request.params.id],
          );
          if (rowCount === 0) return false;
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'break_glass.account_removed',
            objectType: 'user',
            objectId: request.params.id,
            outcome: 'success',
          });
          return true;
        });
        if (!removed) throw errors.notFound('The designation');
        reply.code(204);
      },
    );

    /** The caller's own active session, CSRF and allowed networks checked. */
    async function ownSession(request: FastifyRequest) {
      const session = await deps.staff.sessionOf(request, { stages: ['active'] });
      await deps.staff.deps.checkSignIn?.(
        { org_id: session.orgId, user_id: session.userId, role: session.role },
        clientOf(request),
      );
      return session;
    }

    app.post(
      '/v1/break-glass/activate',
      {
        config: { public: true, rateLimit: { max: 10, timeWindow: 60_000 } },
        schema: {
          tags: ['break-glass'],
          summary: 'Activate emergency access for this session: owner permissions for a limited time',
          description:
            'Only for designated users, signed in within the last 10 minutes, with a TOTP code or a recovery code now. Every owner is alerted by email at once; every request while elevated is an audit event; an owner reviews the use afterwards. The reason is kept sealed and shown to reviewers only.',
          security,
          body: Type.Object(
            {
              reason: Type.String({ minLength: 10, maxLength: 2000 }),
              minutes: Type.Optional(Type.Integer({ minimum: 5, maximum: 480 })),
              second_factor: Type.Object(
                {
                  method: Type.Union([Type.Literal('totp'), Type.Literal('recovery_code')]),
                  code: Type.String({ minLength: 6, maxLength: 40 }),
                },
                { additionalProperties: false },
              ),
            },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Object({
              id: Type.String(),
              expires_at: DateTime,
              minutes: Type.Integer(),
              owners_alerted: Type.Integer(),
              permissions: Type.Array(Type.String()),
            }),
            401: Problem,
            403: Problem,
            409: Problem,
            422: Problem,
            429: Problem,
          },
        },
      },
      async (request, reply) => {
        const session = await ownSession(request);
        const client = clientOf(request);
        const denied = (reason: string) =>
          deps.db.transaction((tx) =>
            deps.audit(tx, {
              orgId: session.orgId,
              actor: userActor(session.userId),
              action: 'break_glass.activation_denied',
              objectType: 'session',
              objectId: session.sessionId,
              outcome: 'denied',
              ip: client.ip,
              requestId: client.requestId,
              details: { reason },
            }),
          );
        if (!(await isEligible(deps.db, session.orgId, session.userId))) {
          await denied('not_eligible');
          throw notEligible();
        }
        requireRecent(deps.staff, session);
        const max = await maxMinutes(deps.db, session.orgId);
        const minutes = request.body.minutes ?? Math.min(DEFAULT_MINUTES, max);
        if (minutes > max)
          throw errors.validation(`Emergency access lasts at most ${max} minutes here.`, {
            max_minutes: max,
          });
        if (!(await deps.staff.reauthenticateSecondFactor(session, request.body.second_factor, client))) {
          await denied('second_factor');
          return signInRefused(reply, 'invalid');
        }
        const result = await activate(
          {
            db: deps.db,
            audit: deps.audit,
            clock: deps.clock,
            keyring: deps.keyring,
            queue: deps.queue,
            publicUrl: deps.publicUrl,
          },
          {
            orgId: session.orgId,
            userId: session.userId,
            sessionId: session.sessionId,
            reason: request.body.reason,
            minutes,
            client,
          },
        );
        reply.code(201);
        return {
          id: result.id,
          expires_at: result.expiresAt,
          minutes,
          owners_alerted: result.ownersAlerted,
          permissions: [...ROLES.owner!],
        };
      },
    );

    app.post(
      '/v1/break-glass/deactivate',
      {
        config: { public: true },
        schema: {
          tags: ['break-glass'],
          summary: 'End this session’s emergency access now',
          security,
          response: {
            200: Type.Object({ id: Type.String(), ended: Type.Boolean() }),
            401: Problem,
            404: Problem,
          },
        },
      },
      async (request) => {
        const session = await ownSession(request);
        const { rows } = await deps.db.query<{ activation_id: string }>(
          'SELECT activation_id FROM break_glass_activations WHERE org_id = $1 AND session_id = $2 AND ended_at IS NULL',
          [session.orgId, session.sessionId],
        );
        const id = rows[0]?.activation_id;
        if (!id) throw new SealpostError('not_found', 'This session holds no emergency access.');
        const ended = await deps.breakGlass.end(session.orgId, id, 'deactivated', deps.clock(), {
          actor: { ...userActor(session.userId), label: `break-glass:${id}` },
          client: clientOf(request),
        });
        return { id, ended };
      },
    );

    app.get(
      '/v1/break-glass/activations',
      {
        config: { scope: 'audit:read' },
        schema: {
          tags: ['break-glass'],
          summary: 'Every use of emergency access, newest first, with its reason and review',
          response: { 200: Type.Object({ data: Type.Array(Activation) }) },
        },
      },
      async (request) => ({ data: await listActivations(deps.db, deps.keyring, request.auth.orgId) }),
    );

    app.get(
      '/v1/break-glass/activations/:id',
      {
        config: { scope: 'audit:read' },
        schema: {
          tags: ['break-glass'],
          summary: 'One use of emergency access',
          params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
          response: { 200: Activation, 404: Problem },
        },
      },
      async (request) => {
        const [found] = await listActivations(deps.db, deps.keyring, request.auth.orgId, request.params.id);
        if (!found) throw errors.notFound('The activation');
        return found;
      },
    );

    app.post(
      '/v1/break-glass/activations/:id/review',
      {
        config: owner,
        schema: {
          tags: ['break-glass'],
          summary: 'Review a finished use of emergency access (another owner than the one who used it)',
          params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
          body: Type.Object(
            { note: Type.String({ minLength: 1, maxLength: 4000 }) },
            { additionalProperties: false },
          ),
          response: { 200: Activation, 403: Problem, 404: Problem, 409: Problem },
        },
      },
      async (request) => {
        const [exists] = await listActivations(deps.db, deps.keyring, request.auth.orgId, request.params.id);
        if (!exists) throw errors.notFound('The activation');
        const reviewerId = requireOwnerSession(request);
        // An elevation whose time ran out with no request since is ended (and recorded) first.
        await deps.breakGlass.expireDue();
        await review(
          { db: deps.db, audit: deps.audit, clock: deps.clock, keyring: deps.keyring },
          {
            orgId: request.auth.orgId,
            activationId: request.params.id,
            reviewerId,
            note: request.body.note,
            client: clientOf(request),
          },
        );
        const [found] = await listActivations(deps.db, deps.keyring, request.auth.orgId, request.params.id);
        return found!;
      },
    );
  };
}
