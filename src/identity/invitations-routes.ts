import { randomBytes } from 'node:crypto';
import formbody from '@fastify/formbody';
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
import { chooseLanguage } from '../i18n/index.ts';
import { PASSWORD_MAX, PASSWORD_MIN_SINGLE_FACTOR } from '../passwords/index.ts';
import { clientOf } from './auth-routes.ts';
import { consoleContext } from './console-pages.ts';
import { inviteInvalidPage, invitePage } from './invitations-pages.ts';
import {
  acceptInvitation,
  createInvitation,
  findInvitation,
  invitationExists,
  invitationExpiry,
  invitationLink,
  listInvitations,
  newInvitation,
  revokeInvitation,
} from './invitations.ts';
import { invitationLetter, queueStaffMail, sealStaffMail, staffMailDomain } from './lifecycle-mail.ts';
import type { LifecycleDeps } from './lifecycle-routes.ts';
import { ssoOnly } from './oidc-config.ts';
import { assertWithin, permissionsOf } from './roles.ts';
import { cookieValue, csrfMatches, csrfTokenOf } from './staff-auth.ts';

// Invitations over the API (create, list, revoke, accept) and the page the invitation's link opens.

const InvitationSchema = Type.Object({
  id: Type.String(),
  email: Type.String(),
  role: Type.String(),
  status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('accepted'),
    Type.Literal('expired'),
    Type.Literal('revoked'),
    Type.Literal('replaced'),
  ]),
  invited_by: Type.Object({ type: Type.String(), id: Type.String() }),
  created_at: DateTime,
  expires_at: DateTime,
  accepted_at: Nullable(DateTime),
  accepted_user_id: Nullable(Type.String()),
});

const INVITE_COOKIE = 'sealpost_console_invite';
const NEXT = {
  second_factor: '/console/verify',
  enrol: '/console/enrol',
  active: '/console/account',
} as const;

const weakPassword = (problem: string) =>
  new SealpostError('weak_password', `The password is refused: ${problem}.`, { details: { problem } });

async function roleName(deps: LifecycleDeps, orgId: string, role: string): Promise<string> {
  const { rows } = await deps.db.query<{ name: string }>(
    'SELECT name FROM org_roles WHERE org_id = $1 AND role_id::text = $2',
    [orgId, role],
  );
  return rows[0]?.name ?? role.replaceAll('_', ' ');
}

export function invitationRoutes(deps: LifecycleDeps) {
  return async (app: HttpServer) => {
    app.post(
      '/v1/invitations',
      {
        config: { scope: 'users:manage', recentAuth: true },
        schema: {
          tags: ['users'],
          summary:
            'Invite someone by email to join with a role (replaces an open invitation to the same address)',
          description:
            'The mail carries a link that works once, for 7 days, where the person sets their password. It is sent from no-reply@ the organisation’s first verified sending domain. Needs a recent sign-in; you can invite only to a role whose permissions you hold.',
          body: Type.Object(
            {
              email: Type.String({ minLength: 3, maxLength: 320 }),
              role: Type.String({ minLength: 1, maxLength: 64 }),
            },
            { additionalProperties: false },
          ),
          response: { 201: InvitationSchema, 403: Problem, 409: Problem, 422: Problem },
        },
      },
      async (request, reply) => {
        const { orgId } = request.auth;
        const { email, role } = request.body;
        const now = deps.clock();
        assertWithin(await permissionsOf(deps.db, orgId, role), request.auth.scopes, 'This role');
        const domain = await staffMailDomain(deps.db, orgId);
        if (!domain)
          throw errors.conflict(
            'no_sending_domain',
            'Invitations are mailed from the organisation’s sending domain: add and verify one first (/v1/domains).',
          );
        const { rows } = await deps.db.query<{ name: string }>(
          'SELECT name FROM organizations WHERE org_id = $1',
          [orgId],
        );
        const fresh = newInvitation();
        const letter = invitationLetter({
          org: rows[0]?.name ?? 'Sealpost',
          link: invitationLink(deps.publicUrl, fresh.token),
          expiresAt: invitationExpiry(now),
          role: await roleName(deps, orgId, role),
        });
        const mail = await sealStaffMail(deps.keyring, orgId, email.trim(), letter);
        const created = await deps.db.transaction(async (tx) => {
          const result = await createInvitation(tx, {
            orgId,
            ...fresh,
            email,
            role,
            invitedBy: request.auth.actor,
            now,
          });
          await queueStaffMail(tx, deps.queue, orgId, 'invitation', [mail], now);
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'invitation.created',
            objectType: 'invitation',
            objectId: result.invitation.id,
            outcome: 'success',
            details: {
              role,
              expires_at: result.invitation.expires_at.toISOString(),
              replaced: result.replaced,
            },
          });
          return result.invitation;
        });
        reply.code(201);
        return created;
      },
    );

    app.get(
      '/v1/invitations',
      {
        config: { scope: 'users:read' },
        schema: {
          tags: ['users'],
          summary: 'Invitations, newest first (never their links)',
          response: { 200: Type.Object({ data: Type.Array(InvitationSchema) }) },
        },
      },
      async (request) => ({ data: await listInvitations(deps.db, request.auth.orgId, deps.clock()) }),
    );

    app.delete(
      '/v1/invitations/:id',
      {
        config: { scope: 'users:manage' },
        schema: {
          tags: ['users'],
          summary: 'Revoke an invitation: its link stops working at once',
          params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
          response: { 204: Type.Null(), 404: Problem, 409: Problem },
        },
      },
      async (request, reply) => {
        const { orgId } = request.auth;
        const { id } = request.params;
        const revoked = await deps.db.transaction(async (tx) => {
          if (!(await revokeInvitation(tx, orgId, id, deps.clock()))) return false;
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'invitation.revoked',
            objectType: 'invitation',
            objectId: id,
            outcome: 'success',
          });
          return true;
        });
        if (!revoked) {
          if (!(await invitationExists(deps.db, orgId, id))) throw errors.notFound('The invitation');
          throw errors.conflict(
            'invitation_closed',
            'This invitation was already accepted, revoked or replaced.',
          );
        }
        reply.code(204);
      },
    );

    app.post(
      '/v1/invitations/accept',
      {
        config: { public: true, rateLimit: { max: 30, timeWindow: 60_000 } },
        schema: {
          tags: ['users'],
          summary: 'Accept an invitation with its token and a password: the user is created',
          description:
            'NIST SP 800-63B rev. 4: at least 15 characters (the password is the only factor until one is enrolled), up to 256; common passwords and the address refused. Then sign in (POST /v1/auth/sign-in); policy may ask for a second factor.',
          body: Type.Object(
            {
              token: Type.String({ minLength: 1, maxLength: 100 }),
              password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX * 4 }),
              display_name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Object({
              user_id: Type.String(),
              organization_id: Type.String(),
              email: Type.String(),
            }),
            404: Problem,
            409: Problem,
            422: Problem,
          },
        },
      },
      async (request, reply) => {
        const result = await acceptInvitation(
          { db: deps.db, audit: deps.audit, now: deps.clock() },
          {
            token: request.body.token,
            password: request.body.password,
            displayName: request.body.display_name,
          },
          { ip: request.ip, requestId: request.id },
        );
        if (!result.ok) throw weakPassword(result.problem);
        reply.code(201);
        return { user_id: result.userId, organization_id: result.orgId, email: result.email };
      },
    );

    // --- The page -----------------------------------------------------------------------------

    await app.register(async (scope) => {
      await scope.register(formbody);
      const throttled = {
        config: { public: true, rateLimit: { max: 30, timeWindow: 60_000 } },
        schema: { hide: true },
      } as const;
      const staff = deps.staff;
      const cookieFlags = `Path=/console/invite; HttpOnly; SameSite=Strict${staff.secureCookies ? '; Secure' : ''}`;

      const language = (request: FastifyRequest) =>
        chooseLanguage({
          chosen: (request.query as Record<string, string | undefined> | undefined)?.lang,
          acceptLanguage: request.headers['accept-language'],
        });

      function send(reply: FastifyReply, status: number, body: { value: string }) {
        return reply.code(status).type('text/html; charset=utf-8').send(body.value);
      }

      /** The form's CSRF key: a random secret in a cookie scoped to the invitation pages. */
      function preSecret(request: FastifyRequest, reply: FastifyReply): string {
        let pre = cookieValue(request.headers.cookie, INVITE_COOKIE);
        if (!pre || !/^[A-Za-z0-9_-]{43}$/.test(pre)) {
          pre = randomBytes(32).toString('base64url');
          reply.header('set-cookie', `${INVITE_COOKIE}=${pre}; ${cookieFlags}`);
        }
        return pre;
      }

      const form = (body: unknown, name: string) => {
        const value = (body as Record<string, unknown> | undefined)?.[name];
        return typeof value === 'string' ? value : '';
      };

      scope.get<{ Params: { token: string } }>(
        '/console/invite/:token',
        throttled,
        async (request, reply) => {
          const c = consoleContext(language(request), csrfTokenOf(preSecret(request, reply)));
          const found = await findInvitation(deps.db, request.params.token, deps.clock());
          if (!found) return send(reply, 404, inviteInvalidPage(c));
          const sso = (await ssoOnly(deps.db, found.orgId)) ? found.orgId : undefined;
          return send(
            reply,
            200,
            invitePage(c, {
              org: found.orgName,
              email: found.email,
              expiresAt: found.expiresAt,
              min: PASSWORD_MIN_SINGLE_FACTOR,
              max: PASSWORD_MAX,
              ...(sso ? { sso } : {}),
            }),
          );
        },
      );

      scope.post<{ Params: { token: string } }>(
        '/console/invite/:token',
        throttled,
        async (request, reply) => {
          const pre = cookieValue(request.headers.cookie, INVITE_COOKIE);
          const token = request.params.token;
          if (!pre || !csrfMatches(pre, form(request.body, 'csrf')))
            return reply.redirect(`/console/invite/${encodeURIComponent(token)}`, 303);
          const c = consoleContext(language(request), csrfTokenOf(pre));
          const found = await findInvitation(deps.db, token, deps.clock());
          if (!found) return send(reply, 404, inviteInvalidPage(c));
          const password = form(request.body, 'password');
          let result;
          try {
            result = await acceptInvitation(
              { db: deps.db, audit: deps.audit, now: deps.clock() },
              { token, password, passwordAgain: form(request.body, 'again') },
              { ip: request.ip, requestId: request.id },
            );
          } catch (err) {
            if (err instanceof SealpostError && err.code === 'invitation_invalid')
              return send(reply, 404, inviteInvalidPage(c));
            // Passwords were turned off since the page was shown: it now offers single sign-on.
            if (err instanceof SealpostError && err.code === 'sso_required')
              return reply.redirect(`/console/invite/${encodeURIComponent(token)}`, 303);
            throw err;
          }
          if (!result.ok)
            return send(
              reply,
              422,
              invitePage(c, {
                org: found.orgName,
                email: found.email,
                expiresAt: found.expiresAt,
                min: PASSWORD_MIN_SINGLE_FACTOR,
                max: PASSWORD_MAX,
                error: c.t(`account.${result.problem}`, {
                  min: PASSWORD_MIN_SINGLE_FACTOR,
                  max: PASSWORD_MAX,
                }),
              }),
            );
          // Straight on to sign-in: the same path as the sign-in page, so policy (a second factor to
          // enrol, allowed networks) applies from the first minute.
          const signIn = await staff
            .signIn({ email: result.email, password, organizationId: result.orgId }, clientOf(request))
            .catch(() => null);
          if (!signIn?.ok) return reply.redirect(`/console/sign-in?organization=${result.orgId}`, 303);
          reply.header('set-cookie', staff.sessionCookie(signIn.session.secret));
          return reply.redirect(NEXT[signIn.stage], 303);
        },
      );
    });
  };
}
