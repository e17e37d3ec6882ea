import { Type } from 'typebox';
import type { AuditInput } from '../audit/index.ts';
import type { Keyring } from '../crypto/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { auditContext, DateTime, Nullable, ProblemSchema, type HttpServer } from '../http/index.ts';
import { normalizeDomain } from './records.ts';
import { promotePendingKeys, publishedPendingKeys, rotationPending, startRotation } from './rotation.ts';
import { addDomain, listDomains, prepareDomain, recordCheck } from './store.ts';
import { checkDomain, createResolver } from './verify.ts';

export interface DomainDeps {
  db: Db;
  keyring: Keyring;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  dnsServers?: string[];
  mailHostname: string;
  /** SEALPOST_OUTBOUND_ADDRESSES: what SPF must authorise, when not the mail hostname's addresses. */
  outboundAddresses?: string[];
  clock?: () => Date;
}

const Record = Type.Object({
  type: Type.Literal('TXT'),
  name: Type.String(),
  value: Type.String(),
  purpose: Type.Union([
    Type.Literal('dkim'),
    Type.Literal('spf'),
    Type.Literal('dmarc'),
    Type.Literal('mta-sts'),
    Type.Literal('tls-rpt'),
  ]),
  required: Type.Boolean(),
  remove_after: Type.Optional(DateTime),
  note: Type.Optional(Type.String()),
});

const Check = Type.Object({
  verified: Type.Boolean(),
  checked_at: DateTime,
  missing: Type.Array(Type.String()),
  records: Type.Array(
    Type.Intersect([
      Record,
      Type.Object({
        status: Type.Union([
          Type.Literal('ok'),
          Type.Literal('missing'),
          Type.Literal('mismatch'),
          Type.Literal('error'),
        ]),
        detail: Type.Optional(Type.String()),
        found: Type.Array(Type.String()),
        spf_results: Type.Optional(
          Type.Array(
            Type.Object({
              address: Type.String({ description: 'An address Sealpost sends from.' }),
              result: Type.Union(
                [
                  Type.Literal('pass'),
                  Type.Literal('fail'),
                  Type.Literal('softfail'),
                  Type.Literal('neutral'),
                  Type.Literal('none'),
                  Type.Literal('permerror'),
                  Type.Literal('temperror'),
                ],
                { description: 'What receivers make of mail from this address (RFC 7208).' },
              ),
            }),
            { description: 'SPF only: the record evaluated for each address Sealpost sends from.' },
          ),
        ),
        suggested_value: Type.Optional(
          Type.String({
            description:
              'SPF only, when it does not pass: a record that does (the one found with Sealpost added), to publish in its place.',
          }),
        ),
      }),
    ]),
  ),
});

const DkimKey = Type.Object({
  selector: Type.String(),
  algorithm: Type.Union([Type.Literal('rsa-sha256'), Type.Literal('ed25519-sha256')]),
  status: Type.Union([Type.Literal('pending'), Type.Literal('active'), Type.Literal('retired')], {
    description:
      'active keys sign; pending ones start once their records are found; retired ones no longer do.',
  }),
  created_at: DateTime,
  retired_at: Nullable(DateTime),
});

const Domain = Type.Object({
  domain: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('verified')]),
  created_at: DateTime,
  verified_at: Nullable(DateTime),
  last_checked_at: Nullable(DateTime),
  dkim: Type.Array(DkimKey),
  records: Type.Array(Record, { description: 'The DNS records to publish.' }),
  last_check: Nullable(Check),
});

const Params = Type.Object({ domain: Type.String({ maxLength: 253 }) });

export function domainRoutes(deps: DomainDeps) {
  const resolver = createResolver(deps.dnsServers);
  const sender = { hostname: deps.mailHostname, addresses: deps.outboundAddresses ?? [] };
  const clock = deps.clock ?? (() => new Date());
  const find = async (orgId: string, domain: string) => {
    const normalized = normalizeDomain(domain);
    const found = normalized ? await listDomains(deps.db, orgId, sender, clock(), normalized) : [];
    if (!found[0]) throw errors.notFound('The sending domain');
    return found[0];
  };

  return async (app: HttpServer) => {
    app.post(
      '/v1/domains',
      {
        config: { scope: 'domains:manage' },
        schema: {
          tags: ['domains'],
          summary: 'Add a sending domain: creates its DKIM keys and lists the DNS records to publish',
          body: Type.Object(
            { domain: Type.String({ minLength: 1, maxLength: 253 }) },
            { additionalProperties: false },
          ),
          response: { 201: Domain, 409: ProblemSchema, 422: ProblemSchema },
        },
      },
      async (request, reply) => {
        const domain = normalizeDomain(request.body.domain);
        if (!domain) throw errors.validation(`"${request.body.domain}" is not a domain name.`);
        const prepared = await prepareDomain(deps.keyring, request.auth.orgId, domain);
        await deps.db.transaction(async (tx) => {
          await addDomain(tx, request.auth.orgId, prepared);
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'domain.created',
            objectType: 'domain',
            objectId: domain,
            outcome: 'success',
          });
        });
        reply.code(201);
        return find(request.auth.orgId, domain);
      },
    );

    app.get(
      '/v1/domains',
      {
        config: { scope: 'domains:read' },
        schema: {
          tags: ['domains'],
          summary: 'Sending domains with their DNS records and last check',
          response: { 200: Type.Object({ data: Type.Array(Domain) }) },
        },
      },
      async (request) => ({
        data: await listDomains(deps.db, request.auth.orgId, sender, clock()),
      }),
    );

    app.get(
      '/v1/domains/:domain',
      {
        config: { scope: 'domains:read' },
        schema: {
          tags: ['domains'],
          summary: 'One sending domain',
          params: Params,
          response: { 200: Domain, 404: ProblemSchema },
        },
      },
      async (request) => find(request.auth.orgId, request.params.domain),
    );

    app.post(
      '/v1/domains/:domain/verify',
      {
        config: { scope: 'domains:manage' },
        schema: {
          tags: ['domains'],
          summary:
            'Check the DNS records now; says which are missing or wrong. Once the keys of a pending DKIM rotation are found, they sign from then on',
          params: Params,
          response: { 200: Domain, 404: ProblemSchema },
        },
      },
      async (request) => {
        const current = await find(request.auth.orgId, request.params.domain);
        const now = clock();
        const check = await checkDomain(resolver, current.records, sender, now);
        const published = publishedPendingKeys(current, check);
        await deps.db.transaction(async (tx) => {
          await recordCheck(tx, request.auth.orgId, current.domain, check);
          await deps.audit(tx, {
            ...auditContext(request),
            action: check.verified ? 'domain.verified' : 'domain.verification_failed',
            objectType: 'domain',
            objectId: current.domain,
            outcome: check.verified ? 'success' : 'failure',
            details: { missing: check.missing.length },
          });
          if (published.length === 0) return;
          const rotated = await promotePendingKeys(tx, request.auth.orgId, current.domain, published, now);
          if (!rotated) return;
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'domain.dkim_rotated',
            objectType: 'domain',
            objectId: current.domain,
            outcome: 'success',
            details: { active: rotated.active, retired: rotated.retired },
          });
        });
        return find(request.auth.orgId, current.domain);
      },
    );

    app.post(
      '/v1/domains/:domain/dkim/rotate',
      {
        config: { scope: 'domains:manage' },
        schema: {
          tags: ['domains'],
          summary:
            'Start a DKIM key rotation: new keys to publish next to the current ones, which sign until a verification finds the new records',
          params: Params,
          response: { 200: Domain, 404: ProblemSchema, 409: ProblemSchema },
        },
      },
      async (request) => {
        const current = await find(request.auth.orgId, request.params.domain);
        if (current.dkim.some((k) => k.status === 'pending')) throw rotationPending(current.domain);
        const prepared = await prepareDomain(deps.keyring, request.auth.orgId, current.domain);
        await deps.db.transaction(async (tx) => {
          await startRotation(tx, request.auth.orgId, prepared);
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'domain.dkim_rotation_started',
            objectType: 'domain',
            objectId: current.domain,
            outcome: 'success',
            details: { pending: prepared.keys.map((k) => k.selector) },
          });
        });
        return find(request.auth.orgId, current.domain);
      },
    );
  };
}
