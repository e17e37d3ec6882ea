import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawServerDefault,
} from 'fastify';
import { Type } from 'typebox';
import type { Config } from '../config/index.ts';
import { errors } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { Metrics } from '../metrics/index.ts';
import { isPermission, type RequestAuth } from '../access-model/index.ts';
import { requireRecentAuth } from './authorization.ts';
import { clientSource } from './client-source.ts';
import { answerClientError, answerUnknownExpectation, frameworkErrors } from './framework-errors.ts';
import { metricsRoute } from './metrics-route.ts';
import { errorHandler, sendProblem } from './problem.ts';
import { type Budget, RateLimiter } from './rate-limit.ts';
import { securityHeaders } from './security-headers.ts';
import { refuseUnstorableInput } from './storable-input.ts';

export type HttpServer = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface HttpDeps {
  config: Config;
  log: Logger;
  metrics: Metrics;
  /** Identifies the caller from the request's credentials; a SealpostError when they are wrong. */
  authenticate(request: FastifyRequest): Promise<RequestAuth>;
  /** Conditional access for an authenticated request (allowed networks); throws a 403 when refused. */
  authorize?(request: FastifyRequest): Promise<void>;
  clock?: () => Date;
  /** Throws when the process cannot serve (database down, migrations pending). */
  ready(): Promise<void>;
  /** The capabilities' routes. */
  routes: ((app: HttpServer) => Promise<void>)[];
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const MINUTE = 60_000;

/** The budget a verified credential is counted against: its API key's, or its person's. */
function credentialBudget(auth: RequestAuth, config: Config): { name: string; limit: number } {
  if (auth.actor.type === 'api_key')
    return { name: `key:${auth.actor.id}`, limit: auth.rateLimitPerMinute ?? config.rateLimitPerKey };
  return { name: `${auth.actor.type}:${auth.actor.id}`, limit: config.rateLimitPerAddress };
}

/**
 * Describes the budget nearest its end in the RateLimit-* headers (draft-ietf-httpapi-ratelimit-
 * headers), which every answer carries; refuses the request with a 429 when one is exceeded.
 */
function heed(reply: FastifyReply, budgets: Budget[]): void {
  const budget =
    budgets.find((b) => b.exceeded) ?? budgets.reduce((a, b) => (b.remaining < a.remaining ? b : a));
  reply.header('ratelimit-limit', String(budget.limit));
  reply.header('ratelimit-remaining', String(budget.remaining));
  reply.header('ratelimit-reset', String(budget.resetSeconds));
  if (!budget.exceeded) return;
  reply.header('retry-after', String(budget.resetSeconds));
  throw errors.rateLimited(budget.limit, budget.windowSeconds, budget.resetSeconds);
}

export async function buildHttpServer(deps: HttpDeps): Promise<HttpServer> {
  const { config } = deps;
  const app = Fastify({
    loggerInstance: deps.log,
    bodyLimit: config.httpBodyLimit,
    trustProxy: config.trustProxy,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Unknown fields are an error, not silently dropped. Ajv coerces scalar types everywhere (a
    // query string has no other types) and a lone value into a one-element list; storable-input.ts
    // refuses what coercion lets through that PostgreSQL cannot store (NUL, Infinity).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: true } },
    // A path parameter may be an address of 254 characters, percent-encoded.
    routerOptions: { maxParamLength: 1024 },
    frameworkErrors,
    clientErrorHandler: answerClientError,
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as HttpServer;
  app.server.on('checkExpectation', answerUnknownExpectation);
  refuseUnstorableInput(app);

  // The API speaks JSON only: any other body is a 415, not a string to be half-validated.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, {
      code: 'not_found',
      detail: `No route ${request.method} ${request.url.split('?')[0]}.`,
    }),
  );
  securityHeaders(app, { https: config.publicUrl.startsWith('https:') });

  // Deny by default: a route must name the permission it needs (one of the permission set) or
  // say it is public. The OpenAPI document says which (x-permission, x-recent-auth).
  app.addHook('onRoute', (route) => {
    const routeConfig = route.config as
      { scope?: string; public?: boolean; recentAuth?: boolean } | undefined;
    if (route.url.startsWith('/docs')) return;
    if (!routeConfig?.scope && !routeConfig?.public) {
      throw new Error(`route ${route.method} ${route.url} names neither a scope nor public: true`);
    }
    if (routeConfig.scope && !isPermission(routeConfig.scope)) {
      throw new Error(`route ${route.method} ${route.url} names "${routeConfig.scope}", not a permission`);
    }
    if (routeConfig.scope && route.schema) {
      const schema = route.schema as Record<string, unknown>;
      schema['x-permission'] = routeConfig.scope;
      if (routeConfig.recentAuth) schema['x-recent-auth'] = true;
    }
  });

  // Rate limits come before authentication and trust nothing the request says about itself: until
  // a credential is verified, a request counts against its address (an IPv6 client's /64) and
  // against its route's own limit if it has one. Once an API key or a session is verified, the
  // request is counted against that credential's budget instead, so a busy integration is never
  // held back by the address it shares, while a wrong or made-up credential stays on the address.
  const limiter = new RateLimiter();
  app.addHook('onRequest', async (request, reply) => {
    const routeConfig = request.routeOptions.config;
    const source = clientSource(request.ip);
    const address = `address:${source}`;
    const route = routeConfig.rateLimit
      ? [
          limiter.take(
            `route:${request.method} ${request.routeOptions.url}:${source}`,
            routeConfig.rateLimit.max,
            routeConfig.rateLimit.timeWindow,
          ),
        ]
      : [];
    heed(reply, [limiter.take(address, config.rateLimitPerAddress, MINUTE), ...route]);
    if (request.routeOptions.url === undefined || routeConfig.public || request.url.startsWith('/docs'))
      return;
    request.auth = await deps.authenticate(request);
    const own = credentialBudget(request.auth, config);
    limiter.give(address);
    heed(reply, [limiter.take(own.name, own.limit, MINUTE), ...route]);
    await deps.authorize?.(request);
    const scope = routeConfig.scope;
    if (!scope || !request.auth.scopes.includes(scope)) {
      throw errors.forbidden(`This action needs the "${scope}" permission.`);
    }
    if (routeConfig.recentAuth) requireRecentAuth(request, deps.clock?.());
  });

  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.httpRequests
      .labels(request.method, request.routeOptions.url ?? 'unmatched', String(reply.statusCode))
      .observe(reply.elapsedTime / 1000);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Sealpost API',
        version: '1',
        description:
          'Secure healthcare communications. Authenticate with `Authorization: Bearer spk_...`, or as a signed-in person with the session cookie (state-changing requests then need the `X-CSRF-Token` given at sign-in, and the same origin). Errors are RFC 9457 problem details.',
      },
      servers: [{ url: config.publicUrl }],
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', bearerFormat: 'spk_...' },
          sessionCookie: { type: 'apiKey', in: 'cookie', name: 'sealpost_staff' },
        },
      },
      security: [{ apiKey: [] }, { sessionCookie: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });

  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: {
        tags: ['operations'],
        summary: 'The process is alive',
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        tags: ['operations'],
        summary: 'The process can serve: database reachable, schema current',
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ready') }) },
      },
    },
    async (_request, reply) => {
      try {
        await deps.ready();
        return { status: 'ready' as const };
      } catch (err) {
        return sendProblem(reply, { code: 'not_ready', detail: (err as Error).message });
      }
    },
  );
  metricsRoute(app, deps.metrics, config.metricsToken);

  for (const routes of deps.routes) await app.register(routes);
  return app;
}
