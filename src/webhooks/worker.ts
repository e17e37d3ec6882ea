import type { JobQueue } from '../queue/index.ts';
import { WebhookDispatcher } from './dispatcher.ts';
import { fanOut } from './fanout.ts';
import {
  WEBHOOK_QUEUE,
  WEBHOOK_SWEEP_QUEUE,
  type WebhookDeps,
  type WebhookJob,
  type WebhookSettings,
} from './types.ts';

/**
 * The webhook queues, apart from mail delivery's. A job's own retries only cover a worker that
 * failed to record (database trouble): webhook retries are scheduled by the dispatcher itself.
 */
export async function defineWebhookQueues(queue: JobQueue, settings: WebhookSettings): Promise<void> {
  await queue.define(WEBHOOK_QUEUE, {
    retryLimit: 5,
    retryDelaySeconds: 5,
    retryBackoff: true,
    retryDelayMaxSeconds: 300,
    expireInSeconds: WebhookDispatcher.leaseSeconds(settings.timeoutMs),
    notify: true,
  });
  await queue.define(WEBHOOK_SWEEP_QUEUE, { retryLimit: 2, expireInSeconds: 300 });
}

export interface WebhookWorker {
  /** Stops fanning out and sending; what was under way is sent again later. */
  stop(): Promise<void>;
}

/** How often new events are fanned out, and endpoints whose next retry is due woken. */
const TICK_MS = 250;

export async function startWebhookWorker(deps: WebhookDeps): Promise<WebhookWorker> {
  const dispatcher = new WebhookDispatcher(deps);
  // One fetch loop per endpoint served at once: a slow endpoint holds one loop, not the others.
  await deps.queue.work<WebhookJob>(WEBHOOK_QUEUE, (job) => dispatcher.drain(job.data), {
    batchSize: 1,
    loops: deps.settings.concurrency,
    pollingIntervalSeconds: 1,
  });
  await deps.queue.schedule(WEBHOOK_SWEEP_QUEUE, '* * * * *');
  await deps.queue.work(WEBHOOK_SWEEP_QUEUE, () => sweep(deps).then(() => {}));

  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = Promise.all([fanOut(deps), wakeDue(deps)])
      .catch((err: Error) => deps.log.error({ err: err.message }, 'webhook fan-out failed; will retry'))
      .finally(() => (running = null));
  }, TICK_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
      await dispatcher.stop();
    },
  };
}

/**
 * Wakes the endpoints whose next retry time has come (wake_at, set by the worker that last
 * served them): taking the time and queueing the job in one transaction, so one wake-up each.
 */
export async function wakeDue(deps: Pick<WebhookDeps, 'db' | 'queue' | 'clock'>): Promise<number> {
  const now = deps.clock();
  return deps.db.transaction(async (tx) => {
    const { rows } = await tx.query<{ org_id: string; endpoint_id: string }>(
      `UPDATE webhook_endpoints SET wake_at = NULL
       WHERE wake_at <= $1 AND enabled AND (drain_until IS NULL OR drain_until < $1)
       RETURNING org_id, endpoint_id`,
      [now],
    );
    await deps.queue.sendMany(
      WEBHOOK_QUEUE,
      rows.map((r) => ({ data: { org_id: r.org_id, endpoint_id: r.endpoint_id } satisfies WebhookJob })),
      { tx },
    );
    return rows.length;
  });
}

/**
 * Every minute: wakes endpoints with deliveries due and no worker on them (a wake-up lost with a
 * crashed worker), and trims the delivery log of deliveries finished longer ago than the
 * retention, a bounded batch at a time.
 */
export async function sweep(deps: Pick<WebhookDeps, 'db' | 'queue' | 'clock' | 'settings'>) {
  const now = deps.clock();
  const { rows } = await deps.db.query<{ org_id: string; endpoint_id: string }>(
    `SELECT e.org_id, e.endpoint_id FROM webhook_endpoints e
     WHERE e.enabled AND (e.drain_until IS NULL OR e.drain_until < $1)
       AND EXISTS (SELECT 1 FROM webhook_deliveries d
         WHERE d.org_id = e.org_id AND d.endpoint_id = e.endpoint_id AND d.next_attempt_at <= $1)
     LIMIT 1000`,
    [now],
  );
  await deps.queue.sendMany(
    WEBHOOK_QUEUE,
    rows.map((r) => ({ data: { org_id: r.org_id, endpoint_id: r.endpoint_id } satisfies WebhookJob })),
  );
  const before = new Date(now.getTime() - deps.settings.logDays * 86_400_000);
  const trimmed = await deps.db.query(
    `DELETE FROM webhook_deliveries WHERE (org_id, delivery_id) IN (
       SELECT org_id, delivery_id FROM webhook_deliveries WHERE finished_at < $1 LIMIT 10000)`,
    [before],
  );
  await deps.db.query('DELETE FROM webhook_secrets WHERE expires_at < $1', [now]);
  return { woken: rows.length, trimmed: trimmed.rowCount };
}
