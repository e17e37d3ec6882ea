/**
 * The one error type: a stable code clients match on, an HTTP status for the API, an SMTP reply
 * for the gateway, and a message safe to show (never PHI, never a secret).
 */
export class SealpostError extends Error {
  readonly code: string;
  readonly status: number;
  readonly smtp: { code: number; enhanced: string };
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: string,
    message: string,
    options: {
      status?: number;
      smtp?: { code: number; enhanced: string };
      details?: Record<string, unknown>;
    } = {},
  ) {
    super(message);
    this.name = 'SealpostError';
    this.code = code;
    this.status = options.status ?? 400;
    this.smtp = options.smtp ?? smtpFor(this.status);
    this.details = options.details;
  }

  /** The status under the name Fastify and its plugins read (a scope's own error handler, say). */
  get statusCode(): number {
    return this.status;
  }
}

function smtpFor(status: number): { code: number; enhanced: string } {
  if (status === 401 || status === 403) return { code: 535, enhanced: '5.7.8' };
  if (status === 413) return { code: 552, enhanced: '5.3.4' };
  if (status === 429) return { code: 451, enhanced: '4.7.1' };
  if (status >= 500) return { code: 451, enhanced: '4.3.0' };
  return { code: 550, enhanced: '5.6.0' };
}

export const errors = {
  badRequest: (message: string, details?: Record<string, unknown>) =>
    new SealpostError('bad_request', message, { status: 400, details }),
  /** The request breaks its schema; `errors` names each place, as `body/to/0`. */
  invalidRequest: (message: string, problems: { path: string; message: string }[]) =>
    new SealpostError('invalid_request', message, { status: 400, details: { errors: problems } }),
  validation: (message: string, details?: Record<string, unknown>) =>
    new SealpostError('validation_failed', message, { status: 422, details }),
  unauthorized: (message = 'A valid API key or session is required.') =>
    new SealpostError('unauthorized', message, { status: 401 }),
  forbidden: (message = 'You are not allowed to do this.') =>
    new SealpostError('forbidden', message, { status: 403 }),
  notFound: (what = 'The resource') =>
    new SealpostError('not_found', `${what} was not found.`, { status: 404 }),
  conflict: (code: string, message: string) => new SealpostError(code, message, { status: 409 }),
  unavailable: (message: string) => new SealpostError('unavailable', message, { status: 503 }),
  rateLimited: (limit: number, windowSeconds: number, retryAfterSeconds: number) =>
    new SealpostError(
      'rate_limited',
      `Rate limit exceeded: at most ${limit} requests ${windowSeconds === 60 ? 'a minute' : `in ${windowSeconds} seconds`}. Retry in ${retryAfterSeconds} seconds.`,
      { status: 429 },
    ),
};
