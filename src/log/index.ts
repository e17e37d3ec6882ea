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

/** JSON lines on standard output (or the given stream), PHI and secrets redacted. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'sealpost' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      // A request is logged by its path without the query string (queries may carry addresses)
      // and without a portal link's token (it opens a message until the reader proves who they are).
      serializers: {
        req: (req: { method: string; url: string; id: string; ip?: string }) => ({
          method: req.method,
          path: req.url
            .split('?')[0]!
            .replace(/^\/secure\/[^/]+/, '/secure/[token]')
            .replace(/^\/console\/invite\/[^/]+/, '/console/invite/[token]'),
          request_id: req.id,
          remote: req.ip,
        }),
        err: pino.stdSerializers.err,
      },
    },
    destination,
  );
}
