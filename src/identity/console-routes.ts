import { randomBytes } from 'node:crypto';
import formbody from '@fastify/formbody';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SealpostError } from '../errors/index.ts';
import type { HttpServer } from '../http/index.ts';
import { chooseLanguage } from '../i18n/index.ts';
import type { Html } from '../portal/index.ts';
import type { AccessControl } from './access.ts';
import { clientOf, parseCredential } from './auth-routes.ts';
import {
  accountPage,
  type ConsoleContext,
  consoleContext,
  enrolPage,
  reauthPage,
  recoveryCodesPage,
  signInPage,
  verifyPage,
} from './console-pages.ts';
import {
  cookieValue,
  csrfMatches,
  csrfTokenOf,
  RECENT_AUTH_MINUTES,
  type Stage,
  StaffAuth,
  type StaffSession,
} from './staff-auth.ts';

// The staff sign-in pages under /console: sign-in, the second factor, enrolment of a TOTP app or a
// passkey, and account security (factors, sessions). They call the same StaffAuth as the JSON API.
// Before sign-in, a random secret in a cookie keys the sign-in form's CSRF token; after, the
// session's own secret does. A GET never changes state.

const PRE_COOKIE = 'sealpost_console_pre';
const FLASHES = ['removed', 'reauthenticated'];
const ERRORS = ['factor_required', 'password_too_short', 'not_found'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LANG_COOKIE = 'sealpost_console_lang';
const NEXT: Record<Stage, string> = {
  second_factor: '/console/verify',
  enrol: '/console/enrol',
  active: '/console/account',
};

type Form = Record<string, unknown>;
const field = (body: unknown, name: string) => {
  const value = (body as Form | undefined)?.[name];
  return typeof value === 'string' ? value : '';
};

function page(reply: FastifyReply, status: number, body: Html) {
  return reply.code(status).type('text/html; charset=utf-8').send(body.value);
}

export function consoleRoutes(staff: StaffAuth, access?: AccessControl) {
  return async (app: HttpServer) => {
    await app.register(async (scope) => {
      await scope.register(formbody);
      const options = { config: { public: true }, schema: { hide: true } } as const;
      // Each try costs an argon2id hash: few per minute from one address.
      const throttled = {
        config: { public: true, rateLimit: { max: 30, timeWindow: 60_000 } },
        schema: { hide: true },
      } as const;
      const cookieFlags = `Path=/console; HttpOnly; SameSite=Strict${staff.secureCookies ? '; Secure' : ''}`;

      function language(request: FastifyRequest, reply: FastifyReply): string {
        const asked = (request.query as Record<string, string | undefined> | undefined)?.lang;
        const chosen = chooseLanguage({
          chosen: asked ?? cookieValue(request.headers.cookie, LANG_COOKIE),
          acceptLanguage: request.headers['accept-language'],
        });
        if (asked && asked === chosen)
          reply.header('set-cookie', `${LANG_COOKIE}=${chosen}; ${cookieFlags}; Max-Age=31536000`);
        return chosen;
      }

      const context = (request: FastifyRequest, reply: FastifyReply, secret: string): ConsoleContext =>
        consoleContext(language(request, reply), csrfTokenOf(secret));

      /** The session at one of these stages, else a redirect to where this browser belongs. */
      async function sessionFor(
        request: FastifyRequest,
        reply: FastifyReply,
        stages: readonly Stage[],
        form = false,
      ): Promise<StaffSession | null> {
        const session = await staff.findSession(cookieValue(request.headers.cookie, staff.cookieName));
        if (!session) {
          reply.redirect('/console/sign-in', 303);
          return null;
        }
        if (!stages.includes(session.stage)) {
          reply.redirect(NEXT[session.stage], 303);
          return null;
        }
        if (form) staff.checkCsrf(request, session, field(request.body, 'csrf'));
        return session;
      }

      const recent = (s: StaffSession) =>
        s.authenticatedAt.getTime() >= staff.clock().getTime() - RECENT_AUTH_MINUTES * 60_000;

      // The console is the single-page app; the pages here are its no-JavaScript fallback.
      scope.get('/console', options, async (_request, reply) => reply.redirect('/console/app/', 303));

      // --- Sign-in --------------------------------------------------------------------------

      scope.get('/console/sign-in', options, async (request, reply) => {
        const session = await staff.findSession(cookieValue(request.headers.cookie, staff.cookieName));
        if (session) return reply.redirect(NEXT[session.stage], 303);
        let pre = cookieValue(request.headers.cookie, PRE_COOKIE);
        if (!pre || !/^[A-Za-z0-9_-]{43}$/.test(pre)) {
          pre = randomBytes(32).toString('base64url');
          reply.header('set-cookie', `${PRE_COOKIE}=${pre}; ${cookieFlags}`);
        }
        // A link from an organisation may name it (for addresses with accounts in several).
        const organization = (request.query as Record<string, string | undefined>).organization;
        return page(
          reply,
          200,
          signInPage(context(request, reply, pre), {
            organization: organization && UUID.test(organization) ? organization : undefined,
          }),
        );
      });

      scope.post('/console/sign-in', throttled, async (request, reply) => {
        const pre = cookieValue(request.headers.cookie, PRE_COOKIE);
        if (!pre || !csrfMatches(pre, field(request.body, 'csrf')))
          return reply.redirect('/console/sign-in', 303);
        const c = context(request, reply, pre);
        const email = field(request.body, 'email').slice(0, 320);
        const organization = field(request.body, 'organization');
        const organizationId = UUID.test(organization) ? organization : undefined;
        let result;
        try {
          result = await staff.signIn(
            { email, password: field(request.body, 'password'), organizationId },
            clientOf(request),
          );
        } catch (err) {
          // Refused after the right password (SSO-only organisation, conditional access): said here.
          if (!(err instanceof SealpostError) || err.status !== 403) throw err;
          return page(reply, 403, signInPage(c, { error: err.message, email, organization: organizationId }));
        }
        if (!result.ok) {
          const error =
            result.reason === 'throttled'
              ? c.t('console.signin.throttled', { seconds: result.retryAfterSeconds ?? 1 })
              : c.t(`console.signin.${result.reason}`);
          if (result.retryAfterSeconds) reply.header('retry-after', String(result.retryAfterSeconds));
          const status = { invalid: 401, ambiguous: 409, throttled: 429 }[result.reason];
          return page(reply, status, signInPage(c, { error, email, organization: organizationId }));
        }
        reply.header('set-cookie', staff.sessionCookie(result.session.secret));
        await access?.recordSignIn(request, reply, result.session);
        return reply.redirect(NEXT[result.stage], 303);
      });

      // --- The second factor ----------------------------------------------------------------

      async function methodsOf(s: StaffSession): Promise<string[]> {
        const factors = await staff.factors(staff.deps.db, s.orgId, s.userId);
        const policy = await staff.policy(staff.deps.db, s.orgId);
        const passkeyOnly =
          StaffAuth.requirement(policy, s.role) === 'passkey' && factors.passkeys.length > 0;
        return [
          ...(factors.passkeys.length > 0 ? ['passkey'] : []),
          ...(!passkeyOnly && factors.totp ? ['totp'] : []),
          ...(!passkeyOnly && factors.recovery_codes_left > 0 ? ['recovery_code'] : []),
        ];
      }

      scope.get('/console/verify', options, async (request, reply) => {
        const s = await sessionFor(request, reply, ['second_factor']);
        if (!s) return reply;
        return page(
          reply,
          200,
          verifyPage(context(request, reply, s.secret), { methods: await methodsOf(s) }),
        );
      });

      scope.post('/console/verify', throttled, async (request, reply) => {
        const s = await sessionFor(request, reply, ['second_factor'], true);
        if (!s) return reply;
        const method = field(request.body, 'method') === 'recovery_code' ? 'recovery_code' : 'totp';
        const result = await staff.secondFactor(
          s,
          { method, code: field(request.body, 'code') },
          clientOf(request),
        );
        if (result.ok) return reply.redirect(NEXT[result.stage], 303);
        const c = context(request, reply, s.secret);
        const error = c.t(`console.verify.${result.reason}`);
        return page(
          reply,
          result.reason === 'invalid' ? 401 : 429,
          verifyPage(c, { methods: await methodsOf(s), error }),
        );
      });

      scope.post('/console/verify/passkey/options', throttled, async (request, reply) => {
        const s = await sessionFor(request, reply, ['second_factor'], true);
        if (!s) return reply;
        return reply.send(await staff.passkeyAuthenticationOptions(s));
      });

      scope.post('/console/verify/passkey', throttled, async (request, reply) => {
        const s = await sessionFor(request, reply, ['second_factor'], true);
        if (!s) return reply;
        const credential = parseCredential<AuthenticationResponseJSON>(
          parseJson(field(request.body, 'credential')),
        );
        const result = credential
          ? await staff.usePasskey(s, credential, clientOf(request))
          : ({ ok: false, reason: 'invalid' } as const);
        if (result.ok) return reply.redirect(NEXT[result.stage], 303);
        const c = context(request, reply, s.secret);
        return page(
          reply,
          401,
          verifyPage(c, { methods: await methodsOf(s), error: c.t(`console.verify.${result.reason}`) }),
        );
      });

      // --- Enrolment ------------------------------------------------------------------------

      async function showEnrol(
        request: FastifyRequest,
        reply: FastifyReply,
        s: StaffSession,
        extra: { totp?: { secret: string; uri: string }; error?: string; status?: number } = {},
      ) {
        const policy = await staff.policy(staff.deps.db, s.orgId);
        const factors = await staff.factors(staff.deps.db, s.orgId, s.userId);
        const c = context(request, reply, s.secret);
        if (!recent(s)) extra = { ...extra, error: c.t('console.reauth') };
        return page(
          reply,
          extra.status ?? 200,
          enrolPage(c, {
            required: StaffAuth.requirement(policy, s.role),
            factors,
            ...(extra.totp ? { totp: extra.totp } : {}),
            ...(extra.error ? { error: extra.error } : {}),
          }),
        );
      }

      scope.get('/console/enrol', options, async (request, reply) => {
        const s = await sessionFor(request, reply, ['enrol', 'active']);
        if (!s) return reply;
        return showEnrol(request, reply, s);
      });

      scope.post('/console/enrol/totp', options, async (request, reply) => {
        const s = await sessionFor(request, reply, ['enrol', 'active'], true);
        if (!s) return reply;
        if (!recent(s)) return showEnrol(request, reply, s, { status: 403 });
        try {
          return await showEnrol(request, reply, s, { totp: await staff.startTotp(s, 'Sealpost') });
        } catch (err) {
          if (err instanceof SealpostError && err.status === 409)
            return reply.redirect('/console/enrol', 303);
          throw err;
        }
      });

      scope.post('/console/enrol/totp/confirm', throttled, async (request, reply) => {
        const s = await sessionFor(request, reply, ['enrol', 'active'], true);
        if (!s) return reply;
        if (!recent(s)) return showEnrol(request, reply, s, { status: 403 });
        const result = await staff.confirmTotp(s, field(request.body, 'code'), clientOf(request));
        if (!result.ok) {
          const c = context(request, reply, s.secret);
          return showEnrol(request, reply, s, { error: c.t('console.enrol.totp.wrong'), status: 422 });
        }
        if (result.recoveryCodes)
          return page(reply, 200, recoveryCodesPage(context(request, reply, s.secret), result.recoveryCodes));
        return reply.redirect(NEXT[result.stage], 303);
      });

      scope.post('/console/enrol/passkey/options', throttled, async (request, reply) => {
        const s = await sessionFor(request, reply, ['enrol', 'active'], true);
        if (!s) return reply;
        if (!recent(s)) return reply.code(403).send({ code: 'reauthentication_required' });
        const { rows } = await staff.deps.db.query<{ name: string }>(
          'SELECT name FROM organizations WHERE org_id = $1',
          [s.orgId],
        );
        return reply.send(await staff.passkeyRegistrationOptions(s, rows[0]?.name ?? 'Sealpost'));
      });

      scope.post('/console/enrol/passkey', throttled, async (request, reply) => {
        const s = await sessionFor(request, reply, ['enrol', 'active'], true);
        if (!s) return reply;
        const c = context(request, reply, s.secret);
        const credential = parseCredential<RegistrationResponseJSON>(
          parseJson(field(request.body, 'credential')),
        );
        const result = credential
          ? await staff.addPasskey(s, credential, 'Passkey', clientOf(request))
          : null;
        if (!result?.ok)
          return showEnrol(request, reply, s, { error: c.t('console.enrol.passkey.failed'), status: 422 });
        if (result.recoveryCodes) return page(reply, 200, recoveryCodesPage(c, result.recoveryCodes));
        return reply.redirect(NEXT[result.stage], 303);
      });

      // --- Account security -----------------------------------------------------------------

      scope.get('/console/account', options, async (request, reply) => {
        const s = await sessionFor(request, reply, ['active']);
        if (!s) return reply;
        const [email, factors, sessions] = await Promise.all([
          staff.emailOf(staff.deps.db, s.orgId, s.userId),
          staff.factors(staff.deps.db, s.orgId, s.userId),
          staff.listSessions(s.orgId, s.userId),
        ]);
        const c = context(request, reply, s.secret);
        // What the last change did (a GET only shows it).
        const done = (request.query as Record<string, string | undefined>).done ?? '';
        return page(
          reply,
          200,
          accountPage(c, {
            email,
            role: s.role,
            factors,
            sessions: sessions.map((row) => ({ ...row, current: row.id === s.sessionId })),
            flash: FLASHES.includes(done) ? c.t(`console.account.${done}`) : undefined,
            error: ERRORS.includes(done) ? c.t(`console.account.${done}`) : undefined,
          }),
        );
      });

      // Removing a factor needs a recent sign-in: else the password again first.
      async function remove(
        request: FastifyRequest,
        reply: FastifyReply,
        factor: { kind: 'totp' } | { kind: 'passkey'; id: string },
      ) {
        const s = await sessionFor(request, reply, ['active'], true);
        if (!s) return reply;
        if (!recent(s)) return page(reply, 403, reauthPage(context(request, reply, s.secret), {}));
        try {
          const removed = await staff.removeFactor(s, factor, clientOf(request));
          return reply.redirect(`/console/account?done=${removed ? 'removed' : 'not_found'}`, 303);
        } catch (err) {
          if (err instanceof SealpostError && ERRORS.includes(err.code))
            return reply.redirect(`/console/account?done=${err.code}`, 303);
          throw err;
        }
      }

      scope.post('/console/factors/totp/remove', options, (request, reply) =>
        remove(request, reply, { kind: 'totp' }),
      );

      scope.post('/console/factors/passkeys/:id/remove', options, (request, reply) =>
        remove(request, reply, { kind: 'passkey', id: (request.params as { id: string }).id }),
      );

      scope.post('/console/reauthenticate', throttled, async (request, reply) => {
        const s = await sessionFor(request, reply, ['active'], true);
        if (!s) return reply;
        if (await staff.reauthenticate(s, field(request.body, 'password'), clientOf(request)))
          return reply.redirect('/console/account?done=reauthenticated', 303);
        const c = context(request, reply, s.secret);
        return page(reply, 401, reauthPage(c, { error: c.t('console.reauth.invalid') }));
      });

      scope.post('/console/sessions/:id/revoke', options, async (request, reply) => {
        const s = await sessionFor(request, reply, ['active'], true);
        if (!s) return reply;
        const id = (request.params as { id: string }).id;
        if (/^[0-9a-f-]{36}$/i.test(id))
          await staff.deps.db.transaction((tx) =>
            staff.revokeSession(tx, s.orgId, s.userId, id, 'revoked_by_user', clientOf(request)),
          );
        return reply.redirect(id === s.sessionId ? '/console/sign-in' : '/console/account', 303);
      });

      scope.post('/console/sign-out', options, async (request, reply) => {
        const s = await sessionFor(request, reply, ['second_factor', 'enrol', 'active'], true);
        if (!s) return reply;
        await staff.deps.db.transaction((tx) =>
          staff.revokeSession(tx, s.orgId, s.userId, s.sessionId, 'signed_out', clientOf(request)),
        );
        reply.header('set-cookie', staff.clearCookie());
        return reply.redirect('/console/sign-in', 303);
      });
    });
  };
}

function parseJson(text: string): unknown {
  if (!text || text.length > 20_000) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
