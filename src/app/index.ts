import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import {
  type AuditInput,
  appendAudit,
  auditRoutes,
  AuditTally,
  AUDIT_FLUSH_LIMIT,
  flushAuditOutbox,
  SYSTEM_ORG_ID,
  stageAudit,
  type VerifyOptions,
  verifyAudit,
  writeCheckpoints,
} from '../audit/index.ts';
import type { Config } from '../config/index.ts';
import {
  type AuditSigningKeys,
  auditSigningKeys,
  Keyring,
  loadMasterKeys,
  type MasterKeys,
  type SigningKey,
} from '../crypto/index.ts';
import { type Queryable, type Db, migrate, openDb, pendingMigrations } from '../db/index.ts';
import { consoleAppRoutes } from '../console-app/index.ts';
import { domainRoutes } from '../domains/index.ts';
import { encryptPgpMime, encryptSmime } from '../encryption/index.ts';
import { buildHttpServer, type HttpServer } from '../http/index.ts';
import type { Actor } from '../access-model/index.ts';
import {
  accessRoutes,
  apiKeyRoutes,
  authRoutes,
  breakGlassRoutes,
  consoleRoutes,
  type IdentityDeps,
  IdentityService,
  type InitResult,
  invitationRoutes,
  type LifecycleDeps,
  lifecycleRoutes,
  organizationRoutes,
  rolesRoutes,
  queueNewDeviceMail,
  STAFF_MAIL_QUEUE,
  StaffMailer,
  type StaffMailJob,
  ssoRoutes,
} from '../identity/index.ts';
import { createLogger, type Logger } from '../log/index.ts';
import { Metrics } from '../metrics/index.ts';
import { messageRoutes } from '../messages/index.ts';
import { AddressRanges, makeResolver } from '../net-guard/index.ts';
import { Outbound } from '../outbound/index.ts';
import { JobQueue } from '../queue/index.ts';
import { RecipientKeyFinder, recipientKeyRoutes } from '../recipient-keys/index.ts';
import {
  type FoundKey,
  policyRoutes,
  preferenceRoutes,
  type RecipientKeys,
  Secureline,
  DeliveryWorker,
  deliveryQueueStats,
} from '../secureline/index.ts';
import { CaptureTransport, checkInstanceMode, sandboxRoutes } from '../sandbox/index.ts';
import {
  brandingRoutes,
  expirePortalDeliveries,
  PORTAL_MAIL_QUEUE,
  type PortalDeps,
  PortalMailer,
  type PortalMailJob,
  portalControlRoutes,
  portalRoutes,
} from '../portal/index.ts';
import { createSmsSender } from '../sms/index.ts';
import { EngagementKeys, engagementRoutes, feedbackRoutes, Personaliser } from '../engagement/index.ts';
import { suppressionRoutes } from '../suppressions/index.ts';
import { reportRoutes } from '../reports/index.ts';
import { eventRoutes } from '../events/index.ts';
import {
  defineWebhookQueues,
  startWebhookWorker,
  type WebhookDeps,
  type WebhookWorker,
  webhookRoutes,
  webhookSettings,
} from '../webhooks/index.ts';

export type Role = 'api' | 'worker' | 'smtp';
export const ROLES: readonly Role[] = ['api', 'worker', 'smtp'];

/** The HTTP port is held by another process (and is not one this process may share). */
export class PortInUseError extends Error {
  readonly port: number;
  constructor(host: string, port: number) {
    super(`port ${port} is in use on ${host}: another program listens there (set SEALPOST_HTTP_PORT)`);
    this.name = 'PortInUseError';
    this.port = port;
  }
}

export interface AppOptions {
  log?: Logger;
  clock?: () => Date;
}

/**
 * One Sealpost process: the database, the keyring, identity and audit, the queue, and the HTTP
 * server. `start` runs the roles asked for; the CLI uses the same object without starting it.
 */
export class App {
  readonly config: Config;
  readonly db: Db;
  readonly log: Logger;
  readonly metrics = new Metrics();
  readonly keyring: Keyring;
  readonly identity: IdentityService;
  readonly queue: JobQueue;
  readonly clock: () => Date;
  /** Uploaded keys, then Web Key Directories; a test points `keyFinder.port` at its own server. */
  readonly keyFinder: RecipientKeyFinder;
  /** Signs and checks tracking and unsubscribe links. */
  readonly engagementKeys: EngagementKeys;
  /** Refusals anyone can repeat (wrong key secrets, invalid links): one event per source and window. */
  readonly auditTally: AuditTally;
  http: HttpServer | null = null;
  outbound: Outbound | null = null;
  secureline: Secureline | null = null;
  private deliveryWorker: DeliveryWorker | null = null;
  webhooks: WebhookWorker | null = null;
  private readonly identityDeps: IdentityDeps;
  private roles: Role[] = [];
  private readonly masterKeys: MasterKeys;

  private constructor(config: Config, db: Db, keyring: Keyring, masterKeys: MasterKeys, options: AppOptions) {
    this.config = config;
    this.db = db;
    this.keyring = keyring;
    this.masterKeys = masterKeys;
    this.log = options.log ?? createLogger(config.logLevel);
    this.clock = options.clock ?? (() => new Date());
    this.auditTally = new AuditTally({
      db,
      stage: (q, records) => this.stageAudit(q, records),
      clock: this.clock,
      onDropped: (count) => this.log.warn({ count }, 'audit tally full: refusals left uncounted'),
    });
    // Where Sealpost's requests to hosts named by others may go (single sign-on, Web Key Directories).
    const fetchPolicy = { allowPrivate: AddressRanges.parse(config.fetchPrivateRanges ?? []) };
    this.identityDeps = {
      db,
      audit: (q, record) => this.audit(q, record),
      tallyAudit: (record) => this.tallyAudit(record),
      createOrgKey: (q, orgId) => keyring.createOrgKey(q, orgId),
      clock: this.clock,
      keyring,
      publicUrl: config.publicUrl,
      dnsServers: config.dnsServers,
      fetchPolicy,
      extraCaFile: config.extraCaFile,
      notifyNewDevice: async (signIn) => {
        try {
          await queueNewDeviceMail({ db, keyring, queue: this.queue, publicUrl: config.publicUrl }, signIn);
        } catch (error) {
          // The sign-in stands; the notice is a courtesy. Only the error's kind is logged: a
          // database error's message can quote the values it was given.
          const { name, code } = error as { name?: string; code?: string };
          this.log.warn({ org_id: signIn.orgId, error: name, code }, 'new-device notice not queued');
        }
      },
    };
    this.identity = new IdentityService(this.identityDeps);
    // Its database forgets cached credentials after each identity transaction: routes use it too.
    this.identityDeps = this.identity.deps;
    this.queue = new JobQueue(db, { superviseIntervalSeconds: config.queueSuperviseSeconds });
    this.engagementKeys = new EngagementKeys(db, keyring);
    this.keyFinder = new RecipientKeyFinder({
      dnsServers: config.dnsServers,
      extraCaFile: config.extraCaFile,
      policy: fetchPolicy,
      sandbox: config.mode === 'sandbox',
      log: this.log,
    });
  }

  /** Opens the database and the keyring and brings the schema up to date. */
  static async open(config: Config, options: AppOptions = {}): Promise<App> {
    const masterKeys = await loadMasterKeys(config);
    const db = await openDb(config);
    try {
      return await App.create(config, db, masterKeys, options);
    } catch (err) {
      await db.close();
      throw err;
    }
  }

  /** Over a database already open (tests hand in theirs). */
  static async create(
    config: Config,
    db: Db,
    masterKeys: Awaited<ReturnType<typeof loadMasterKeys>>,
    options: AppOptions = {},
  ): Promise<App> {
    await migrate(db);
    // A checkpoint key that cannot be read stops the start, not the first checkpoint.
    auditSigningKeys(masterKeys, config.auditSigningKeyFile);
    return new App(config, db, new Keyring(db, masterKeys), masterKeys, options);
  }

  /**
   * The checkpoint signing key and the public keys this process can check checkpoints with. Read
   * afresh each time, as the keyring does: a master key rotated by another process is followed.
   */
  auditSigningKeys(): AuditSigningKeys {
    const file = this.masterKeys.file;
    const master = file ? loadMasterKeys({ masterKeyFile: file }) : this.masterKeys;
    return auditSigningKeys(master, this.config.auditSigningKeyFile);
  }

  /** Signs a checkpoint of every audit chain whose head moved since the last: how many, and the key. */
  async writeAuditCheckpoints(): Promise<{ written: number; key: SigningKey }> {
    const key = this.auditSigningKeys().signing;
    return { written: await writeCheckpoints(this.db, key, this.clock()), key };
  }

  /** Verifies the audit chains against the checkpoints this process can check, and any given. */
  verifyAudit(options: Omit<VerifyOptions, 'checkpointKeys'> = {}) {
    return verifyAudit(this.db, { ...options, checkpointKeys: this.auditSigningKeys().trusted });
  }

  audit(q: Queryable, record: AuditInput) {
    this.metrics.auditAppends.labels(record.outcome).inc();
    return appendAudit(q, record);
  }

  /** For high-volume events: staged in the action's transaction, chained by the flusher. */
  stageAudit(q: Queryable, records: AuditInput | AuditInput[]) {
    for (const record of [records].flat()) this.metrics.auditAppends.labels(record.outcome).inc();
    return stageAudit(q, records, { clock: this.clock });
  }

  /** For refusals anyone can repeat at will: tallied, one event per source and object per window. */
  tallyAudit(record: AuditInput): void {
    this.auditTally.count(record);
  }

  /**
   * Moves every staged audit event into its chain now, with the tallies of ended windows; with
   * `openWindows`, those of windows still open too (for whoever needs the record now: a refusal
   * later in such a window makes a second event for it).
   */
  async flushAudit(options: { openWindows?: boolean } = {}): Promise<void> {
    await this.tallying;
    await this.auditTally.save();
    while ((await this.auditTally.closeEnded({ open: options.openWindows })) > 0);
    // A periodic flush in flight holds its batch until it commits: wait for it, then drain.
    await this.flushing;
    await this.drainAuditOutbox();
  }

  private async drainAuditOutbox(): Promise<void> {
    while ((await flushAuditOutbox(this.db)) > 0);
  }

  /**
   * One flush, and more only while they come back full: draining to empty would chase the few
   * events staged meanwhile with small flushes of their own (each locks the chain's head and
   * commits), where the next tick takes them together.
   */
  private async flushAuditBatches(): Promise<void> {
    while ((await flushAuditOutbox(this.db)) === AUDIT_FLUSH_LIMIT);
  }

  private auditFlusher: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private tallyTimer: NodeJS.Timeout | null = null;
  private tallying: Promise<void> | null = null;

  /**
   * Every process that stages events also chains them, a few times a second; and every second
   * it saves what it tallied and turns the tallies of ended windows into events.
   */
  private startAuditFlusher(): void {
    this.auditFlusher = setInterval(() => {
      if (this.flushing) return;
      this.flushing = this.flushAuditBatches()
        .catch((err: Error) => this.log.error({ err: err.message }, 'audit outbox flush failed; will retry'))
        .finally(() => (this.flushing = null));
    }, 250);
    this.auditFlusher.unref();
    this.tallyTimer = setInterval(() => {
      if (this.tallying) return;
      this.tallying = this.auditTally
        .save()
        .then(() => this.auditTally.closeEnded())
        .then(
          () => {},
          (err: Error) => this.log.error({ err: err.message }, 'audit tally not saved or closed; will retry'),
        )
        .finally(() => (this.tallying = null));
    }, 1000);
    this.tallyTimer.unref();
  }

  private checkpointer: NodeJS.Timeout | null = null;
  private checkpointing: Promise<unknown> | null = null;

  /** Workers sign the chains' heads every few minutes, off the path of appends. */
  private startCheckpointer(): void {
    this.checkpointer = setInterval(() => {
      if (this.checkpointing) return;
      this.checkpointing = this.writeAuditCheckpoints()
        .catch((err: Error) => this.log.error({ err: err.message }, 'audit checkpoint failed; will retry'))
        .finally(() => (this.checkpointing = null));
    }, this.config.auditCheckpointMinutes * 60_000);
    this.checkpointer.unref();
  }

  async hasOrganizations(): Promise<boolean> {
    const { rows } = await this.db.query('SELECT 1 FROM organizations LIMIT 1');
    return rows.length > 0;
  }

  initOrganization(input: { name: string; adminEmail: string; actor: Actor }): Promise<InitResult> {
    return this.identity.initOrganization(input);
  }

  /** The valid encryption keys for a recipient, newest first: uploaded, else from its WKD. */
  findKeys = async (
    q: Queryable,
    orgId: string,
    address: string,
    now: Date,
    options?: { uploaded?: boolean },
  ): Promise<RecipientKeys> => {
    const found = await this.keyFinder.find(q, orgId, address, now, options);
    const pick = (k: FoundKey) => ({ fingerprint: k.fingerprint, key: k.key, source: k.source });
    return { pgp: found.pgp.map(pick), smime: found.smime.map(pick) };
  };

  async start(roles: readonly Role[] = ROLES): Promise<{ url: string | null }> {
    await checkInstanceMode(this.db, this.config.mode);
    this.roles = [...roles];
    if (roles.includes('api') || roles.includes('worker')) {
      // The API enqueues deliveries; workers take them.
      await this.queue.start();
      this.startAuditFlusher();
      await defineWebhookQueues(this.queue, this.webhookDeps().settings);
      await this.queue.define(PORTAL_MAIL_QUEUE, {
        retryLimit: 8,
        retryDelaySeconds: 10,
        retryBackoff: true,
        retryDelayMaxSeconds: 600,
        expireInSeconds: 120,
        notify: true,
      });
      await this.queue.define(STAFF_MAIL_QUEUE, {
        retryLimit: 8,
        retryDelaySeconds: 10,
        retryBackoff: true,
        retryDelayMaxSeconds: 600,
        expireInSeconds: 120,
        notify: true,
      });
    }
    let url: string | null = null;
    if (roles.includes('api')) {
      this.http = await buildHttpServer({
        config: this.config,
        log: this.log,
        metrics: this.metrics,
        authenticate: (request) => this.identity.authenticate(request),
        authorize: (request) => this.identity.access.authorize(request),
        clock: this.clock,
        ready: async () => {
          if ((await pendingMigrations(this.db)).length > 0)
            throw new Error('database migrations are pending');
        },
        routes: [
          eventRoutes({ db: this.db }),
          webhookRoutes(this.webhookDeps()),
          organizationRoutes(this.identityDeps),
          apiKeyRoutes(this.identityDeps),
          authRoutes(this.identity.staff, this.identity.access),
          rolesRoutes(this.identityDeps, this.identity.staff),
          accessRoutes(this.identityDeps, this.identity.access),
          lifecycleRoutes(this.lifecycleDeps()),
          invitationRoutes(this.lifecycleDeps()),
          breakGlassRoutes(this.lifecycleDeps()),
          consoleRoutes(this.identity.staff, this.identity.access),
          ...(this.identity.sso ? [ssoRoutes(this.identity.sso, this.identity.access)] : []),
          consoleAppRoutes(),
          (app) => auditRoutes(app, { db: this.db, checkpointKeys: () => this.auditSigningKeys().trusted }),
          domainRoutes({
            db: this.db,
            keyring: this.keyring,
            audit: (q, record) => this.audit(q, record),
            dnsServers: this.config.dnsServers,
            mailHostname: this.config.mailHostname,
            ...(this.config.outboundAddresses ? { outboundAddresses: this.config.outboundAddresses } : {}),
            clock: this.clock,
          }),
          recipientKeyRoutes({ db: this.db, audit: (q, record) => this.audit(q, record), clock: this.clock }),
          messageRoutes({ ...this.submitDeps(), findKeys: this.findKeys, clock: this.clock }),
          portalRoutes(this.portalDeps()),
          portalControlRoutes(this.portalDeps()),
          brandingRoutes({ db: this.db, audit: (q, record) => this.audit(q, record) }),
          engagementRoutes({
            db: this.db,
            keyring: this.keyring,
            keys: this.engagementKeys,
            audit: (q, record) => this.audit(q, record),
            stageAudit: (q, record) => this.stageAudit(q, record),
          }),
          feedbackRoutes({
            db: this.db,
            audit: (q, record) => this.audit(q, record),
            stageAudit: (q, record) => this.stageAudit(q, record),
          }),
          suppressionRoutes({ db: this.db, audit: (q, record) => this.audit(q, record) }),
          reportRoutes({ db: this.db, audit: (q, record) => this.audit(q, record), clock: this.clock }),
          sandboxRoutes({ db: this.db, keyring: this.keyring, mode: this.config.mode }),
          preferenceRoutes({ db: this.db, audit: (q, record) => this.audit(q, record) }),
          policyRoutes({
            db: this.db,
            audit: (q, record) => this.audit(q, record),
            changed: (orgId) => this.secureline?.policyChanged(orgId),
          }),
        ],
      });
      url = await this.listen(roles);
    }
    // After the port is ours: a server refused its port delivers nothing either.
    if (roles.includes('worker')) await this.startWorker();
    this.log.info({ roles, database: this.db.kind, mode: this.config.mode }, 'sealpost started');
    return { url };
  }

  /**
   * Listens on the configured port. Only API-only processes on PostgreSQL share a port (Linux
   * SO_REUSEPORT, the kernel spreading connections among them): they serve one database, so any
   * of them may answer. Any other server would split traffic with whatever holds the port (another
   * data folder's server answered half the requests with 401), so it refuses to start.
   */
  private async listen(roles: readonly Role[]): Promise<string> {
    const http = this.http!;
    const { httpHost: host, httpPort: port } = this.config;
    const reusePort = this.db.kind === 'postgres' && roles.length === 1 && roles[0] === 'api';
    try {
      // Node's listen takes reusePort; Fastify's option type does not name it.
      await http.listen({ host, port, reusePort } as { host: string; port: number });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortInUseError(host, port);
      throw err;
    }
    const address = http.server.address() as AddressInfo;
    return `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
  }

  /** What submit needs: the API, portal replies and (later) the gateway all go through it. */
  private submitDeps() {
    return {
      db: this.db,
      keyring: this.keyring,
      audit: (q: Queryable, record: AuditInput) => this.audit(q, record),
      stageAudit: (q: Queryable, record: AuditInput | AuditInput[]) => this.stageAudit(q, record),
      maxBytes: this.config.messageMaxBytes,
      sandbox: this.config.mode === 'sandbox',
      clock: this.clock,
    };
  }

  /** User lifecycle, invitations and break-glass. */
  private lifecycleDeps(): LifecycleDeps {
    return {
      db: this.identityDeps.db,
      audit: (q, record) => this.audit(q, record),
      keyring: this.keyring,
      queue: this.queue,
      clock: this.clock,
      publicUrl: this.config.publicUrl,
      staff: this.identity.staff,
      breakGlass: this.identity.breakGlass,
    };
  }

  private webhookDepsMemo: WebhookDeps | null = null;

  /** Webhook endpoints, fan-out and delivery (a bad SEALPOST_WEBHOOK_RETRY_SCHEDULE fails here). */
  private webhookDeps(): WebhookDeps {
    this.webhookDepsMemo ??= {
      db: this.db,
      keyring: this.keyring,
      queue: this.queue,
      audit: (q, record) => this.audit(q, record),
      clock: this.clock,
      log: this.log,
      settings: webhookSettings(this.config),
      resolve: makeResolver(this.config.dnsServers),
    };
    return this.webhookDepsMemo;
  }

  private portalDeps(): PortalDeps {
    const config = this.config;
    return {
      db: this.db,
      keyring: this.keyring,
      queue: this.queue,
      audit: (q, record) => this.audit(q, record),
      stageAudit: (q, record) => this.stageAudit(q, record),
      tallyAudit: (record) => this.tallyAudit(record),
      submit: this.submitDeps(),
      clock: this.clock,
      log: this.log,
      settings: {
        publicUrl: config.publicUrl,
        idleMinutes: config.portalIdleMinutes,
        sessionMinutes: config.portalSessionMinutes,
        codeMinutes: config.portalCodeMinutes,
        maxFailures: config.portalMaxFailures,
        uploadMaxBytes: config.portalUploadMaxBytes,
      },
    };
  }

  private async startWorker(): Promise<void> {
    // The delivery queue is message_recipients itself; the other queues are pg-boss's.
    this.metrics.queueStats = async () => [
      ...(await this.queue.stats()),
      { name: 'secureline.deliver', ...(await deliveryQueueStats(this.db, this.clock())) },
    ];
    const config = this.config;
    // The sandbox keeps what would have left; production hands it to recipients' servers.
    if (config.mode === 'production')
      this.outbound = new Outbound(
        {
          ...(config.dnsServers ? { dnsServers: config.dnsServers } : {}),
          port: config.deliveryPort,
          ...(config.extraCaFile ? { extraCa: readFileSync(config.extraCaFile, 'utf8') } : {}),
          heloName: config.mailHostname,
          ...(config.fetchPrivateRanges ? { privateRanges: config.fetchPrivateRanges } : {}),
        },
        { log: this.log },
      );
    const transport = this.outbound ?? new CaptureTransport(this.db, this.keyring);
    const personaliser = new Personaliser(this.engagementKeys, config.publicUrl);
    this.secureline = new Secureline({
      db: this.db,
      keyring: this.keyring,
      transport,
      encrypt: {
        pgp: (raw, keys, options) => encryptPgpMime(raw, keys, options),
        smime: (raw, certificates, options) => encryptSmime(raw, certificates, options),
      },
      findKeys: this.findKeys,
      stageAudit: (q, record) => this.stageAudit(q, record),
      log: this.log,
      clock: this.clock,
      publicUrl: config.publicUrl,
      lifetimeHours: config.deliveryLifetimeHours,
      retryBaseSeconds: config.deliveryRetrySeconds,
      portalExpiryDays: config.portalExpiryDays,
      sandbox: config.mode === 'sandbox',
      personalise: (content, ctx) => personaliser.personalise(content, ctx),
      observe: (method, outcome, seconds) => {
        this.metrics.deliveryAttempts.labels(method, outcome).inc();
        this.metrics.deliverySeconds.labels(method).observe(seconds);
      },
    });
    this.deliveryWorker = new DeliveryWorker(
      { db: this.db, secureline: this.secureline, log: this.log, clock: this.clock },
      {
        concurrency: config.deliveryConcurrency,
        leaseSeconds: config.deliveryLeaseSeconds,
        heartbeatSeconds: config.deliveryHeartbeatSeconds,
        // One process owns the embedded database: what is claimed at start, a dead process claimed.
        soleWorker: this.db.kind === 'pglite',
      },
    );
    await this.deliveryWorker.start();
    this.webhooks = await startWebhookWorker(this.webhookDeps());
    const secureline = this.secureline;
    const mailer = new PortalMailer({
      db: this.db,
      keyring: this.keyring,
      sms: createSmsSender(config, {
        db: this.db,
        keyring: this.keyring,
        sandbox: config.mode === 'sandbox',
      }),
      log: this.log,
      clock: this.clock,
      publicUrl: config.publicUrl,
      codeMinutes: config.portalCodeMinutes,
      sendMail: (input) => secureline.sendSystemMail(input),
    });
    await this.queue.work<PortalMailJob>(PORTAL_MAIL_QUEUE, (job) => mailer.handle(job.data), {
      batchSize: 4,
      pollingIntervalSeconds: 1,
    });
    // Invitations and break-glass alerts to staff, sealed in their outbox until sent.
    const staffMailer = new StaffMailer({
      db: this.db,
      keyring: this.keyring,
      log: this.log,
      clock: this.clock,
      sendMail: (input) => secureline.sendSystemMail(input),
    });
    await this.queue.work<StaffMailJob>(STAFF_MAIL_QUEUE, (job) => staffMailer.handle(job.data), {
      batchSize: 4,
      pollingIntervalSeconds: 1,
    });
    // Break-glass elevations end on time even when no request comes after: checked every minute.
    await this.queue.define('break-glass.expire', { retryLimit: 2, expireInSeconds: 300 });
    await this.queue.schedule('break-glass.expire', '* * * * *');
    await this.queue.work('break-glass.expire', () => this.identity.breakGlass.expireDue().then(() => {}));
    // Portal deliveries whose time ran out are marked expired every minute (the portal itself
    // checks the time on every request; this keeps the message's record true).
    await this.queue.define('portal.expire', { retryLimit: 2, expireInSeconds: 300 });
    await this.queue.schedule('portal.expire', '* * * * *');
    await this.queue.work('portal.expire', () => this.expirePortal().then(() => {}));
    // Every night each audit chain is verified, and the result itself goes on the record.
    await this.queue.define('audit.verify', { retryLimit: 2, expireInSeconds: 3600 });
    await this.queue.schedule('audit.verify', '17 3 * * *');
    await this.queue.work('audit.verify', () => this.verifyAuditTrail().then(() => {}));
    this.startCheckpointer();
  }

  expirePortal(): Promise<number> {
    return expirePortalDeliveries({
      db: this.db,
      stageAudit: (q, r) => this.stageAudit(q, r),
      clock: this.clock,
    });
  }

  /** Verifies every audit chain and records the outcome in the system chain. */
  async verifyAuditTrail() {
    const result = await this.verifyAudit();
    if (!result.ok)
      for (const b of result.breaks)
        this.log.error({ org_id: b.orgId, seq: b.seq, reason: b.reason }, 'audit chain broken');
    const checkpoints = result.checkpoints.checked;
    await this.audit(this.db, {
      orgId: SYSTEM_ORG_ID,
      actor: { type: 'system', id: 'scheduler', label: 'scheduler' },
      action: 'audit.verified',
      objectType: 'audit_trail',
      objectId: result.ok ? 'all' : result.orgId,
      outcome: result.ok ? 'success' : 'failure',
      details: result.ok
        ? { chains: result.chains, events: result.events, checkpoints }
        : {
            reason: result.reason,
            seq: result.seq,
            broken_chains: result.breaks.length,
            chains: result.chains,
            checkpoints,
          },
    });
    return result;
  }

  /** Stops taking work, lets what runs finish, then closes the database. */
  async stop(): Promise<void> {
    await this.stopServices();
    await this.db.close();
  }

  /** Stops serving and working, chains what is staged, and leaves the database open. */
  async stopServices(options: { queueTimeoutMs?: number } = {}): Promise<void> {
    if (this.http) await this.http.close();
    await this.webhooks?.stop();
    this.webhooks = null;
    await this.deliveryWorker?.stop(options.queueTimeoutMs);
    this.deliveryWorker = null;
    if (this.roles.includes('worker') || this.roles.includes('api'))
      await this.queue.stop(options.queueTimeoutMs ? { timeoutMs: options.queueTimeoutMs } : {});
    await this.outbound?.close();
    if (this.auditFlusher) {
      clearInterval(this.auditFlusher);
      clearInterval(this.tallyTimer!);
      this.auditFlusher = null;
      this.tallyTimer = null;
      await this.tallying;
      await this.flushing;
      await this.flushAudit().catch((err: Error) =>
        this.log.error({ err: err.message }, 'staged audit events left for the next start'),
      );
    }
    if (this.checkpointer) {
      clearInterval(this.checkpointer);
      this.checkpointer = null;
    }
    await this.checkpointing;
    // What this process chained last is signed before it goes.
    if (this.roles.length > 0) {
      await this.writeAuditCheckpoints().catch((err: Error) =>
        this.log.error({ err: err.message }, 'audit checkpoint on stop failed'),
      );
    }
  }
}
