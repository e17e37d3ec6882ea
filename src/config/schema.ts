// The one configuration schema. Every setting is read from a `SEALPOST_` environment variable
// (or the optional JSON file named by SEALPOST_CONFIG_FILE); docs/configuration.md is generated
// from this list, so the description here is what operators read.

export type SettingType =
  | 'string'
  | 'path'
  | 'port'
  | 'integer'
  | 'boolean'
  | 'url'
  | 'postgres-url'
  | 'key'
  | 'dns-servers'
  | 'addresses'
  | 'address-ranges';

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
      'Folder for the embedded database, the generated master key, and the credentials a first start or `init` hands over when no terminal shows them (0600 files). Unused for the database when SEALPOST_DATABASE_URL is set.',
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
    key: 'auditSigningKeyFile',
    env: 'SEALPOST_AUDIT_SIGNING_KEY_FILE',
    type: 'path',
    description:
      'An Ed25519 private key in PEM (`openssl genpkey -algorithm ed25519`, mode 0600) that signs the audit checkpoints. Unset: a key derived from the master key signs them. Either way the key is never in the database; `sealpost audit checkpoint` prints its public half.',
  },
  {
    key: 'auditCheckpointMinutes',
    env: 'SEALPOST_AUDIT_CHECKPOINT_MINUTES',
    type: 'integer',
    default: '5',
    min: 1,
    max: 1440,
    description:
      'How often a worker signs a checkpoint of every audit chain whose head moved (and once more when it stops). A rewrite of the trail older than the last checkpoint an auditor holds is detected.',
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
    default: '60000',
    min: 1,
    description:
      "Requests per minute allowed for one API key, counted once its secret is verified, in each API process; a key's own rate_limit_per_minute takes precedence.",
  },
  {
    key: 'rateLimitPerAddress',
    env: 'SEALPOST_RATE_LIMIT_PER_ADDRESS',
    type: 'integer',
    default: '300',
    min: 1,
    description:
      'Requests per minute allowed from one client address (an IPv6 client by its /64) for every request without a verified API key or session, wrong credentials included, in each API process; also the budget of each signed-in person.',
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
    key: 'metricsToken',
    env: 'SEALPOST_METRICS_TOKEN',
    type: 'string',
    secret: true,
    description:
      'Serves Prometheus metrics at /metrics to a scraper presenting this value as a bearer token (Authorization: Bearer ...); use a long random value. Unset: no /metrics.',
  },
  {
    key: 'dnsServers',
    env: 'SEALPOST_DNS_SERVERS',
    type: 'dns-servers',
    description:
      'DNS servers Sealpost asks (comma-separated, e.g. 127.0.0.1:5353,[::1]:53). Unset: the system resolver.',
  },
  {
    key: 'mailHostname',
    env: 'SEALPOST_MAIL_HOSTNAME',
    type: 'string',
    // An invalid public URL is already reported; nothing to derive from it then.
    default: (c) => (c.publicUrl ? new URL(String(c.publicUrl)).hostname : undefined),
    description:
      'The host name Sealpost sends mail as (HELO, and the SPF record it suggests). Defaults to the host of SEALPOST_PUBLIC_URL.',
  },
  {
    key: 'outboundAddresses',
    env: 'SEALPOST_OUTBOUND_ADDRESSES',
    type: 'addresses',
    description:
      "The IP addresses Sealpost sends mail from (comma-separated, IPv4 and IPv6), when they are not the A and AAAA addresses of SEALPOST_MAIL_HOSTNAME (behind NAT, or a pool of sending addresses). Domain verification evaluates each sending domain's SPF record against these addresses, and the SPF record it suggests lists them (ip4:, ip6:). Unset: the addresses SEALPOST_MAIL_HOSTNAME resolves to, and the suggestion a:<that name>.",
  },
  {
    key: 'fetchPrivateRanges',
    env: 'SEALPOST_FETCH_PRIVATE_RANGES',
    type: 'address-ranges',
    description:
      "Private address ranges (comma-separated CIDR, e.g. 10.20.0.0/16,fd00:1::/48) that Sealpost's own HTTPS requests may reach: Web Key Directory look-ups, MTA-STS policy fetches, webhooks and single sign-on providers (an issuer on loopback, as in tests, needs 127.0.0.0/8 here). Unset: none. Every such request resolves its host once, refuses the host if any address is loopback, private (RFC 1918), link-local (cloud metadata), carrier-grade NAT or IPv6 unique-local and outside these ranges, and connects only to an address it checked. Reserved addresses (multicast, documentation, unspecified) are never reached. For a partner network on private addresses; tests allow 127.0.0.0/8.",
  },
  {
    key: 'mode',
    env: 'SEALPOST_MODE',
    type: 'string',
    enum: ['sandbox', 'production'],
    // The embedded first run is a trial; a PostgreSQL deployment is production unless it says so.
    default: (c) => (c.databaseUrl ? 'production' : 'sandbox'),
    description:
      'sandbox: outbound mail runs the whole pipeline (DLP, policy, encryption, DKIM) and is then captured by Sealpost (GET /v1/sandbox/messages), never sent; nothing leaves the machine (no Web Key Directory look-up, no MTA-STS fetch, webhooks only to loopback endpoints). production: mail is delivered. Default: sandbox on the embedded database, production on PostgreSQL.',
  },
  {
    key: 'deliveryPort',
    env: 'SEALPOST_DELIVERY_PORT',
    type: 'port',
    default: '25',
    description:
      'The port Sealpost delivers to on recipient mail servers. 25 on the internet; tests and relays point it elsewhere.',
  },
  {
    key: 'extraCaFile',
    env: 'SEALPOST_EXTRA_CA_FILE',
    type: 'path',
    description:
      "A PEM file of extra certificate authorities trusted for enforced TLS and for Sealpost's own HTTPS requests (Web Key Directories, webhooks, single sign-on providers), besides the system roots, e.g. a private CA of a partner network.",
  },
  {
    key: 'messageMaxBytes',
    env: 'SEALPOST_MESSAGE_MAX_BYTES',
    type: 'integer',
    default: '26214400',
    min: 1024,
    max: 157286400,
    description:
      'The largest message accepted (subject, bodies and decoded attachments), in bytes. Larger messages are refused with 413.',
  },
  {
    key: 'deliveryLifetimeHours',
    env: 'SEALPOST_DELIVERY_LIFETIME_HOURS',
    type: 'integer',
    default: '120',
    min: 1,
    max: 720,
    description:
      'How long a recipient whose server keeps deferring is retried before the message bounces (RFC 5321 advises 4-5 days).',
  },
  {
    key: 'deliveryRetrySeconds',
    env: 'SEALPOST_DELIVERY_RETRY_SECONDS',
    type: 'integer',
    default: '60',
    min: 1,
    max: 3600,
    description:
      'The first wait after a deferral; each further wait doubles, up to an hour (or 64 times this, when it is small).',
  },
  {
    key: 'deliveryConcurrency',
    env: 'SEALPOST_DELIVERY_CONCURRENCY',
    type: 'integer',
    default: '50',
    min: 1,
    max: 1000,
    description:
      'Deliveries one worker process runs at once; it claims more from the queue whenever a quarter of them are done.',
  },
  {
    key: 'deliveryLeaseSeconds',
    env: 'SEALPOST_DELIVERY_LEASE_SECONDS',
    type: 'integer',
    default: '300',
    min: 5,
    max: 3600,
    description:
      'How long one delivery may run before another worker takes it over although its worker is alive (a stuck delivery). The deliveries of a worker that died are taken over after its heartbeats stop (SEALPOST_DELIVERY_HEARTBEAT_SECONDS), not after this.',
  },
  {
    key: 'deliveryHeartbeatSeconds',
    env: 'SEALPOST_DELIVERY_HEARTBEAT_SECONDS',
    type: 'integer',
    default: '5',
    min: 1,
    max: 60,
    description:
      'How often each worker process records in the database that it is alive. A worker that misses three heartbeats in a row is taken for dead, and the next heartbeat of any other worker hands its deliveries back to the queue: with the default they are taken over 15 to 20 seconds after it died. On the embedded database a restarted server takes over at once.',
  },
  {
    key: 'queueSuperviseSeconds',
    env: 'SEALPOST_QUEUE_SUPERVISE_SECONDS',
    type: 'integer',
    default: '30',
    min: 1,
    max: 600,
    description:
      'How often the job queue (portal notices, staff mail, webhooks) looks for jobs whose lease ran out (their worker died) and hands them on. Mail deliveries are not jobs of this queue: the deliveries of a dead worker are taken over after its heartbeats stop (SEALPOST_DELIVERY_HEARTBEAT_SECONDS).',
  },
  {
    key: 'portalExpiryDays',
    env: 'SEALPOST_PORTAL_EXPIRY_DAYS',
    type: 'integer',
    default: '30',
    min: 1,
    max: 3650,
    description:
      'How long a message waits in the secure portal before it expires, unless the message says otherwise.',
  },
  {
    key: 'portalIdleMinutes',
    env: 'SEALPOST_PORTAL_IDLE_MINUTES',
    type: 'integer',
    default: '15',
    min: 1,
    max: 240,
    description:
      'A portal session ends after this many minutes without a request; the reader then proves who they are again.',
  },
  {
    key: 'portalSessionMinutes',
    env: 'SEALPOST_PORTAL_SESSION_MINUTES',
    type: 'integer',
    default: '60',
    min: 5,
    max: 1440,
    description: 'A portal session ends this many minutes after it began, however active it is.',
  },
  {
    key: 'portalCodeMinutes',
    env: 'SEALPOST_PORTAL_CODE_MINUTES',
    type: 'integer',
    default: '10',
    min: 1,
    max: 60,
    description: 'How long a one-time code sent by email or SMS to a portal recipient stays valid.',
  },
  {
    key: 'portalMaxFailures',
    env: 'SEALPOST_PORTAL_MAX_FAILURES',
    type: 'integer',
    default: '10',
    min: 3,
    max: 100,
    description:
      'Wrong codes or passphrases after which a message is locked for that recipient (the sender is alerted and can unlock it). One code takes at most 5 tries.',
  },
  {
    key: 'portalUploadMaxBytes',
    env: 'SEALPOST_PORTAL_UPLOAD_MAX_BYTES',
    type: 'integer',
    default: '10485760',
    min: 0,
    max: 104857600,
    description:
      'Most bytes of attachments a portal reply may carry, all files together (0: replies take no files).',
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
  {
    key: 'smsProvider',
    env: 'SEALPOST_SMS_PROVIDER',
    type: 'string',
    default: 'none',
    enum: ['none', 'twilio-compatible'],
    description:
      'How Sealpost sends text messages (one-time codes and links, never PHI). none: sending a text fails with a clear error. twilio-compatible: a carrier speaking the Twilio Messages REST API (set SEALPOST_SMS_API_URL, SEALPOST_SMS_ACCOUNT, SEALPOST_SMS_TOKEN and SEALPOST_SMS_FROM). In sandbox mode texts are captured, never sent, whatever this says.',
  },
  {
    key: 'smsApiUrl',
    env: 'SEALPOST_SMS_API_URL',
    type: 'url',
    description:
      'Base URL of the twilio-compatible Messages API (e.g. https://api.twilio.com); Sealpost posts to {url}/2010-04-01/Accounts/{account}/Messages.json. https://, except on a loopback address.',
  },
  {
    key: 'smsAccount',
    env: 'SEALPOST_SMS_ACCOUNT',
    type: 'string',
    description: 'Account id at the SMS carrier (the user name of its HTTP basic authentication).',
  },
  {
    key: 'smsToken',
    env: 'SEALPOST_SMS_TOKEN',
    type: 'string',
    secret: true,
    description: 'Authentication token at the SMS carrier (the password of its HTTP basic authentication).',
  },
  {
    key: 'smsFrom',
    env: 'SEALPOST_SMS_FROM',
    type: 'string',
    description:
      'The sender texts come from: a phone number in international form (+15550100123) or an alphanumeric sender id the carrier allows (up to 11 letters and digits).',
  },
  {
    key: 'smsTimeoutSeconds',
    env: 'SEALPOST_SMS_TIMEOUT_SECONDS',
    type: 'integer',
    default: '10',
    min: 1,
    max: 120,
    description:
      'How long one request to the SMS carrier may take, connection to last byte, before it counts as failed (and may be retried).',
  },
  {
    key: 'webhookAllowHttp',
    env: 'SEALPOST_WEBHOOK_ALLOW_HTTP',
    type: 'boolean',
    default: 'false',
    description:
      'Allow webhook endpoints with http:// URLs. Events would then travel unencrypted: for development only. Otherwise endpoints must be https://.',
  },
  {
    key: 'webhookAllowPrivate',
    env: 'SEALPOST_WEBHOOK_ALLOW_PRIVATE',
    type: 'boolean',
    default: 'false',
    description:
      'Allow webhook endpoints on loopback, private (RFC 1918), link-local, carrier-grade NAT and IPv6 unique-local addresses. Off, such endpoints are refused when created and at every delivery (checked on the address connected to), so a webhook cannot reach inside your network. For development and tests only.',
  },
  {
    key: 'webhookConnectTimeoutSeconds',
    env: 'SEALPOST_WEBHOOK_CONNECT_TIMEOUT_SECONDS',
    type: 'integer',
    default: '5',
    min: 1,
    max: 60,
    description: 'How long connecting to a webhook endpoint (TCP and TLS) may take before the attempt fails.',
  },
  {
    key: 'webhookTimeoutSeconds',
    env: 'SEALPOST_WEBHOOK_TIMEOUT_SECONDS',
    type: 'integer',
    default: '15',
    min: 1,
    max: 120,
    description:
      'How long one webhook attempt may take, connecting to the last byte of the answer, before it fails (and is retried).',
  },
  {
    key: 'webhookRetrySchedule',
    env: 'SEALPOST_WEBHOOK_RETRY_SCHEDULE',
    type: 'string',
    default: '5s,5m,30m,2h,5h,10h,10h,14h,20h,24h',
    description:
      'The waits before each retry of a failed webhook delivery (s, m, h, d units). The default makes 11 attempts over about 3.6 days; after the last one fails the delivery has failed for good (replay it from the API).',
  },
  {
    key: 'webhookDisableAfterHours',
    env: 'SEALPOST_WEBHOOK_DISABLE_AFTER_HOURS',
    type: 'integer',
    default: '120',
    min: 1,
    max: 8760,
    description:
      'A webhook endpoint whose every attempt has failed for this long is disabled, and the organisation told through its audit trail (webhook.disabled). Re-enable it from the API, then replay what it missed.',
  },
  {
    key: 'webhookDisableAfterFailures',
    env: 'SEALPOST_WEBHOOK_DISABLE_AFTER_FAILURES',
    type: 'integer',
    default: '0',
    min: 0,
    max: 1000000,
    description:
      'Also disable a webhook endpoint after this many failed attempts in a row, however short the time (0: only SEALPOST_WEBHOOK_DISABLE_AFTER_HOURS applies).',
  },
  {
    key: 'webhookConcurrency',
    env: 'SEALPOST_WEBHOOK_CONCURRENCY',
    type: 'integer',
    default: '16',
    min: 1,
    max: 256,
    description:
      'Webhook endpoints one worker process sends to at once. Each endpoint is served by one worker at a time, so a slow endpoint holds one of these, never mail delivery or the other endpoints.',
  },
  {
    key: 'webhookEndpointConcurrency',
    env: 'SEALPOST_WEBHOOK_ENDPOINT_CONCURRENCY',
    type: 'integer',
    default: '8',
    min: 1,
    max: 64,
    description:
      'Requests in flight to one webhook endpoint at most, across all workers. 1 sends each endpoint its events one at a time, first attempts in the order they happened.',
  },
  {
    key: 'webhookLogDays',
    env: 'SEALPOST_WEBHOOK_LOG_DAYS',
    type: 'integer',
    default: '30',
    min: 1,
    max: 3650,
    description: 'How long finished webhook deliveries and their attempts stay in the delivery log.',
  },
];
