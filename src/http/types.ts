// What every authenticated request carries, set by the authentication hook before any handler.

export interface Actor {
  type: 'api_key' | 'user' | 'system' | 'cli' | 'recipient';
  /** The API key's or user's id; for the CLI, the operating-system user. */
  id: string;
  /** A non-PHI label for logs and audit (an API key's prefix, a user's id). */
  label: string;
}

export interface RequestAuth {
  orgId: string;
  actor: Actor;
  scopes: readonly string[];
  /** Present when a staff user's session cookie authenticated the request (not an API key). */
  session?: { id: string; userId: string; authenticatedAt: Date; role?: string };
  /** Present while the session holds break-glass emergency access (src/identity/break-glass.ts). */
  breakGlass?: { activationId: string; expiresAt: Date };
  /** An API key's own requests-per-minute limit; null or absent: the default (SEALPOST_RATE_LIMIT_PER_KEY). */
  rateLimitPerMinute?: number | null;
}

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
