// What the HTTP layer adds to Fastify's request and route options.
import type { RequestAuth } from '../access-model/index.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Present on every route not marked public; deny by default. */
    auth: RequestAuth;
  }
  interface FastifyContextConfig {
    /** The permission (scope) a route requires. Every non-public route must name one. */
    scope?: string;
    /** Reachable without credentials (health checks, the OpenAPI document). */
    public?: boolean;
    /** A sensitive action: a session must have proved who it is in the last few minutes. */
    recentAuth?: boolean;
    /**
     * A limit of the route's own (e.g. a password sign-in), counted per client address (an IPv6
     * client's /64) whatever credentials the request carries, besides the address or key budget.
     */
    rateLimit?: { max: number; timeWindow: number };
  }
}
