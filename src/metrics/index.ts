import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { QueueStats } from '../queue/index.ts';

/** One registry per process, served at /metrics in the Prometheus text format. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests: Histogram<'method' | 'route' | 'status'>;
  readonly auditAppends: Counter<'outcome'>;
  readonly queueJobs: Gauge<'queue' | 'state'>;
  readonly queueOldestActiveSeconds: Gauge<'queue'>;
  readonly deliveryAttempts: Counter<'method' | 'outcome'>;
  readonly deliverySeconds: Histogram<'method'>;
  /** Read at each scrape by the worker role; unset in a process that runs no worker. */
  queueStats: (() => Promise<QueueStats[]>) | null = null;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'sealpost_' });
    this.httpRequests = new Histogram({
      name: 'sealpost_http_request_duration_seconds',
      help: 'HTTP requests by route template and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.auditAppends = new Counter({
      name: 'sealpost_audit_events_total',
      help: 'Audit events appended.',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.deliveryAttempts = new Counter({
      name: 'sealpost_delivery_attempts_total',
      help: 'Delivery attempts by protection method and outcome (delivered, deferred, bounced, tls_failed, failed).',
      labelNames: ['method', 'outcome'],
      registers: [this.registry],
    });
    this.deliverySeconds = new Histogram({
      name: 'sealpost_delivery_attempt_duration_seconds',
      help: 'Time of one delivery attempt (build, encrypt, sign, SMTP), by method.',
      labelNames: ['method'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client binds `this` in collect to the gauge
    const metrics = this;
    this.queueJobs = new Gauge({
      name: 'sealpost_queue_jobs',
      help: 'Jobs per queue and state.',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        for (const q of (await metrics.queueStats?.()) ?? []) {
          this.labels(q.name, 'queued').set(q.queued);
          this.labels(q.name, 'active').set(q.active);
          this.labels(q.name, 'failed').set(q.failed);
          this.labels(q.name, 'deferred').set(q.deferred);
        }
      },
    });
    this.queueOldestActiveSeconds = new Gauge({
      name: 'sealpost_queue_oldest_active_seconds',
      help: 'Age of the oldest job held by a worker, per queue: a stuck lock shows here.',
      labelNames: ['queue'],
      registers: [this.registry],
      async collect() {
        for (const q of (await metrics.queueStats?.()) ?? []) this.labels(q.name).set(q.oldestActiveSeconds);
      },
    });
  }
}
