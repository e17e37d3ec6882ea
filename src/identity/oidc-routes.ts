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
import type { AccessControl } from './access.ts';
import { clientOf } from './auth-routes.ts';
import { readSso, secretBinding, viewOf, writeSso } from './oidc-config.ts';
import { provenDomains } from './oidc-domains.ts';
import { ssoDomainRoutes } from './oidc-domain-routes.ts';
import { failedPage, onwardPage } from './oidc-pages.ts';
import { SSO_COOKIE, type SingleSignOn } from './oidc.ts';
import { cookieValue, csrfTokenOf, type Stage, StaffAuth } from './staff-auth.ts';

// Single sign-on over HTTP: an organisation's settings (GET/PUT /v1/sso, owners only to change:
// whoever sets the provider decides who signs in as anyone), its proven domains
// (oidc-domain-routes.ts), the way to the provider (/v1/auth/sso/start for links and scripts,
// /console/sso for the sign-in page's form) and the way back (/v1/auth/sso/callback), which ends in
// the same staff session as a password sign-in.

const NEXT: Record<Stage, string> = {
  second_factor: '/console/verify',
  enrol: '/console/enrol',
  active: '/console/account',
};

const Mapping = Type.Object(
  {
    value: Type.String({ minLength: 1, maxLength: 200, description: 'A value of the role claim.' }),
    role: Type.String({ minLength: 1, maxLength: 100, description: 'A role of this organisation.' }),
  },
  { additionalProperties: false },
);
const Settings = {
  slug: Nullable(
    Type.String({
      pattern: '^[a-z0-9][a-z0-9-]{1,62}$',
      description: 'A short name for sign-in links: /v1/auth/sso/start?org=<slug>.',
    }),
  ),
  enabled: Type.Boolean(),
  issuer: Type.String({
    maxLength: 500,
    description: "The provider's issuer URL, as its /.well-known/openid-configuration names it.",
  }),
  client_id: Type.String({ minLength: 1, maxLength: 500 }),
  role_claim: Type.String({
    minLength: 1,
    maxLength: 100,
    description: 'The claim that carries groups or roles (default "groups").',
  }),
  role_mappings: Type.Array(Mapping, {
    maxItems: 100,
    description: 'Claim value to role, the first match wins; applied at every sign-in (never to owners).',
  }),
  default_role: Nullable(
    Type.String({
      maxLength: 100,
      description:
        'The role of users made at their first sign-in when no mapping matches; null: only existing users (or mapped ones) sign in.',
    }),
  ),
  password_sign_in: Type.Boolean({
    description:
      'false: SSO-only (passwords refused, but for owners). Allowed once an SSO sign-in with this issuer and client worked.',
  }),
  trust_provider_mfa: Type.Boolean({
    description:
      'true: a sign-in whose ID token says amr "mfa" needs no second factor here (unless policy requires a passkey). false (the default, and again whenever the issuer or client changes): users who enrolled a factor present it after single sign-on. Owners always present their own.',
  }),
};
const SsoView = Type.Object({
  ...Settings,
  allowed_domains: Type.Array(Type.String(), {
    description:
      'The proven domains (GET /v1/sso/domains): only verified addresses in these sign in, and only these find the organisation by address.',
  }),
  client_secret_set: Type.Boolean({ description: 'The secret itself is sealed and never shown.' }),
  redirect_uri: Type.String({ description: "Register this as the client's redirect URI at the provider." }),
  last_success_at: Nullable(DateTime),
  updated_at: DateTime,
});
const SsoChange = Type.Partial(
  Type.Object({
    ...Settings,
    client_secret: Type.String({ minLength: 1, maxLength: 2000, writeOnly: true }),
  }),
  { additionalProperties: false },
);
const SignedIn = Type.Object({
  status: Type.Union([Type.Literal('second_factor'), Type.Literal('enrol'), Type.Literal('active')]),
  csrf_token: Type.String(),
  methods: Type.Array(Type.String()),
  requirement: Type.Union([Type.Literal('none'), Type.Literal('any'), Type.Literal('passkey')]),
  expires_at: DateTime,
});

const wantsJson = (request: FastifyRequest) => {
  const accept = request.headers.accept ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
};
const languageOf = (request: FastifyRequest) =>
  chooseLanguage({ acceptLanguage: request.headers['accept-language'] });

function html(reply: FastifyReply, status: number, body: { value: string }) {
  return reply.code(status).type('text/html; charset=utf-8').send(body.value);
}

export function ssoRoutes(sso: SingleSignOn, access?: AccessControl) {
  const staff = sso.staff;
  return async (app: HttpServer) => {
    await ssoDomainRoutes(sso)(app);

    app.get(
      '/v1/sso',
      {
        config: { scope: 'policy:read' },
        schema: {
          tags: ['single sign-on'],
          summary: "The organisation's single sign-on settings (never the client secret)",
          response: { 200: SsoView, 404: Problem },
        },
      },
      async (request) => {
        const stored = await readSso(staff.deps.db, request.auth.orgId);
        if (!stored) throw errors.notFound('Single sign-on');
        return viewOf(stored, sso.redirectUri, await provenDomains(staff.deps.db, request.auth.orgId));
      },
    );

    app.put(
      '/v1/sso',
      {
        config: { scope: 'sso:manage', recentAuth: true },
        schema: {
          tags: ['single sign-on'],
          summary: "Set the organisation's single sign-on (OpenID Connect; owners, with a recent sign-in)",
          description:
            'The first call gives issuer, client_id and client_secret; later ones change what they name. The client secret is sealed at rest and never returned. Who signs in is decided by the proven domains (POST /v1/sso/domains). An issuer whose host has an address the operator does not let Sealpost reach (loopback, private, link-local) is refused: 422 sso_issuer_forbidden.',
          body: SsoChange,
          response: { 200: SsoView, 403: Problem, 409: Problem, 422: Problem },
        },
      },
      async (request) => {
        staff.recentAuth(request);
        const orgId = request.auth.orgId;
        const secret = request.body.client_secret;
        // Before the transaction: it resolves the issuer's host.
        if (request.body.issuer !== undefined) await sso.checkIssuerHost(request.body.issuer);
        const sealed =
          secret === undefined ? undefined : await sso.deps.keyring.seal(orgId, secretBinding(orgId), secret);
        const domains = await provenDomains(staff.deps.db, orgId);
        return staff.deps.db.transaction(async (tx) => {
          const { stored, changed } = await writeSso(tx, orgId, request.body, sealed, sso.clock());
          await staff.deps.audit(tx, {
            ...auditContext(request),
            action: 'sso.configured',
            objectType: 'organization',
            objectId: request.auth.orgId,
            outcome: 'success',
            details: {
              changed: changed.join(' '),
              enabled: stored.enabled,
              password_sign_in: stored.password_sign_in,
              trust_provider_mfa: stored.trust_provider_mfa,
              provisioning: stored.default_role !== null,
            },
          });
          return viewOf(stored, sso.redirectUri, domains);
        });
      },
    );

    const StartQuery = Type.Object(
      {
        org: Type.Optional(
          Type.String({ minLength: 1, maxLength: 64, description: 'Organisation id or slug.' }),
        ),
        email: Type.Optional(
          Type.String({ minLength: 3, maxLength: 320, description: "Found by this address's domain." }),
        ),
      },
      { additionalProperties: false },
    );

    app.get(
      '/v1/auth/sso/start',
      {
        config: { public: true, rateLimit: { max: 60, timeWindow: 60_000 } },
        schema: {
          tags: ['single sign-on'],
          summary: "Go to the organisation's identity provider (a redirect)",
          description:
            'Named by org (id or slug) or found by the domain of email. Sets a short-lived cookie that binds the sign-in to this browser.',
          security: [],
          querystring: StartQuery,
          response: {
            303: Type.Null({ description: 'To the provider.' }),
            400: Problem,
            404: Problem,
            409: Problem,
            502: Problem,
          },
        },
      },
      async (request, reply) => {
        const { org, email } = request.query;
        if (!org && !email) throw errors.validation('Give org (id or slug) or email.');
        const { location, cookie } = await sso.start({ org, email }, clientOf(request));
        reply.header('set-cookie', sso.transactionCookie(cookie));
        return reply.redirect(location, 303);
      },
    );

    // The sign-in page's form: a page that goes on by itself, since a redirect answering a form
    // would have to pass the page's CSP form-action, which names this origin only.
    app.get(
      '/console/sso',
      { config: { public: true, rateLimit: { max: 60, timeWindow: 60_000 } }, schema: { hide: true } },
      async (request, reply) => {
        const query = request.query as Record<string, unknown>;
        const org = typeof query.org === 'string' && query.org ? query.org.slice(0, 64) : undefined;
        const email = typeof query.email === 'string' && query.email ? query.email.slice(0, 320) : undefined;
        const language = languageOf(request);
        try {
          if (!org && !email) throw errors.validation('Give your work email address.');
          const { location, cookie } = await sso.start({ org, email }, clientOf(request));
          reply.header('set-cookie', sso.transactionCookie(cookie));
          return html(reply, 200, onwardPage(language, 'continue', location));
        } catch (err) {
          if (!(err instanceof SealpostError)) throw err;
          return html(reply, err.status, failedPage(language, err.message));
        }
      },
    );

    app.get(
      '/v1/auth/sso/callback',
      {
        config: { public: true, rateLimit: { max: 60, timeWindow: 60_000 } },
        schema: {
          tags: ['single sign-on'],
          summary: 'Where the identity provider sends the browser back; sets the session cookie',
          description:
            'Checked by openid-client: state, PKCE, the ID token (issuer, audience, signature, nonce). Needs email_verified and an address in a proven domain. Answers a page that goes on to the console, or JSON when asked for it (Accept: application/json).',
          security: [],
          querystring: Type.Object({}, { additionalProperties: Type.String({ maxLength: 4096 }) }),
          response: { 200: SignedIn, 403: Problem, 404: Problem, 502: Problem },
        },
      },
      async (request, reply) => {
        const language = languageOf(request);
        // The sign-in is used up whatever happens: the browser's cookie goes too.
        reply.header('set-cookie', sso.transactionCookie('', 0));
        let result;
        try {
          result = await sso.callback(
            new URL(request.url, sso.redirectUri),
            cookieValue(request.headers.cookie, SSO_COOKIE),
            clientOf(request),
          );
        } catch (err) {
          if (wantsJson(request) || !(err instanceof SealpostError)) throw err;
          return html(reply, err.status, failedPage(language, err.message));
        }
        reply.header('set-cookie', staff.sessionCookie(result.session.secret));
        await access?.recordSignIn(request, reply, result.session);
        if (!wantsJson(request)) return html(reply, 200, onwardPage(language, 'done', NEXT[result.stage]));
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
  };
}
