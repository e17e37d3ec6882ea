import { readFileSync } from 'node:fs';
import tls, { type SecureContext } from 'node:tls';
import type { Transaction } from '../db/index.ts';
import { eventsBySeq, type PublicEvent } from '../events/index.ts';
import { signingSecrets } from './endpoints.ts';
import { resolveTarget, type Target, TargetRefused } from './guard.ts';
import { retryDelaySeconds } from './schedule.ts';
import { keepAliveAgents, type SendOutcome, sendWebhook } from './send.ts';
import { secretKey, signedHeaders } from './signature.ts';
import { SYSTEM_ACTOR, WEBHOOK_QUEUE, type WebhookDeps, type WebhookJob } from './types.ts';

// Sending one endpoint what it is owed. One worker at a time per endpoint, across all processes:
// it holds a lease on the endpoint's row (drain_until) and works in rounds. Each round, in one
// short transaction: record the last round's outcomes, take the due deliveries (due first, then in
// chain order), renew the lease. Then, outside any transaction: check the URL's addresses again,
// sign, and send with at most `endpointConcurrency` requests in flight. A slow or dead endpoint
// thus holds only its own worker; mail delivery has its own queue and never waits for webhooks.
//
// Delivery is at least once: an outcome is recorded after the request, so a worker that dies
// between the two leaves the delivery due, and it is sent again.

interface Due {
  [column: string]: unknown;
  delivery_id: string;
  kind: 'event' | 'replay' | 'test';
  event_seq: string | null;
  event_type: string;
  payload: PublicEvent | null;
  attempts: number;
}

interface Result {
  delivery: Due;
  startedAt: Date;
  outcome: SendOutcome;
  /** No retry: the event cannot be built. */
  final?: boolean;
}

interface Round {
  url: string;
  includePhi: boolean;
  due: Due[];
}

/** The longest a worker keeps one endpoint before handing it to the next job. */
const MAX_DRAIN_MS = 60_000;

export class WebhookDispatcher {
  private readonly deps: WebhookDeps;
  private readonly agents = keepAliveAgents();
  private secureContext: SecureContext | null = null;
  private readonly stopping = new AbortController();
  private readonly active = new Set<Promise<void>>();

  constructor(deps: WebhookDeps) {
    this.deps = deps;
  }

  /** The job's handler: sends the endpoint what is due, until nothing is, or for a minute at most. */
  drain(job: WebhookJob): Promise<void> {
    const running = this.drainLoop(job.org_id, job.endpoint_id).finally(() => this.active.delete(running));
    this.active.add(running);
    return running;
  }

  /** Stops taking rounds, aborts requests under way (they are sent again later), and waits. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled([...this.active]);
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** The longest one job may hold the queue's lease. */
  static leaseSeconds(timeoutMs: number): number {
    return Math.ceil((MAX_DRAIN_MS + timeoutMs) / 1000) + 60;
  }

  private async drainLoop(orgId: string, endpointId: string): Promise<void> {
    const { settings } = this.deps;
    const until = Date.now() + MAX_DRAIN_MS;
    const batch = Math.min(100, Math.max(10, settings.endpointConcurrency * 4));
    let results: Result[] = [];
    for (let first = true; ; first = false) {
      if (this.stopping.signal.aborted) {
        // What was sent in this round will be sent again: never recorded, still due.
        if (!first)
          await this.deps.db.query(
            'UPDATE webhook_endpoints SET drain_until = NULL WHERE org_id = $1 AND endpoint_id = $2',
            [orgId, endpointId],
          );
        return;
      }
      const recorded = results;
      const round = await this.deps.db.transaction((tx) =>
        this.round(tx, orgId, endpointId, recorded, { first, timeUp: Date.now() > until, batch }),
      );
      if (!round) return;
      results = await this.send(orgId, endpointId, round);
    }
  }

  private async round(
    tx: Transaction,
    orgId: string,
    endpointId: string,
    results: Result[],
    options: { first: boolean; timeUp: boolean; batch: number },
  ): Promise<Round | null> {
    const now = this.deps.clock();
    // The endpoint's row first, always: every transaction that touches an endpoint and its
    // deliveries takes them in that order.
    const { rows } = await tx.query<{
      url: string;
      include_phi: boolean;
      enabled: boolean;
      drain_until: Date | null;
    }>(
      `SELECT url, include_phi, enabled, drain_until FROM webhook_endpoints
       WHERE org_id = $1 AND endpoint_id = $2 FOR NO KEY UPDATE`,
      [orgId, endpointId],
    );
    const endpoint = rows[0];
    if (!endpoint) return null; // deleted
    if (options.first && endpoint.drain_until && endpoint.drain_until > now) return null; // another worker has it
    const release = () =>
      tx.query('UPDATE webhook_endpoints SET drain_until = NULL WHERE org_id = $1 AND endpoint_id = $2', [
        orgId,
        endpointId,
      ]);
    if (results.length > 0 && (await this.record(tx, orgId, endpointId, results, now)) === 'disabled')
      return null;
    if (!endpoint.enabled) {
      await release();
      return null;
    }
    if (options.timeUp) {
      await release();
      await this.wake(tx, orgId, endpointId);
      return null;
    }
    const { rows: due } = await tx.query<Due>(
      `SELECT delivery_id, kind, event_seq, event_type, payload, attempts FROM webhook_deliveries
       WHERE org_id = $1 AND endpoint_id = $2 AND next_attempt_at <= $3
       ORDER BY next_attempt_at, event_seq NULLS LAST, created_at LIMIT $4`,
      [orgId, endpointId, now, options.batch],
    );
    if (due.length === 0) {
      // Nothing due: let go, and leave the time of the next retry for the tick to wake us at.
      await tx.query(
        `UPDATE webhook_endpoints SET drain_until = NULL, wake_at = (SELECT min(next_attempt_at)
           FROM webhook_deliveries WHERE org_id = $1 AND endpoint_id = $2 AND next_attempt_at IS NOT NULL)
         WHERE org_id = $1 AND endpoint_id = $2`,
        [orgId, endpointId],
      );
      return null;
    }
    const lease = new Date(now.getTime() + this.deps.settings.timeoutMs + 60_000);
    await tx.query('UPDATE webhook_endpoints SET drain_until = $3 WHERE org_id = $1 AND endpoint_id = $2', [
      orgId,
      endpointId,
      lease,
    ]);
    return { url: endpoint.url, includePhi: endpoint.include_phi, due };
  }

  private wake(tx: Transaction, orgId: string, endpointId: string) {
    return this.deps.queue.send(
      WEBHOOK_QUEUE,
      { org_id: orgId, endpoint_id: endpointId } satisfies WebhookJob,
      {
        tx,
      },
    );
  }

  /** Signs and sends one round's deliveries, at most endpointConcurrency at once, in order. */
  private async send(orgId: string, endpointId: string, round: Round): Promise<Result[]> {
    const { deps } = this;
    const now = deps.clock();
    const keys = (await signingSecrets(deps, orgId, endpointId, now)).map(secretKey);
    const seqs = round.due.filter((d) => d.event_seq !== null).map((d) => Number(d.event_seq));
    const events = await eventsBySeq(deps.db, orgId, seqs);
    const addresses = round.includePhi ? await this.addresses(orgId, [...events.values()]) : new Map();
    // DNS is asked again every round: an address allowed yesterday may not be today.
    let target: Target | null = null;
    let refused: string | null = null;
    try {
      target = await resolveTarget(round.url, deps.settings.policy, deps.resolve);
    } catch (err) {
      if (!(err instanceof TargetRefused)) throw err;
      refused = `refused: ${err.message}`;
    }
    const results: Result[] = [];
    let next = 0;
    const worker = async () => {
      while (next < round.due.length && !this.stopping.signal.aborted) {
        const delivery = round.due[next++]!;
        const startedAt = deps.clock();
        const event = delivery.kind === 'test' ? delivery.payload : events.get(Number(delivery.event_seq));
        if (!event) {
          results.push({
            delivery,
            startedAt,
            outcome: failure('the event is no longer available'),
            final: true,
          });
          continue;
        }
        if (!target) {
          results.push({ delivery, startedAt, outcome: failure(refused!) });
          continue;
        }
        const address = event.recipient_id ? addresses.get(event.recipient_id) : undefined;
        const body = JSON.stringify(
          round.includePhi ? { ...event, recipient_address: address ?? null } : event,
        );
        const timestamp = Math.floor(deps.clock().getTime() / 1000);
        const outcome = await sendWebhook(target, body, signedHeaders(keys, event.id, timestamp, body), {
          connectTimeoutMs: deps.settings.connectTimeoutMs,
          timeoutMs: deps.settings.timeoutMs,
          secureContext: this.context(),
          agents: this.agents,
          signal: this.stopping.signal,
        });
        results.push({ delivery, startedAt, outcome });
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(deps.settings.endpointConcurrency, round.due.length) }, worker),
    );
    // Kept in the order the deliveries were taken, for the failure count below.
    const order = new Map(round.due.map((d, i) => [d.delivery_id, i]));
    return results.sort((a, b) => order.get(a.delivery.delivery_id)! - order.get(b.delivery.delivery_id)!);
  }

  /** Recipients' addresses, for endpoints allowed to receive PHI. */
  private async addresses(orgId: string, events: PublicEvent[]): Promise<Map<string, string>> {
    const ids = [...new Set(events.flatMap((e) => (e.recipient_id ? [e.recipient_id] : [])))];
    if (ids.length === 0) return new Map();
    const { rows } = await this.deps.db.query<{ recipient_id: string; address: string }>(
      'SELECT recipient_id, address FROM message_recipients WHERE org_id = $1 AND recipient_id = ANY($2::uuid[])',
      [orgId, ids],
    );
    return new Map(rows.map((r) => [r.recipient_id, r.address]));
  }

  /** Writes the attempts, each delivery's next step and the endpoint's health; may disable it. */
  private async record(
    tx: Transaction,
    orgId: string,
    endpointId: string,
    results: Result[],
    now: Date,
  ): Promise<'ok' | 'disabled'> {
    const { settings } = this.deps;
    const rows = results.map((r) => {
      const attempt = r.delivery.attempts + 1;
      const wait = r.outcome.ok || r.final ? null : retryDelaySeconds(settings.schedule, attempt);
      const state = r.outcome.ok ? 'succeeded' : wait === null ? 'failed' : 'pending';
      return {
        delivery_id: r.delivery.delivery_id,
        attempt,
        started_at: r.startedAt.toISOString(),
        duration_ms: r.outcome.durationMs,
        status: r.outcome.status,
        error: r.outcome.error?.slice(0, 500) ?? null,
        state,
        next_attempt_at: wait === null ? null : new Date(now.getTime() + wait * 1000).toISOString(),
        finished_at: state === 'pending' ? null : now.toISOString(),
      };
    });
    const json = JSON.stringify(rows);
    // A delivery removed meanwhile (its endpoint deleted) is left out.
    await tx.query(
      `INSERT INTO webhook_attempts (org_id, endpoint_id, delivery_id, attempt, started_at, duration_ms, status, error)
       SELECT $1, $2, r.delivery_id, r.attempt, r.started_at, r.duration_ms, r.status, r.error
       FROM jsonb_to_recordset($3::jsonb) AS r (delivery_id uuid, attempt int, started_at timestamptz,
         duration_ms int, status int, error text)
       WHERE EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.org_id = $1 AND d.delivery_id = r.delivery_id)`,
      [orgId, endpointId, json],
    );
    await tx.query(
      `UPDATE webhook_deliveries d SET state = r.state, attempts = r.attempt, next_attempt_at = r.next_attempt_at,
         last_status = r.status, last_error = r.error, finished_at = r.finished_at
       FROM jsonb_to_recordset($2::jsonb) AS r (delivery_id uuid, attempt int, status int, error text, state text,
         next_attempt_at timestamptz, finished_at timestamptz)
       WHERE d.org_id = $1 AND d.delivery_id = r.delivery_id`,
      [orgId, json],
    );
    const lastOk = results.findLastIndex((r) => r.outcome.ok);
    if (lastOk >= 0) {
      const failuresAfter = results.length - 1 - lastOk;
      await tx.query(
        `UPDATE webhook_endpoints SET consecutive_failures = $3, failing_since = $4, last_success_at = $5
         WHERE org_id = $1 AND endpoint_id = $2`,
        [orgId, endpointId, failuresAfter, failuresAfter > 0 ? results[lastOk + 1]!.startedAt : null, now],
      );
      return 'ok';
    }
    const { rows: health } = await tx.query<{ consecutive_failures: number; failing_since: Date }>(
      `UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + $3,
         failing_since = coalesce(failing_since, $4)
       WHERE org_id = $1 AND endpoint_id = $2 RETURNING consecutive_failures, failing_since`,
      [orgId, endpointId, results.length, results[0]!.startedAt],
    );
    const h = health[0];
    if (!h) return 'ok';
    const hours = (now.getTime() - h.failing_since.getTime()) / 3_600_000;
    const tooMany =
      settings.disableAfterFailures > 0 && h.consecutive_failures >= settings.disableAfterFailures;
    if (!tooMany && hours < settings.disableAfterHours) return 'ok';
    const reason = tooMany
      ? `${h.consecutive_failures} attempts in a row failed`
      : `every attempt failed for ${Math.floor(hours)} hours`;
    await tx.query(
      `UPDATE webhook_endpoints SET enabled = false, disabled_reason = $3, disabled_at = $4, drain_until = NULL,
         updated_at = $4
       WHERE org_id = $1 AND endpoint_id = $2 AND enabled`,
      [orgId, endpointId, reason, now],
    );
    await this.deps.audit(tx, {
      orgId,
      actor: SYSTEM_ACTOR,
      action: 'webhook.disabled',
      objectType: 'webhook_endpoint',
      objectId: endpointId,
      outcome: 'failure',
      details: {
        reason,
        consecutive_failures: h.consecutive_failures,
        failing_since: h.failing_since.toISOString(),
        last_error: results.at(-1)!.outcome.error ?? null,
      },
    });
    this.deps.log.warn(
      { org_id: orgId, endpoint_id: endpointId, consecutive_failures: h.consecutive_failures },
      'webhook endpoint disabled: it keeps failing',
    );
    return 'disabled';
  }

  private context(): SecureContext {
    const file = this.deps.settings.extraCaFile;
    this.secureContext ??= tls.createSecureContext({
      ca: [...tls.getCACertificates('default'), ...(file ? [readFileSync(file, 'utf8')] : [])],
    });
    return this.secureContext;
  }
}

function failure(error: string): SendOutcome {
  return { ok: false, status: null, durationMs: 0, error };
}
