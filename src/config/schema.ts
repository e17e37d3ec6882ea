// The one configuration schema. Every setting is read from a `SEALPOST_` environment variable
// (or the optional JSON file named by SEALPOST_CONFIG_FILE); docs/configuration.md is generated
// from this list, so the description here is what operators read.

export type SettingType = 'string' | 'path' | 'port' | 'integer' | 'boolean' | 'url' | 'postgres-url' | 'key';

export interface Setting {
  key: string;
  env: string;
  type: SettingType;
  description: string;
  /** Default as the operator would write it; a function derives it from settings read earlier. */
  default?: string | ((partial: Record<string, unknown>) => string | undefined);
  enum?: readonly string[];
  min?: number;
  max?: number;
  secret?: boolean;
}

export const settings: readonly Setting[] = [
  {
    key: 'dataDir',
    env: 'SEALPOST_DATA_DIR',
    type: 'path',
    default: './data',
    description:
      'Folder for the embedded database and the generated master key. Unused for the database when SEALPOST_DATABASE_URL is set.',
  },
  {
    key: 'databaseUrl',
    env: 'SEALPOST_DATABASE_URL',
    type: 'postgres-url',
    secret: true,
    description:
      'PostgreSQL connection URL (postgres://user:pass@host:5432/db). When unset, Sealpost uses the embedded database (PGlite) in SEALPOST_DATA_DIR.',
  },
  {
    key: 'databasePoolSize',
    env: 'SEALPOST_DATABASE_POOL_SIZE',
    type: 'integer',
    default: '10',
    min: 1,
    max: 200,
    description: 'Connections per process to PostgreSQL.',
  },
  {
    key: 'httpHost',
    env: 'SEALPOST_HTTP_HOST',
    type: 'string',
    default: '127.0.0.1',
    description: 'Address the HTTP server listens on. Use 0.0.0.0 to listen on every interface.',
  },
  {
    key: 'httpPort',
    env: 'SEALPOST_HTTP_PORT',
    type: 'port',
    default: '8080',
    description: 'Port the HTTP server (API, portal, console) listens on. 0 picks a free port.',
  },
  {
    key: 'publicUrl',
    env: 'SEALPOST_PUBLIC_URL',
    type: 'url',
    default: (c) => `http://localhost:${c.httpPort}`,
    description:
      'The URL people and links use to reach this server (portal links, the OpenAPI server entry).',
  },
  {
    key: 'masterKeyFile',
    env: 'SEALPOST_MASTER_KEY_FILE',
    type: 'path',
    default: (c) => `${c.dataDir}/master.key`,
    description:
      'File holding the 32-byte master key (base64). Generated with mode 0600 on first start when missing. Back it up apart from the database: without it sealed data cannot be read.',
  },
  {
    key: 'masterKey',
    env: 'SEALPOST_MASTER_KEY',
    type: 'key',
    secret: true,
    description:
      'The master key itself (32 bytes, base64), instead of a file. Takes precedence over SEALPOST_MASTER_KEY_FILE.',
  },
  {
    key: 'httpBodyLimit',
    env: 'SEALPOST_HTTP_BODY_LIMIT',
    type: 'integer',
    default: '36700160',
    min: 1024,
    description: 'Largest request body accepted, in bytes (default 35 MiB: a 25 MiB message base64-encoded).',
  },
  {
    key: 'rateLimitPerKey',
    env: 'SEALPOST_RATE_LIMIT_PER_KEY',
    type: 'integer',
    default: '1200',
    min: 1,
    description: 'Requests per minute allowed for one API key.',
  },
  {
    key: 'rateLimitPerAddress',
    env: 'SEALPOST_RATE_LIMIT_PER_ADDRESS',
    type: 'integer',
    default: '300',
    min: 1,
    description: 'Requests per minute allowed from one client address without an API key.',
  },
  {
    key: 'trustProxy',
    env: 'SEALPOST_TRUST_PROXY',
    type: 'boolean',
    default: 'false',
    description: 'Trust X-Forwarded-For from a reverse proxy for the client address (audit, rate limits).',
  },
  {
    key: 'logLevel',
    env: 'SEALPOST_LOG_LEVEL',
    type: 'string',
    default: 'info',
    enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    description: 'Log level. Logs are JSON lines on standard output, with PHI and secrets redacted.',
  },
  {
    key: 'firstOrgName',
    env: 'SEALPOST_FIRST_ORG_NAME',
    type: 'string',
    default: 'My organisation',
    description: 'Name of the organisation `serve` creates on its first start, when the database holds none.',
  },
  {
    key: 'firstAdminEmail',
    env: 'SEALPOST_FIRST_ADMIN_EMAIL',
    type: 'string',
    default: 'admin@sealpost.localhost',
    description: 'Sign-in of the administrator `serve` creates on its first start.',
  },
  {
    key: 'workerConcurrency',
    env: 'SEALPOST_WORKER_CONCURRENCY',
    type: 'integer',
    default: '4',
    min: 1,
    max: 256,
    description: 'Jobs one worker process runs at once.',
  },
];
