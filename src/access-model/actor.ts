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
