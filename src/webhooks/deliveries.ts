import { randomUUID } from 'node:crypto';
import type { AuditInput } from '../audit/index.ts';
import type { Queryable, Transaction } from '../db/index.ts';
import { errors, SealpostError } from '../errors/index.ts';
import { EVENT_TYPE_NAMES, eventsById, type PublicEvent } from '../events/index.ts';
import { type EndpointRow, getEndpoint } from './endpoints.ts';
import { TEST_EVENT_TYPE, WEBHOOK_QUEUE, type WebhookDeps, type WebhookJob } from './types.ts';

// What is owed to an endpoint besides fanned-out events: a test event, and replays of events it
// had (or never had: a replay may reach back before the endpoint existed).

/** Events one replay may send at most. */
export const MAX_REPLAY = 10_000;

type Context = Omit<AuditInput, 'action' | 'objectType' | 'objectId' | 'outcome' | 'details'>;

export interface NewDelivery {
  delivery_id: string;
  endpoint_id: string;
  kind: 'event' | 'replay' | 'test';
  event_id: string;
  event_seq: number | null;
  event_type: string;
  payload?: PublicEvent | null;
}

/** Inserts deliveries due now; fanned-out events already owed to their endpoint are skipped. */
export async function insertDeliveries(
  q: Queryable,
  orgId: string,
  deliveries: readonly NewDelivery[],
  now: Date,
): Promise<number> {
  if (deliveries.length === 0) return 0;
  const { rowCount } = await q.query(
    `INSERT INTO webhook_deliveries (org_id, delivery_id, endpoint_id, kind, event_id, event_seq, event_type, payload,
       next_attempt_at, created_at)
     SELECT $1, d.delivery_id, d.endpoint_id, d.kind, d.event_id, d.event_seq, d.event_type, d.payload, $2, $2
     FROM jsonb_to_recordset($3::jsonb) AS d (delivery_id uuid, endpoint_id uuid, kind text, event_id uuid,
       event_seq bigint, event_type text, payload jsonb)
     ON CONFLICT (org_id, endpoint_id, event_id) WHERE kind = 'event' DO NOTHING`,
    [orgId, now, JSON.stringify(deliveries)],
  );
  return rowCount;
}

async function enabledEndpoint(
  tx: Transaction,
  orgId: string,
  endpointId: string,
  now: Date,
): Promise<EndpointRow> {
  const endpoint = await getEndpoint(tx, orgId, endpointId, now, { lock: true });
  if (!endpoint.enabled)
    throw new SealpostError(
      'webhook_disabled',
      'The webhook endpoint is disabled: enable it (PATCH enabled: true) first.',
    );
  return endpoint;
}

const wake = (deps: Pick<WebhookDeps, 'queue'>, tx: Queryable, orgId: string, endpointId: string) =>
  deps.queue.send(WEBHOOK_QUEUE, { org_id: orgId, endpoint_id: endpointId } satisfies WebhookJob, { tx });

/** Sends the endpoint a test event (type webhook.test), signed and retried like any other. */
export async function sendTestEvent(
  deps: Pick<WebhookDeps, 'db' | 'queue' | 'audit' | 'clock'>,
  ctx: Context,
  endpointId: string,
): Promise<{ delivery_id: string; event_id: string }> {
  const now = deps.clock();
  const delivery = { delivery_id: randomUUID(), event_id: randomUUID() };
  await deps.db.transaction(async (tx) => {
    await enabledEndpoint(tx, ctx.orgId, endpointId, now);
    const payload = {
      id: delivery.event_id,
      type: TEST_EVENT_TYPE,
      occurred_at: now.toISOString(),
      message_id: null,
      recipient_id: null,
      data: { endpoint_id: endpointId },
    } as unknown as PublicEvent;
    await insertDeliveries(
      tx,
      ctx.orgId,
      [
        {
          ...delivery,
          endpoint_id: endpointId,
          kind: 'test',
          event_seq: null,
          event_type: TEST_EVENT_TYPE,
          payload,
        },
      ],
      now,
    );
    await wake(deps, tx, ctx.orgId, endpointId);
    await deps.audit(tx, {
      ...ctx,
      action: 'webhook.tested',
      objectType: 'webhook_endpoint',
      objectId: endpointId,
      outcome: 'success',
      details: { delivery_id: delivery.delivery_id },
    });
  });
  return delivery;
}

export type ReplayInput = { event_id: string } | { from: Date; to: Date };

/**
 * Sends events again: one, by id (whatever the endpoint's types), or every event of the
 * endpoint's types that occurred in [from, to). Each goes with its own id (webhook-id), so a
 * receiver that kept it can tell it is the same event.
 */
export async function replayEvents(
  deps: Pick<WebhookDeps, 'db' | 'queue' | 'audit' | 'clock'>,
  ctx: Context,
  endpointId: string,
  input: ReplayInput,
): Promise<{ replayed: number }> {
  const now = deps.clock();
  if ('from' in input && !(input.from < input.to)) throw errors.validation('from must be before to.');
  return deps.db.transaction(async (tx) => {
    const endpoint = await enabledEndpoint(tx, ctx.orgId, endpointId, now);
    let events: { seq: number; id: string; type: string }[];
    if ('event_id' in input) {
      const found = (await eventsById(tx, ctx.orgId, [input.event_id])).get(input.event_id);
      if (!found) throw errors.notFound('The event');
      events = [{ seq: found.seq, id: found.event.id, type: found.event.type }];
    } else {
      const { rows } = await tx.query<{ seq: string; event_id: string; action: string }>(
        `SELECT seq, event_id, action FROM audit_events
         WHERE org_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND action = ANY($4::text[])
         ORDER BY occurred_at, seq LIMIT $5`,
        [ctx.orgId, input.from, input.to, endpoint.event_types ?? EVENT_TYPE_NAMES, MAX_REPLAY + 1],
      );
      if (rows.length > MAX_REPLAY)
        throw new SealpostError(
          'replay_too_large',
          `More than ${MAX_REPLAY} events in that range: replay a shorter one.`,
        );
      events = rows.map((r) => ({ seq: Number(r.seq), id: r.event_id, type: r.action }));
    }
    await insertDeliveries(
      tx,
      ctx.orgId,
      events.map((e) => ({
        delivery_id: randomUUID(),
        endpoint_id: endpointId,
        kind: 'replay' as const,
        event_id: e.id,
        event_seq: e.seq,
        event_type: e.type,
      })),
      now,
    );
    if (events.length > 0) await wake(deps, tx, ctx.orgId, endpointId);
    await deps.audit(tx, {
      ...ctx,
      action: 'webhook.replayed',
      objectType: 'webhook_endpoint',
      objectId: endpointId,
      outcome: 'success',
      details: {
        events: events.length,
        ...('event_id' in input
          ? { event_id: input.event_id }
          : { from: input.from.toISOString(), to: input.to.toISOString() }),
      },
    });
    return { replayed: events.length };
  });
}

export interface AttemptView {
  id: string;
  delivery_id: string;
  event_id: string;
  event_type: string;
  kind: string;
  attempt: number;
  started_at: Date;
  duration_ms: number;
  status: number | null;
  error: string | null;
  delivery_state: string;
  next_attempt_at: Date | null;
}

/** The endpoint's delivery log, newest attempt first. */
export async function listAttempts(
  q: Queryable,
  orgId: string,
  endpointId: string,
  options: { limit: number; cursor?: string; deliveryId?: string },
  now: Date,
): Promise<{ data: AttemptView[]; next_cursor: string | null }> {
  await getEndpoint(q, orgId, endpointId, now);
  const params: unknown[] = [orgId, endpointId, options.limit + 1];
  const where: string[] = [];
  if (options.cursor !== undefined) {
    if (!/^\d{1,18}$/.test(options.cursor)) throw errors.badRequest('The cursor is not valid.');
    params.push(options.cursor);
    where.push(`AND a.attempt_id < $${params.length}::bigint`);
  }
  if (options.deliveryId !== undefined) {
    params.push(options.deliveryId);
    where.push(`AND a.delivery_id = $${params.length}::uuid`);
  }
  const { rows } = await q.query<AttemptView & { attempt_id: string; [column: string]: unknown }>(
    `SELECT a.attempt_id::text, a.delivery_id, d.event_id, d.event_type, d.kind, a.attempt, a.started_at,
       a.duration_ms, a.status, a.error, d.state AS delivery_state, d.next_attempt_at
     FROM webhook_attempts a
     JOIN webhook_deliveries d ON d.org_id = a.org_id AND d.delivery_id = a.delivery_id
     WHERE a.org_id = $1 AND a.endpoint_id = $2 ${where.join(' ')}
     ORDER BY a.attempt_id DESC LIMIT $3`,
    params,
  );
  const page = rows.slice(0, options.limit);
  return {
    data: page.map(({ attempt_id, ...rest }) => ({ ...rest, id: attempt_id })),
    next_cursor: rows.length > options.limit ? page.at(-1)!.attempt_id : null,
  };
}
