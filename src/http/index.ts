// The HTTP layer: the server every capability registers its routes on, the schemas and problem
// replies they share, and the guards (permission, recent sign-in, rate limits) they call.
import './types.ts';

export { buildHttpServer, type HttpServer } from './server.ts';
export { DateTime, Nullable, ProblemSchema } from './schemas.ts';
export { problemOf, sendProblem } from './problem.ts';
export {
  RECENT_AUTH_MINUTES,
  reauthenticationRequired,
  requirePermission,
  requireRecentAuth,
} from './authorization.ts';
export { auditContext } from './request-context.ts';
export { clientSource } from './client-source.ts';
export { CONTENT_SECURITY_POLICY } from './security-headers.ts';
export { RateLimiter } from './rate-limit.ts';
