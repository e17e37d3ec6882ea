import type { FastifyRequest } from 'fastify';
import { errors, SealpostError } from '../errors/index.ts';

// The checks a route makes beyond its one permission: a sign-in recent enough for a sensitive
// action, and a second permission that depends on what is asked (an export rather than a page).

/** How recent a proof of identity must be for sensitive actions. */
export const RECENT_AUTH_MINUTES = 10;

export const reauthenticationRequired = () =>
  new SealpostError(
    'reauthentication_required',
    `This action needs a sign-in from the last ${RECENT_AUTH_MINUTES} minutes: re-authenticate (POST /v1/auth/reauthenticate) and try again.`,
  );

/**
 * Throws unless the request comes with an API key (a machine credential, which has no interactive
 * re-authentication) or from a session that proved who it is in the last few minutes.
 */
export function requireRecentAuth(request: FastifyRequest, now = new Date()): void {
  const session = request.auth?.session;
  if (!session) {
    if (request.auth?.actor.type === 'api_key') return;
    throw errors.unauthorized();
  }
  if (session.authenticatedAt.getTime() < now.getTime() - RECENT_AUTH_MINUTES * 60_000)
    throw reauthenticationRequired();
}

export function requirePermission(request: FastifyRequest, permission: string): void {
  if (!request.auth?.scopes.includes(permission))
    throw errors.forbidden(`This action needs the "${permission}" permission.`);
}
