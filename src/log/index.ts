import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

// Field names that may carry PHI or secrets wherever they appear in a logged object. Logs say what
// happened to which id, never to whom or what was written.
const REDACTED_FIELDS = [
  'authorization',
  'cookie',
  'set-cookie',
  'password',
  'admin_password',
  'api_key',
  'token',
  'secret',
  'email',
  'address',
  'to',
  'cc',
  'bcc',
  'from',
  'subject',
  'text',
  'html',
  'body',
  'name',
  'phone',
  'content',
  'detail',
];

export const REDACT_PATHS = [
  ...REDACTED_FIELDS.map((f) => `*["${f}"]`),
  ...REDACTED_FIELDS.map((f) => `*.*["${f}"]`),
  'req.headers.authorization',
  'req.headers.cookie',
];

/**
 * A request's path as logged: without the query string (queries may carry addresses), without a
 * portal link's or an invitation's token (either opens something until its holder proves who they
 * are), and without any segment that holds an address (`/v1/suppressions/{address}`), however it
 * is encoded.
 */
export function loggedPath(url: string): string {
  return url
    .split('?')[0]!
    .replace(/^\/secure\/[^/]+/, '/secure/[token]')
    .replace(/^\/console\/invite\/[^/]+/, '/console/invite/[token]')
    .split('/')
    .map((segment) => (/@|%(25)*40/i.test(segment) ? '[address]' : segment))
    .join('/');
}

/** JSON lines on standard output (or the given stream), PHI and secrets redacted. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'sealpost' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      serializers: {
        req: (req: { method: string; url: string; id: string; ip?: string }) => ({
          method: req.method,
          path: loggedPath(req.url),
          request_id: req.id,
          remote: req.ip,
        }),
        err: pino.stdSerializers.err,
      },
    },
    destination,
  );
}
