import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { errors, SealpostError } from '../errors/index.ts';
import {
  auditContext,
  DateTime,
  Nullable,
  ProblemSchema as Problem,
  type HttpServer,
} from '../http/index.ts';
import { PASSWORD_MAX } from '../passwords/index.ts';
import { type AccessControl, deviceIdIn } from './access.ts';
import { permissionsOf } from './roles.ts';
import {
  type ClientInfo,
  csrfTokenOf,
  RECENT_AUTH_MINUTES,
  reauthenticationRequired,
  type Stage,
  StaffAuth,
  type StaffSession,
  userActor,
} from './staff-auth.ts';

// The JSON side of staff sign-in, for the console and any script a person runs with their own
// session: sign in, the second factor, sessions, factors, re-authentication and the password; the
// organisation's sign-in policy and an administrator's unlock. The /v1/auth routes act on the
// caller's own session cookie only (API keys have no session), so they are public to the
// authentication hook and check the cookie themselves, CSRF included.

const Stages = Type.Union([Type.Literal('second_factor'), Type.Literal('enrol'), Type.Literal('active')]);
const Credential = Type.Unsafe<Record<string, unknown>>({
  type: 'object',
  description:
    "The browser's WebAuthn answer as SimpleWebAuthn's startRegistration/startAuthentication return it.",
});
const Options = Type.Unsafe<object>({
  type: 'object',
  additionalProperties: true,
  description: 'WebAuthn options for the browser (SimpleWebAuthn JSON).',
});
const SignInAnswer = Type.Object({
  status: Stages,
  csrf_token: Type.String({ description: 'Send it as X-CSRF-Token with every state-changing request.' }),
  methods: Type.Array(Type.String(), { description: 'Second factors that can finish this sign-in.' }),
  requirement: Type.Union([Type.Literal('none'), Type.Literal('any'), Type.Literal('passkey')]),
  expires_at: DateTime,
});
const RecoveryCodes = Nullable(Type.Array(Type.String(), { description: 'Shown once.' }));
const PolicySchema = Type.Object({
  idle_minutes: Type.Integer({ minimum: 1, maximum: 1440 }),
  absolute_minutes: Type.Integer({ minimum: 5, maximum: 43200 }),
  mfa_required: Type.Union([Type.Literal('off'), Type.Literal('all'), Type.Literal('roles')]),
  mfa_roles: Type.Array(Type.String()),
  passkey_required_roles: Type.Array(Type.String(), {
    description: 'Roles that must sign in with a passkey (phishing-resistant), e.g. owner and administrator.',
  }),
});

const self = { config: { public: true } } as const;
const security = [{ sessionCookie: [] }];

export const clientOf = (request: FastifyRequest): ClientInfo => ({
  ip: request.ip,
  requestId: request.id,
  userAgent: request.headers['user-agent'],
  deviceId: deviceIdIn(request.headers.cookie),
});

export function parseCredential<T extends RegistrationResponseJSON | AuthenticationResponseJSON>(
  value: unknown,
): T | null {
  const v = value as { id?: unknown; type?: unknown; response?: { clientDataJSON?: unknown } } | null;
  return v &&
    typeof v.id === 'string' &&
    v.type === 'public-key' &&
    typeof v.response?.clientDataJSON === 'string' &&
    JSON.stringify(v).length < 20_000
    ? (v as T)
    : null;
}

/** Throws unless the session proved who it is in the last few minutes. */
export function requireRecent(staff: StaffAuth, session: StaffSession) {
  if (session.authenticatedAt.getTime() < staff.clock().getTime() - RECENT_AUTH_MINUTES * 60_000)
    throw reauthenticationRequired();
}

export function signInRefused(reply: FastifyReply, reason: string, retryAfterSeconds?: number): never {
  if (reason === 'invalid')
    throw new SealpostError('invalid_credentials', 'The email address or password is not right.');
  if (reason === 'ambiguous')
    throw new SealpostError(
      'organization_required',
      'This address has accounts in more than one organisation: sign in again with organization_id.',
    );
  if (retryAfterSeconds) reply.header('retry-after', String(retryAfterSeconds));
  throw new SealpostError(
    'sign_in_throttled',
    `Too many failed sign-ins: wait ${retryAfterSeconds ?? 1} seconds and try again.`,
  );
}

export function authRoutes(staff: StaffAuth, access?: AccessControl) {
  return async (app: HttpServer) => {
    /** The caller's session at one of these stages; request.auth set for audit records. */
    const sessionOf = async (request: FastifyRequest, stages: readonly Stage[] = ['active']) => {
      const session = await staff.sessionOf(request, { stages });
      // Conditional access holds for the session's own routes too.
      await staff.deps.checkSignIn?.(
        { org_id: session.orgId, user_id: session.userId, role: session.role },
        clientOf(request),
      );
      request.auth = {
        orgId: session.orgId,
        actor: userActor(session.userId),
        scopes: await permissionsOf(staff.deps.db, session.orgId, session.role),
        session: {
          id: session.sessionId,
          userId: session.userId,
          authenticatedAt: session.authenticatedAt,
          role: session.role,
        },
      };
      return session;
    };

    app.post(
      '/v1/auth/sign-in',
      {
        ...self,
        schema: {
          tags: ['sign-in'],
          summary: 'Sign in with email and password; sets the session cookie',
          description:
            'The same answer, in the same time, whether or not the address has an account. Failed attempts slow further ones (429 sign_in_throttled with Retry-After): from the same client network after a few, and past a ceiling from anywhere the person has not signed in from before. No account is ever locked.',
          security: [],
          body: Type.Object(
            {
              email: Type.String({ minLength: 3, maxLength: 320 }),
              password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX * 4 }),
              organization_id: Type.Optional(Type.String({ format: 'uuid' })),
            },
            { additionalProperties: false },
          ),
          response: { 200: SignInAnswer, 401: Problem, 409: Problem, 429: Problem },
        },
      },
      async (request, reply) => {
        const { email, password, organization_id } = request.body;
        const result = await staff.signIn(
          { email, password, organizationId: organization_id },
          clientOf(request),
        );
        if (!result.ok) return signInRefused(reply, result.reason, result.retryAfterSeconds);
        reply.header('set-cookie', staff.sessionCookie(result.session.secret));
        await access?.recordSignIn(request, reply, result.session);
        const policy = await staff.policy(staff.deps.db, result.session.orgId);
        return {
          status: result.stage,
          csrf_token: csrfTokenOf(result.session.secret),
          methods: result.methods,
          requirement: StaffAuth.requirement(policy, result.session.role),
          expires_at: result.session.expiresAt,
        };
      },
    );

    app.post(
      '/v1/auth/second-factor',
      {
        ...self,
        schema: {
          tags: ['sign-in'],
          summary: 'Finish signing in with a TOTP code or a recovery code',
          security,
          body: Type.Object(
            {
              method: Type.Union([Type.Literal('totp'), Type.Literal('recovery_code')]),
              code: Type.String({ minLength: 6, maxLength: 40 }),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ status: Stages }), 401: Problem, 403: Problem, 429: Problem },
        },
      },
      async (request, reply) => {
        const session = await sessionOf(request, ['second_factor']);
        const result = await staff.secondFactor(session, request.body, clientOf(request));
        if (!result.ok) {
          if (result.reason === 'not_allowed')
            throw errors.forbidden('Your organisation requires a passkey to sign in.');
          return signInRefused(reply, result.reason, result.retryAfterSeconds);
        }
        return { status: result.stage };
      },
    );

    app.post(
      '/v1/auth/second-factor/passkey/options',
      {
        ...self,
        schema: {
          tags: ['sign-in'],
          summary: 'WebAuthn options to finish signing in with a passkey',
          security,
          response: { 200: Options },
        },
      },
      async (request) => staff.passkeyAuthenticationOptions(await sessionOf(request, ['second_factor'])),
    );

    app.post(
      '/v1/auth/second-factor/passkey',
      {
        ...self,
        schema: {
          tags: ['sign-in'],
          summary: 'Finish signing in with a passkey',
          security,
          body: Type.Object({ credential: Credential }, { additionalProperties: false }),
          response: { 200: Type.Object({ status: Stages }), 401: Problem, 429: Problem },
        },
      },
      async (request, reply) => {
        const session = await sessionOf(request, ['second_factor']);
        const credential = parseCredential<AuthenticationResponseJSON>(request.body.credential);
        if (!credential) throw errors.validation('credential is not a WebAuthn answer.');
        const result = await staff.usePasskey(session, credential, clientOf(request));
        if (!result.ok) {
          if (result.reason === 'expired')
            throw errors.conflict('challenge_expired', 'The passkey request expired: ask for new options.');
          return signInRefused(reply, result.reason, result.retryAfterSeconds);
        }
        return { status: result.stage };
      },
    );

    app.get(
      '/v1/auth/session',
      {
        ...self,
        schema: {
          tags: ['sessions'],
          summary: 'The current session: who, which stage, which permissions, its CSRF token',
          security,
          response: {
            200: Type.Object({
              id: Type.String(),
              organization_id: Type.String(),
              user: Type.Object({ id: Type.String(), email: Type.String(), role: Type.String() }),
              stage: Stages,
              permissions: Type.Array(Type.String()),
              csrf_token: Type.String(),
              created_at: DateTime,
              authenticated_at: DateTime,
              expires_at: DateTime,
              methods: Type.Array(Type.String()),
            }),
            401: Problem,
          },
        },
      },
      async (request) => {
        const s = await sessionOf(request, ['second_factor', 'enrol', 'active']);
        return {
          id: s.sessionId,
          organization_id: s.orgId,
          user: { id: s.userId, email: await staff.emailOf(staff.deps.db, s.orgId, s.userId), role: s.role },
          stage: s.stage,
          permissions: s.stage === 'active' ? [...request.auth.scopes] : [],
          csrf_token: csrfTokenOf(s.secret),
          created_at: s.createdAt,
          authenticated_at: s.authenticatedAt,
          expires_at: s.expiresAt,
          methods: s.methods,
        };
      },
    );

    app.post(
      '/v1/auth/sign-out',
      {
        ...self,
        schema: { tags: ['sessions'], summary: 'End this session', security, response: { 204: Type.Null() } },
      },
      async (request, reply) => {
        const s = await sessionOf(request, ['second_factor', 'enrol', 'active']);
        await staff.deps.db.transaction((tx) =>
          staff.revokeSession(tx, s.orgId, s.userId, s.sessionId, 'signed_out', clientOf(request)),
        );
        reply.header('set-cookie', staff.clearCookie()).code(204);
      },
    );

    app.post(
      '/v1/auth/reauthenticate',
      {
        ...self,
        schema: {
          tags: ['sessions'],
          summary: `Prove who you are again, for actions that need a sign-in from the last ${RECENT_AUTH_MINUTES} minutes`,
          security,
          body: Type.Object(
            { password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX * 4 }) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ authenticated_at: DateTime }), 401: Problem, 429: Problem },
        },
      },
      async (request, reply) => {
        const s = await sessionOf(request);
        if (!(await staff.reauthenticate(s, request.body.password, clientOf(request))))
          return signInRefused(reply, 'invalid');
        return { authenticated_at: staff.clock() };
      },
    );

    app.post(
      '/v1/auth/password',
      {
        ...self,
        schema: {
          tags: ['sessions'],
          summary: 'Change your password (every other session ends)',
          description:
            'NIST SP 800-63B rev. 4: at least 15 characters, or 8 when you have a second factor; up to 256; no composition rules; common passwords and your address refused.',
          security,
          body: Type.Object(
            {
              current_password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX * 4 }),
              new_password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX * 4 }),
            },
            { additionalProperties: false },
          ),
          response: { 204: Type.Null(), 401: Problem, 422: Problem },
        },
      },
      async (request, reply) => {
        const s = await sessionOf(request);
        const result = await staff.changePassword(
          s,
          { current: request.body.current_password, next: request.body.new_password },
          clientOf(request),
        );
        if (!result.ok) {
          if (result.problem === 'wrong_password') return signInRefused(reply, 'invalid');
          throw new SealpostError('weak_password', `The new password is refused: ${result.problem}.`, {
            details: { problem: result.problem },
          });
        }
        reply.code(204);
      },
    );

    app.get(
      '/v1/auth/sessions',
      {
        ...self,
        schema: {
          tags: ['sessions'],
          summary: 'Your active sessions',
          security,
          response: {
            200: Type.Object({
              data: Type.Array(
                Type.Object({
                  id: Type.String(),
                  current: Type.Boolean(),
                  stage: Type.String(),
                  methods: Type.Array(Type.String()),
                  user_agent: Nullable(Type.String()),
                  created_at: DateTime,
                  last_seen_at: DateTime,
                  expires_at: DateTime,
                }),
              ),
            }),
          },
        },
      },
      async (request) => {
        const s = await sessionOf(request);
        const rows = await staff.listSessions(s.orgId, s.userId);
        return { data: rows.map((r) => ({ ...r, current: r.id === s.sessionId })) };
      },
    );

    app.delete(
      '/v1/auth/sessions/:id',
      {
        ...self,
        schema: {
          tags: ['sessions'],
          summary: 'Revoke one of your sessions',
          security,
          params: Type.Object({ id: Type.String() }),
          response: { 204: Type.Null(), 404: Problem },
        },
      },
      async (request, reply) => {
        const s = await sessionOf(request);
        const id = request.params.id;
        const ok =
          /^[0-9a-f-]{36}$/i.test(id) &&
          (await staff.deps.db.transaction((tx) =>
            staff.revokeSession(tx, s.orgId, s.userId, id, 'revoked_by_user', clientOf(request)),
          ));
        if (!ok) throw errors.notFound('The session');
        if (id === s.sessionId) reply.header('set-cookie', staff.clearCookie());
        reply.code(204);
      },
    );

    app.delete(
      '/v1/auth/sessions',
      {
        ...self,
        schema: {
          tags: ['sessions'],
          summary: 'Revoke all your sessions, this one included',
          security,
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        const s = await sessionOf(request);
        await staff.deps.db.transaction((tx) =>
          staff.revokeAll(tx, s.orgId, s.userId, 'revoked_by_user', clientOf(request)),
        );
        reply.header('set-cookie', staff.clearCookie()).code(204);
      },
    );

    app.get(
      '/v1/auth/factors',
      {
        ...self,
        schema: {
          tags: ['factors'],
          summary: 'Your second factors',
          security,
          response: {
            200: Type.Object({
              totp: Type.Boolean(),
              passkeys: Type.Array(
                Type.Object({
                  id: Type.String(),
                  name: Type.String(),
                  created_at: DateTime,
                  last_used_at: Nullable(DateTime),
                }),
              ),
              recovery_codes_left: Type.Integer(),
            }),
          },
        },
      },
      async (request) => {
        const s = await sessionOf(request, ['enrol', 'active']);
        return staff.factors(staff.deps.db, s.orgId, s.userId);
      },
    );

    app.post(
      '/v1/auth/factors/totp',
      {
        ...self,
        schema: {
          tags: ['factors'],
          summary: 'Start enrolling an authenticator app (TOTP, RFC 6238); confirm with a first code',
          security,
          response: { 200: Type.Object({ secret: Type.String(), otpauth_uri: Type.String() }), 409: Problem },
        },
      },
      async (request) => {
        const s = await sessionOf(request, ['enrol', 'active']);
        requireRecent(staff, s);
        const { secret, uri } = await staff.startTotp(s, 'Sealpost');
        return { secret, otpauth_uri: uri };
      },
    );

    app.post(
      '/v1/auth/factors/totp/confirm',
      {
        ...self,
        schema: {
          tags: ['factors'],
          summary: 'Confirm the authenticator app with its current code',
          description: 'The first second factor also brings 10 one-time recovery codes, shown once.',
          security,
          body: Type.Object(
            { code: Type.String({ minLength: 6, maxLength: 10 }) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ status: Stages, recovery_codes: RecoveryCodes }), 422: Problem },
        },
      },
      async (request) => {
        const s = await sessionOf(request, ['enrol', 'active']);
        requireRecent(staff, s);
        const result = await staff.confirmTotp(s, request.body.code, clientOf(request));
        if (!result.ok) throw new SealpostError('invalid_code', 'The code is not right.');
        return { status: result.stage, recovery_codes: result.recoveryCodes };
      },
    );

    app.delete(
      '/v1/auth/factors/totp',
      {
        ...self,
        schema: {
          tags: ['factors'],
          summary: 'Remove the authenticator app (every other session ends)',
          security,
          response: { 204: Type.Null(), 404: Problem, 409: Problem },
        },
      },
      async (request, reply) => {
        const s = await sessionOf(request);
        requireRecent(staff, s);
        if (!(await staff.removeFactor(s, { kind: 'totp' }, clientOf(request))))
          throw errors.notFound('The authenticator app');
        reply.code(204);
      },
    );

    app.post(
      '/v1/auth/factors/passkeys/options',
      {
        ...self,
        schema: {
          tags: ['factors'],
          summary: 'WebAuthn options to add a passkey',
          security,
          response: { 200: Options },
        },
      },
      async (request) => {
        const s = await sessionOf(request, ['enrol', 'active']);
        requireRecent(staff, s);
        return staff.passkeyRegistrationOptions(s, await orgName(s.orgId));
      },
    );

    app.post(
      '/v1/auth/factors/passkeys',
      {
        ...self,
        schema: {
          tags: ['factors'],
          summary: 'Add a passkey (every other session ends)',
          security,
          body: Type.Object(
            { credential: Credential, name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Object({ status: Stages, recovery_codes: RecoveryCodes }),
            409: Problem,
            422: Problem,
          },
        },
      },
      async (request, reply) => {
        const s = await sessionOf(request, ['enrol', 'active']);
        requireRecent(staff, s);
        const credential = parseCredential<RegistrationResponseJSON>(request.body.credential);
        if (!credential) throw errors.validation('credential is not a WebAuthn answer.');
        const result = await staff.addPasskey(
          s,
          credential,
          request.body.name ?? 'Passkey',
          clientOf(request),
        );
        if (!result.ok)
          throw result.reason === 'expired'
            ? errors.conflict('challenge_expired', 'The passkey request expired: ask for new options.')
            : errors.validation('The passkey was refused.');
        reply.code(201);
        return { status: result.stage, recovery_codes: result.recoveryCodes };
      },
    );

    app.delete(
      '/v1/auth/factors/passkeys/:id',
      {
        ...self,
        schema: {
          tags: ['factors'],
          summary: 'Remove a passkey (every other session ends)',
          security,
          params: Type.Object({ id: Type.String({ maxLength: 1400 }) }),
          response: { 204: Type.Null(), 404: Problem, 409: Problem },
        },
      },
      async (request, reply) => {
        const s = await sessionOf(request);
        requireRecent(staff, s);
        if (!(await staff.removeFactor(s, { kind: 'passkey', id: request.params.id }, clientOf(request))))
          throw errors.notFound('The passkey');
        reply.code(204);
      },
    );

    app.post(
      '/v1/auth/recovery-codes',
      {
        ...self,
        schema: {
          tags: ['factors'],
          summary: 'New recovery codes (the old ones stop working); shown once',
          security,
          response: { 200: Type.Object({ recovery_codes: Type.Array(Type.String()) }), 409: Problem },
        },
      },
      async (request) => {
        const s = await sessionOf(request);
        requireRecent(staff, s);
        return { recovery_codes: await staff.regenerateRecoveryCodes(s, clientOf(request)) };
      },
    );

    // --- The organisation's sign-in policy and an administrator's unlock -----------------------

    app.get(
      '/v1/policies/auth',
      {
        config: { scope: 'policy:read' },
        schema: {
          tags: ['sign-in'],
          summary: "The organisation's sign-in policy",
          response: { 200: PolicySchema },
        },
      },
      async (request) => staff.policy(staff.deps.db, request.auth.orgId),
    );

    app.patch(
      '/v1/policies/auth',
      {
        config: { scope: 'policy:manage', recentAuth: true },
        schema: {
          tags: ['sign-in'],
          summary: "Change the organisation's sign-in policy (needs a recent sign-in)",
          body: Type.Partial(PolicySchema, { additionalProperties: false }),
          response: { 200: PolicySchema, 403: Problem, 422: Problem },
        },
      },
      async (request) => {
        staff.recentAuth(request);
        return staff.deps.db.transaction(async (tx) => {
          const policy = await staff.setPolicy(tx, request.auth.orgId, request.body);
          await staff.deps.audit(tx, {
            ...auditContext(request),
            action: 'policy.auth_changed',
            objectType: 'organization',
            objectId: request.auth.orgId,
            outcome: 'success',
            details: { changed: Object.keys(request.body).sort().join(' ') },
          });
          return policy;
        });
      },
    );

    app.post(
      '/v1/users/:id/unlock',
      {
        config: { scope: 'users:manage', recentAuth: true },
        schema: {
          tags: ['users'],
          summary: "Forget a user's failed sign-ins, and the waits they impose (needs a recent sign-in)",
          params: Type.Object({ id: Type.String() }),
          response: { 200: Type.Object({ unlocked: Type.Boolean() }), 404: Problem },
        },
      },
      async (request) => {
        staff.recentAuth(request);
        const { rows } = await staff.deps.db.query<{ email: string }>(
          'SELECT email FROM users WHERE org_id = $1 AND user_id::text = $2',
          [request.auth.orgId, request.params.id],
        );
        if (!rows[0]) throw errors.notFound('The user');
        const email = rows[0].email;
        return staff.deps.db.transaction(async (tx) => {
          const unlocked = await staff.unlock(tx, email);
          await staff.deps.audit(tx, {
            ...auditContext(request),
            action: 'auth.unlocked',
            objectType: 'user',
            objectId: request.params.id,
            outcome: 'success',
            details: { had_failures: unlocked },
          });
          return { unlocked };
        });
      },
    );

    async function orgName(orgId: string): Promise<string> {
      const { rows } = await staff.deps.db.query<{ name: string }>(
        'SELECT name FROM organizations WHERE org_id = $1',
        [orgId],
      );
      return rows[0]?.name ?? 'Sealpost';
    }
  };
}
