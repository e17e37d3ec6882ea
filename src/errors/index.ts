import { type ConflictCode, catalogue, type ErrorCode, type StatusOf } from './catalogue.ts';

export {
  type CatalogueEntry,
  type ConflictCode,
  catalogue,
  type ErrorCode,
  errorCodes,
  type SmtpReply,
  smtpReplyOf,
  statusOf,
} from './catalogue.ts';
export { errorsReference } from './reference.ts';

/**
 * The one error type: a code from the catalogue that clients match on, the HTTP status the
 * catalogue gives it, and a message safe to show (never PHI, never a secret).
 */
export class SealpostError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: C,
    message: string,
    /** `status` chooses among the statuses the catalogue lists for the code (see `also`). */
    options: { status?: StatusOf<C>; details?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = 'SealpostError';
    this.code = code;
    this.status = options.status ?? catalogue[code].status;
    this.details = options.details;
  }

  /** The status under the name Fastify and its plugins read (a scope's own error handler, say). */
  get statusCode(): number {
    return this.status;
  }
}

export const errors = {
  badRequest: (message: string, details?: Record<string, unknown>) =>
    new SealpostError('bad_request', message, { details }),
  /** The request breaks its schema; `errors` names each place, as `body/to/0`. */
  invalidRequest: (message: string, problems: { path: string; message: string }[]) =>
    new SealpostError('invalid_request', message, { details: { errors: problems } }),
  validation: (message: string, details?: Record<string, unknown>) =>
    new SealpostError('validation_failed', message, { details }),
  unauthorized: (message = 'A valid API key or session is required.') =>
    new SealpostError('unauthorized', message),
  forbidden: (message = 'You are not allowed to do this.') => new SealpostError('forbidden', message),
  notFound: (what = 'The resource') => new SealpostError('not_found', `${what} was not found.`),
  conflict: (code: ConflictCode, message: string) => new SealpostError(code, message),
  unavailable: (message: string) => new SealpostError('unavailable', message),
  rateLimited: (limit: number, windowSeconds: number, retryAfterSeconds: number) =>
    new SealpostError(
      'rate_limited',
      `Rate limit exceeded: at most ${limit} requests ${windowSeconds === 60 ? 'a minute' : `in ${windowSeconds} seconds`}. Retry in ${retryAfterSeconds} seconds.`,
    ),
};
