import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { normalizeDomain } from '../domains/index.ts';
import { errors } from '../errors/index.ts';
import {
  auditContext,
  DateTime,
  Nullable,
  ProblemSchema as Problem,
  type HttpServer,
} from '../http/index.ts';
import {
  checkSsoDomain,
  claimSsoDomain,
  listSsoDomains,
  recordSsoCheck,
  releaseSsoDomain,
} from './oidc-domains.ts';
import type { SingleSignOn } from './oidc.ts';

// The domains an organisation proves for single sign-on, over HTTP: claim one (a token to publish
// in DNS), verify it, give it up. Changing them is for those who may set single sign-on (owners),
// with a recent sign-in: a proven domain decides which accounts the provider signs into.

const SsoDomain = Type.Object({
  domain: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('verified')]),
  proof: Nullable(
    Type.Union([Type.Literal('dns_txt'), Type.Literal('sending_domain')], {
      description:
        'dns_txt: the record below was found; sending_domain: a verified sending domain of this organisation.',
    }),
  ),
  record: Type.Object(
    { type: Type.Literal('TXT'), name: Type.String(), value: Type.String() },
    {
      description: 'Publish this to prove the domain (not needed when it is a verified sending domain here).',
    },
  ),
  created_at: DateTime,
  last_checked_at: Nullable(DateTime),
  verified_at: Nullable(DateTime),
});
const Checked = Type.Object({
  ...SsoDomain.properties,
  detail: Nullable(Type.String({ description: 'Why the domain is not proven yet.' })),
  found: Type.Array(Type.String(), { description: 'The TXT values found at the record name.' }),
});
const Params = Type.Object({ domain: Type.String({ maxLength: 253 }) });

const domainOf = (given: string) => {
  const domain = normalizeDomain(given);
  if (!domain) throw errors.validation(`"${given.slice(0, 253)}" is not a domain name.`);
  return domain;
};

export function ssoDomainRoutes(sso: SingleSignOn) {
  const { db } = sso.deps;
  const audit = (
    request: FastifyRequest,
    action: string,
    domain: string,
    details?: Record<string, string>,
  ) => ({
    ...auditContext(request),
    action,
    objectType: 'sso_domain',
    objectId: domain,
    outcome: action.endsWith('_failed') ? ('failure' as const) : ('success' as const),
    ...(details ? { details } : {}),
  });

  return async (app: HttpServer) => {
    app.get(
      '/v1/sso/domains',
      {
        config: { scope: 'policy:read' },
        schema: {
          tags: ['single sign-on'],
          summary: 'The domains claimed for single sign-on, proven or not, with the record that proves each',
          response: { 200: Type.Object({ data: Type.Array(SsoDomain) }) },
        },
      },
      async (request) => ({ data: await listSsoDomains(db, request.auth.orgId) }),
    );

    app.post(
      '/v1/sso/domains',
      {
        config: { scope: 'sso:manage', recentAuth: true },
        schema: {
          tags: ['single sign-on'],
          summary: 'Claim a domain for single sign-on: the TXT record to publish (owners, recent sign-in)',
          description:
            'Claiming again answers the same claim. A domain another organisation has proven is refused (409 sso_domain_taken). Prove it with POST /v1/sso/domains/{domain}/verify.',
          body: Type.Object(
            { domain: Type.String({ minLength: 1, maxLength: 253 }) },
            { additionalProperties: false },
          ),
          response: { 200: SsoDomain, 201: SsoDomain, 403: Problem, 409: Problem, 422: Problem },
        },
      },
      async (request, reply) => {
        sso.staff.recentAuth(request);
        const domain = domainOf(request.body.domain);
        return db.transaction(async (tx) => {
          const { claim, created } = await claimSsoDomain(tx, request.auth.orgId, domain, sso.clock());
          if (created) await sso.deps.audit(tx, audit(request, 'sso.domain_claimed', domain));
          reply.code(created ? 201 : 200);
          return claim;
        });
      },
    );

    app.post(
      '/v1/sso/domains/:domain/verify',
      {
        config: { scope: 'sso:manage', recentAuth: true },
        schema: {
          tags: ['single sign-on'],
          summary:
            'Prove a claimed domain now: its TXT record, or a verified sending domain of this organisation',
          description:
            'Answers the claim with what was found. Once proven, verified addresses of the domain sign in through the provider and the sign-in page finds this organisation by them.',
          params: Params,
          response: { 200: Checked, 403: Problem, 404: Problem, 409: Problem, 422: Problem },
        },
      },
      async (request) => {
        sso.staff.recentAuth(request);
        const orgId = request.auth.orgId;
        const domain = domainOf(request.params.domain);
        // DNS first, outside any transaction.
        const check = await checkSsoDomain({ db, resolver: sso.resolver }, orgId, domain);
        const now = sso.clock();
        if (check.claim.status === 'verified') return { ...check.claim, detail: null, found: check.found };
        await db.transaction(async (tx) => {
          const proven = await recordSsoCheck(tx, orgId, domain, check.proof, now);
          if (proven)
            await sso.deps.audit(tx, audit(request, 'sso.domain_verified', domain, { proof: check.proof! }));
          else if (!check.proof)
            await sso.deps.audit(tx, audit(request, 'sso.domain_verification_failed', domain));
        });
        const [claim] = await listSsoDomains(db, orgId, domain);
        if (!claim) throw errors.notFound('The single sign-on domain');
        return { ...claim, detail: check.detail, found: check.found };
      },
    );

    app.delete(
      '/v1/sso/domains/:domain',
      {
        config: { scope: 'sso:manage', recentAuth: true },
        schema: {
          tags: ['single sign-on'],
          summary:
            'Give a domain up: its addresses no longer sign in here, and another organisation may prove it',
          params: Params,
          response: { 204: Type.Null(), 403: Problem, 404: Problem, 422: Problem },
        },
      },
      async (request, reply) => {
        sso.staff.recentAuth(request);
        const domain = domainOf(request.params.domain);
        await db.transaction(async (tx) => {
          const claim = await releaseSsoDomain(tx, request.auth.orgId, domain);
          await sso.deps.audit(tx, audit(request, 'sso.domain_released', domain, { was: claim.status }));
        });
        reply.code(204);
      },
    );
  };
}
