import { Type } from 'typebox';
import { errors } from '../errors/index.ts';
import {
  auditContext,
  DateTime,
  Nullable,
  ProblemSchema as Problem,
  type HttpServer,
} from '../http/index.ts';
import {
  createApiKey,
  getApiKey,
  listApiKeys,
  requireHeldScopes,
  revokeApiKey,
  updateApiKey,
} from './api-keys.ts';
import { PERMISSIONS } from '../access-model/index.ts';
import type { IdentityDeps } from './service.ts';
import { recentAuth } from './staff-auth.ts';

const ApiKeySchema = Type.Object({
  id: Type.String({ description: 'The public key id; the token starts with spk_<id>_.' }),
  name: Type.String(),
  prefix: Type.String(),
  scopes: Type.Array(Type.String()),
  created_at: DateTime,
  created_by: Type.Object({ type: Type.String(), id: Type.String() }),
  expires_at: Nullable(DateTime),
  last_used_at: Nullable(DateTime),
  revoked_at: Nullable(DateTime),
  rate_limit_per_minute: Nullable(Type.Integer()),
});

// One type list rather than a union with null: with coercion on, a union would turn 0 into null
// (the default) instead of refusing it.
const RateLimitPerMinute = Type.Unsafe<number | null>({
  type: ['integer', 'null'],
  minimum: 1,
  maximum: 10_000_000,
  description:
    "Requests a minute this key may make (each process counts its own); null: the installation's default (SEALPOST_RATE_LIMIT_PER_KEY, 60,000 unless set otherwise).",
});

const KeyParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{16}$' }) });

/** The organisation's API keys: made, listed, changed and revoked by its staff. */
export function apiKeyRoutes(deps: IdentityDeps) {
  return async (app: HttpServer) => {
    app.post(
      '/v1/api-keys',
      {
        config: { scope: 'api_keys:manage', recentAuth: true },
        schema: {
          tags: ['api keys'],
          summary: 'Create an API key (its token is shown once)',
          body: Type.Object(
            {
              name: Type.String({ minLength: 1, maxLength: 200 }),
              scopes: Type.Array(Type.Union(PERMISSIONS.map((p) => Type.Literal(p))), { minItems: 1 }),
              expires_at: Type.Optional(DateTime),
              rate_limit_per_minute: Type.Optional(RateLimitPerMinute),
            },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Intersect([ApiKeySchema, Type.Object({ token: Type.String() })]),
            403: Problem,
          },
        },
      },
      async (request, reply) => {
        // A person creating a key must have proved who they are in the last few minutes.
        recentAuth(request, deps.clock?.() ?? new Date());
        const { name, scopes, expires_at, rate_limit_per_minute } = request.body;
        // No escalation: a key can hand out only permissions its creator holds.
        const beyond = scopes.filter((s) => !request.auth.scopes.includes(s));
        if (beyond.length > 0)
          throw errors.forbidden(`You cannot grant scopes you do not hold: ${beyond.join(', ')}.`);
        const expiresAt = expires_at ? new Date(expires_at) : null;
        if (expiresAt && expiresAt <= new Date())
          throw errors.validation('expires_at must be in the future.');
        const created = await deps.db.transaction(async (tx) => {
          const result = await createApiKey(tx, request.auth.orgId, {
            name,
            scopes,
            expiresAt,
            rateLimitPerMinute: rate_limit_per_minute ?? null,
            createdBy: request.auth.actor,
          });
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'api_key.created',
            objectType: 'api_key',
            objectId: result.key.id,
            outcome: 'success',
            details: { scopes: scopes.join(' '), rate_limit_per_minute: rate_limit_per_minute ?? null },
          });
          return result;
        });
        reply.code(201);
        return { ...created.key, token: created.token };
      },
    );

    app.get(
      '/v1/api-keys',
      {
        config: { scope: 'api_keys:read' },
        schema: {
          tags: ['api keys'],
          summary: 'List API keys (never their secrets)',
          response: { 200: Type.Object({ data: Type.Array(ApiKeySchema) }) },
        },
      },
      async (request) => ({ data: await listApiKeys(deps.db, request.auth.orgId) }),
    );

    app.get(
      '/v1/api-keys/:id',
      {
        config: { scope: 'api_keys:read' },
        schema: {
          tags: ['api keys'],
          summary: 'One API key',
          params: KeyParams,
          response: { 200: ApiKeySchema, 404: Problem },
        },
      },
      async (request) => {
        const key = await getApiKey(deps.db, request.auth.orgId, request.params.id);
        if (!key) throw errors.notFound('The API key');
        return key;
      },
    );

    app.patch(
      '/v1/api-keys/:id',
      {
        config: { scope: 'api_keys:manage' },
        schema: {
          tags: ['api keys'],
          summary: 'Rename an API key or set its rate limit; fields left out keep their value',
          description:
            'Refused with 403 when the key holds a scope you do not hold. A new limit applies at once in this process and within 5 seconds in any other.',
          params: KeyParams,
          body: Type.Object(
            {
              name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
              rate_limit_per_minute: Type.Optional(RateLimitPerMinute),
            },
            { additionalProperties: false },
          ),
          response: { 200: ApiKeySchema, 403: Problem, 404: Problem },
        },
      },
      async (request) => {
        const { orgId } = request.auth;
        const { id } = request.params;
        const { name, rate_limit_per_minute } = request.body;
        return deps.db.transaction(async (tx) => {
          const key = await getApiKey(tx, orgId, id);
          if (!key) throw errors.notFound('The API key');
          requireHeldScopes(key, request.auth.scopes, 'change');
          const changed = (await updateApiKey(tx, orgId, id, {
            name,
            rateLimitPerMinute: rate_limit_per_minute,
          }))!;
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'api_key.updated',
            objectType: 'api_key',
            objectId: id,
            outcome: 'success',
            details: {
              renamed: name !== undefined && name !== key.name,
              rate_limit_per_minute: changed.rate_limit_per_minute,
              previous_rate_limit_per_minute: key.rate_limit_per_minute,
            },
          });
          return changed;
        });
      },
    );

    app.delete(
      '/v1/api-keys/:id',
      {
        config: { scope: 'api_keys:manage' },
        schema: {
          tags: ['api keys'],
          summary: 'Revoke an API key at once',
          description: 'Refused with 403 when the key holds a scope you do not hold.',
          params: KeyParams,
          response: { 204: Type.Null(), 403: Problem, 404: Problem },
        },
      },
      async (request, reply) => {
        const { orgId } = request.auth;
        const { id } = request.params;
        await deps.db.transaction(async (tx) => {
          const key = await getApiKey(tx, orgId, id);
          if (!key) throw errors.notFound('The API key');
          requireHeldScopes(key, request.auth.scopes, 'revoke');
          if (!(await revokeApiKey(tx, orgId, id))) return;
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'api_key.revoked',
            objectType: 'api_key',
            objectId: id,
            outcome: 'success',
          });
        });
        reply.code(204);
      },
    );
  };
}
