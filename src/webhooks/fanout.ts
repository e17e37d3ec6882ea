import { randomUUID } from 'node:crypto';
import { chainHead, EVENT_TYPE_NAMES } from '../events/index.ts';
import { insertDeliveries, type NewDelivery } from './deliveries.ts';
import { WEBHOOK_QUEUE, type WebhookDeps, type WebhookJob } from './types.ts';

// Fan-out: per organisation, a cursor in its audit chain. Each pass reads the public events after
// the cursor (up to the chain's head, which only ever shows committed events with no gap before
// them), makes one delivery per event and enabled endpoint that wants it (unique per endpoint and
// event, so a pass repeated after a crash creates nothing twice), moves the cursor, and wakes the
// endpoints' workers: all in one short transaction. Workers in any number of processes share the
// organisations: each cursor row is taken with SKIP LOCKED.

/** Chain positions one pass reads per organisation at most. */
const WINDOW = 2000;

interface EndpointTarget {
  [column: string]: unknown;
  endpoint_id: string;
  event_types: string[] | null;
  from_seq: string | number;
}

/** One pass over organisations whose chain moved past their cursor; returns deliveries created. */
export async function fanOut(
  deps: Pick<WebhookDeps, 'db' | 'queue' | 'clock'>,
  maxOrgs = 100,
): Promise<number> {
  const { rows } = await deps.db.query<{ org_id: string }>(
    `SELECT c.org_id FROM webhook_cursors c JOIN audit_heads h ON h.org_id = c.org_id
     WHERE h.seq > c.seq ORDER BY c.updated_at LIMIT $1`,
    [maxOrgs],
  );
  let created = 0;
  for (const { org_id } of rows) created += await fanOutOrg(deps, org_id);
  return created;
}

export async function fanOutOrg(
  deps: Pick<WebhookDeps, 'db' | 'queue' | 'clock'>,
  orgId: string,
): Promise<number> {
  const now = deps.clock();
  return deps.db.transaction(async (tx) => {
    const { rows: cursors } = await tx.query<{ seq: string }>(
      'SELECT seq FROM webhook_cursors WHERE org_id = $1 FOR UPDATE SKIP LOCKED',
      [orgId],
    );
    if (!cursors[0]) return 0; // another worker has it
    const cursor = Number(cursors[0].seq);
    const head = await chainHead(tx, orgId);
    if (head <= cursor) return 0;
    const { rows: endpoints } = await tx.query<EndpointTarget>(
      'SELECT endpoint_id, event_types, from_seq FROM webhook_endpoints WHERE org_id = $1 AND enabled',
      [orgId],
    );
    const move = (seq: number) =>
      tx.query('UPDATE webhook_cursors SET seq = $2, updated_at = $3 WHERE org_id = $1', [orgId, seq, now]);
    if (endpoints.length === 0) {
      await move(head);
      return 0;
    }
    const upTo = Math.min(head, cursor + WINDOW);
    const wanted = endpoints.some((e) => e.event_types === null)
      ? EVENT_TYPE_NAMES
      : [...new Set(endpoints.flatMap((e) => e.event_types!))];
    const { rows: events } = await tx.query<{ seq: string; event_id: string; action: string }>(
      `SELECT seq, event_id, action FROM audit_events
       WHERE org_id = $1 AND seq > $2 AND seq <= $3 AND action = ANY($4::text[]) ORDER BY seq`,
      [orgId, cursor, upTo, wanted],
    );
    const deliveries: NewDelivery[] = [];
    for (const event of events)
      for (const e of endpoints)
        if (
          Number(event.seq) > Number(e.from_seq) &&
          (e.event_types === null || e.event_types.includes(event.action))
        )
          deliveries.push({
            delivery_id: randomUUID(),
            endpoint_id: e.endpoint_id,
            kind: 'event',
            event_id: event.event_id,
            event_seq: Number(event.seq),
            event_type: event.action,
          });
    const created = await insertDeliveries(tx, orgId, deliveries, now);
    await move(upTo);
    const woken = [...new Set(deliveries.map((d) => d.endpoint_id))];
    await deps.queue.sendMany(
      WEBHOOK_QUEUE,
      woken.map((endpoint_id) => ({ data: { org_id: orgId, endpoint_id } satisfies WebhookJob })),
      { tx },
    );
    return created;
  });
}
