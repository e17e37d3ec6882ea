import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { errors } from '../errors/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { HttpServer } from './server.ts';

// /metrics tells whoever reads it the routes, their traffic and the queues' depth: it is served
// only when SEALPOST_METRICS_TOKEN is set, to a scraper that presents it as a bearer token
// (Prometheus: `authorization: { credentials: ... }`). Unset, there is no such route.

const digest = (value: string) => createHash('sha256').update(value).digest();

export function metricsRoute(app: HttpServer, metrics: Metrics, token: string | undefined): void {
  if (!token) return;
  const expected = digest(token);
  const presented = (request: FastifyRequest) =>
    /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
  app.get(
    '/metrics',
    // Public to the API's own authentication: the scraper holds this token, not an API key.
    { config: { public: true }, schema: { hide: true } },
    async (request, reply) => {
      const given = presented(request);
      if (!given || !timingSafeEqual(digest(given), expected))
        throw errors.unauthorized('The metrics need "Authorization: Bearer <SEALPOST_METRICS_TOKEN>".');
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );
}
