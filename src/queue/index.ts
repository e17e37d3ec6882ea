import { fromPglite, type Db as IDatabase, PgBoss } from 'pg-boss';
import type { Db, PgliteDb, PostgresDb, Queryable } from '../db/index.ts';
import { PreparingClient } from '../db/preparing-client.ts';

// The job queue is pg-boss on our database: jobs are rows taken with FOR UPDATE SKIP LOCKED, so any
// number of workers share them. Each job has a lease (expireInSeconds): a worker that dies leaves
// its job to be taken again when the lease runs out. Delivery is at least once: handlers are
// written to be repeated safely.

export interface JobPolicy {
  /** Attempts after the first failure. */
  retryLimit?: number;
  /** Seconds before the first retry; doubled each time with retryBackoff. */
  retryDelaySeconds?: number;
  retryBackoff?: boolean;
  /** Longest wait between retries. */
  retryDelayMaxSeconds?: number;
  /** The lease: how long a worker may hold a job before another may take it. */
  expireInSeconds?: number;
  /** Jobs that used up their retries move to '<name>.dead' (on by default). */
  deadLetter?: boolean;
  /** Wake workers the moment a job is created (LISTEN/NOTIFY), rather than at their next poll. */
  notify?: boolean;
}

export interface SendOptions {
  /** Enqueue inside the caller's transaction: the job exists only if the transaction commits. */
  tx?: Queryable;
  startAfter?: Date | number;
  singletonKey?: string;
  priority?: number;
}

export interface JobContext<T> {
  id: string;
  name: string;
  data: T;
  retryCount: number;
  signal: AbortSignal;
}

export interface QueueStats {
  name: string;
  queued: number;
  active: number;
  failed: number;
  deferred: number;
  oldestActiveSeconds: number;
}

export interface QueueOptions {
  schema?: string;
  pollingIntervalSeconds?: number;
  superviseIntervalSeconds?: number;
  maintenanceIntervalSeconds?: number;
}

const DEFAULT_POLICY: Required<Omit<JobPolicy, 'deadLetter' | 'notify'>> = {
  retryLimit: 8,
  retryDelaySeconds: 30,
  retryBackoff: true,
  retryDelayMaxSeconds: 3600,
  expireInSeconds: 300,
};

/** pg-boss over PGlite, each of its writes made durable before it counts. */
function pgliteAdapter(db: PgliteDb): IDatabase {
  const inner = fromPglite(db.pglite);
  return {
    ...inner,
    executeSql: async (text, values) => {
      const result = await inner.executeSql(text, values);
      await db.flush();
      return result;
    },
  };
}

const inTransaction = (tx: Queryable): IDatabase => ({
  executeSql: (text, values) => tx.query(text, values),
});

export class JobQueue {
  readonly boss: PgBoss;
  private readonly db: Db;
  private readonly pollingIntervalSeconds: number;
  private readonly defined = new Set<string>();
  private started = false;

  constructor(db: Db, options: QueueOptions = {}) {
    this.db = db;
    this.pollingIntervalSeconds = options.pollingIntervalSeconds ?? 2;
    const common = {
      schema: options.schema ?? 'pgboss',
      superviseIntervalSeconds: options.superviseIntervalSeconds ?? 30,
      // The monitor is what fails jobs whose lease ran out, so it runs as often as supervision.
      monitorIntervalSeconds: options.superviseIntervalSeconds ?? 30,
      maintenanceIntervalSeconds: options.maintenanceIntervalSeconds ?? 120,
      // New jobs wake workers through LISTEN/NOTIFY (queues opt in with `notify`); polling stays
      // as the floor.
      useListenNotify: true,
    };
    // Handed on to pg-boss's pg.Pool: its statements are prepared once per connection, as ours are.
    const preparing = { Client: PreparingClient };
    this.boss =
      db.kind === 'pglite'
        ? new PgBoss({ ...common, db: pgliteAdapter(db as PgliteDb), backend: 'pglite' })
        : new PgBoss({ ...common, connectionString: (db as PostgresDb).url, max: 4, ...preparing });
    // pg-boss reports maintenance trouble as events; without a listener they would crash the process.
    this.boss.on('error', () => {});
  }

  async start(): Promise<void> {
    if (this.started) return;
    await this.boss.start();
    this.started = true;
  }

  /** Creates the queue (and its dead-letter queue) with this policy, or updates the policy. */
  async define(name: string, policy: JobPolicy = {}): Promise<void> {
    const p = { ...DEFAULT_POLICY, ...policy };
    const dead = policy.deadLetter === false ? undefined : `${name}.dead`;
    if (dead && !(await this.boss.getQueue(dead)))
      await this.boss.createQueue(dead, { retentionSeconds: 14 * 86400 });
    const options = {
      retryLimit: p.retryLimit,
      retryDelay: p.retryDelaySeconds,
      retryBackoff: p.retryBackoff,
      ...(p.retryBackoff ? { retryDelayMax: p.retryDelayMaxSeconds } : {}),
      expireInSeconds: p.expireInSeconds,
      deadLetter: dead,
      notify: policy.notify ?? false,
    };
    if (await this.boss.getQueue(name)) await this.boss.updateQueue(name, options);
    else await this.boss.createQueue(name, options);
    this.defined.add(name);
  }

  async send(name: string, data: object, options: SendOptions = {}): Promise<string> {
    // pg-boss checks every key it is given, so only the ones set are passed.
    const { tx, ...rest } = options;
    const given = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
    const id = await this.boss.send(name, data, { ...given, ...(tx ? { db: inTransaction(tx) } : {}) });
    if (!id) throw new Error(`job for ${name} was not created (a singleton already waits)`);
    return id;
  }

  /** Enqueues many jobs in one statement (inside the caller's transaction when `tx` is given). */
  async sendMany(
    name: string,
    jobs: { data: object; startAfter?: Date; priority?: number }[],
    options: { tx?: Queryable } = {},
  ): Promise<void> {
    if (jobs.length === 0) return;
    const rows = jobs.map((job) =>
      Object.fromEntries(Object.entries(job).filter(([, v]) => v !== undefined)),
    );
    await this.boss.insert(name, rows, options.tx ? { db: inTransaction(options.tx) } : {});
  }

  /**
   * Runs `handler` for each job, fetched in batches. A job whose handler throws is retried by its
   * queue's policy, then dead-lettered; the others in its batch are settled on their own.
   * `loops` independent fetch loops run side by side, so one slow job holds back only its own
   * batch; while batches come back full, the next fetch follows at once.
   */
  async work<T extends object>(
    name: string,
    handler: (job: JobContext<T>) => Promise<void>,
    options: { batchSize?: number; loops?: number; pollingIntervalSeconds?: number } = {},
  ): Promise<string> {
    const batchSize = options.batchSize ?? 10;
    const loops = options.loops ?? 1;
    const polling = options.pollingIntervalSeconds ?? this.pollingIntervalSeconds;
    // pg-boss fetches again at once only after a full batch of more than one job; a single loop
    // taking one job at a time would wait out its poll (5 s while notifications are on) between
    // the jobs of a backlog. Such a loop is woken after each job instead.
    let single: string | undefined;
    const id = await this.boss.work<T>(
      name,
      {
        batchSize,
        localConcurrency: loops,
        burstWhenBatchFull: batchSize > 1,
        pollingIntervalSeconds: polling,
        notifyPollingIntervalSeconds: Math.max(5, polling),
        perJobResults: true,
      },
      async (jobs) => {
        const outcomes = await Promise.allSettled(jobs.map((job) => handler(job)));
        if (single && jobs.length > 0) this.boss.notifyWorker(single);
        return jobs.map((job, i) => {
          const outcome = outcomes[i]!;
          if (outcome.status === 'fulfilled') return { id: job.id, status: 'completed' as const };
          const err = outcome.reason as Error;
          return { id: job.id, status: 'failed' as const, output: { message: err?.message ?? String(err) } };
        });
      },
    );
    if (batchSize === 1 && loops === 1) single = id;
    return id;
  }

  /** A recurring job, by cron expression (UTC). */
  async schedule(name: string, cron: string, data: object = {}): Promise<void> {
    await this.boss.schedule(name, cron, data, { tz: 'UTC' });
  }

  async stats(): Promise<QueueStats[]> {
    const out: QueueStats[] = [];
    for (const name of this.defined) {
      const queue = await this.boss.getQueue(name);
      const { rows } = await this.db.query<{ age: number | null }>(
        `SELECT extract(epoch FROM now() - min(started_on))::float8 AS age FROM pgboss.job WHERE name = $1 AND state = 'active'`,
        [name],
      );
      out.push({
        name,
        queued: queue?.queuedCount ?? 0,
        active: queue?.activeCount ?? 0,
        failed: queue?.failedCount ?? 0,
        deferred: queue?.deferredCount ?? 0,
        oldestActiveSeconds: rows[0]?.age ?? 0,
      });
    }
    return out;
  }

  async stop(options: { graceful?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.boss.stop({
      graceful: options.graceful ?? true,
      timeout: options.timeoutMs ?? 10_000,
      close: true,
    });
  }
}
