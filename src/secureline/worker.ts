import { DELIVERY_QUEUE, type DeliveryJob } from '../messages/index.ts';
import type { JobQueue } from '../queue/index.ts';
import type { Secureline } from './deliver.ts';

/**
 * The delivery queue. Deferrals are scheduled by SecureLine itself (a new job at the next try),
 * so the queue's own retries only cover a worker that failed to record an outcome (database
 * trouble): a few quick tries, then the dead-letter queue, where an operator sees it.
 */
export async function defineDeliveryQueue(queue: JobQueue, leaseSeconds: number): Promise<void> {
  await queue.define(DELIVERY_QUEUE, {
    retryLimit: 10,
    retryDelaySeconds: 15,
    retryBackoff: true,
    retryDelayMaxSeconds: 900,
    expireInSeconds: leaseSeconds,
    notify: true,
  });
}

export async function startDeliveryWorker(
  queue: JobQueue,
  secureline: Secureline,
  options: { concurrency: number },
): Promise<void> {
  // Up to four fetch loops share the concurrency, so a slow recipient server holds back a quarter
  // of it; each takes at least two jobs at a time while it can (a loop of one waits for a wake-up
  // between jobs, see JobQueue.work).
  const loops = Math.max(1, Math.min(4, Math.floor(options.concurrency / 2)));
  await queue.work<DeliveryJob>(DELIVERY_QUEUE, (job) => secureline.deliver(job.data), {
    batchSize: Math.ceil(options.concurrency / loops),
    loops,
    pollingIntervalSeconds: 1,
  });
}
