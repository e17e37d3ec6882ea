import { type AuditEventRow, EVENT_COLUMNS as COLUMNS, eventFromRow } from '../audit/index.ts';
import type { Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { EVENT_TYPE_NAMES, type EventType, type PublicEvent, publicEvent } from './types.ts';

// Public events are read straight from the audit chain, in chain order (seq). A chain's seq is
// assigned under its head's lock and the lock is held until commit, so once the head shows seq N
// every event up to N is committed: reading up to the head never skips an event that commits
// later. That is what lets a consumer page forward by cursor and catch up without gaps.

/** Chain positions looked at by one read at most, so a rare type filter cannot scan the whole chain. */
export const SCAN_WINDOW = 10_000;

export interface ChainEvent {
  seq: number;
  event: PublicEvent;
}

/** The organisation's chain head: every event at or before it is committed. */
export async function chainHead(q: Queryable, orgId: string): Promise<number> {
  const { rows } = await q.query<{ seq: string | number }>('SELECT seq FROM audit_heads WHERE org_id = $1', [
    orgId,
  ]);
  return rows[0] ? Number(rows[0].seq) : 0;
}

/** Public events with after < seq <= upTo of the given types, in chain order, at most `limit`. */
export async function readChainEvents(
  q: Queryable,
  orgId: string,
  range: { after: number; upTo: number },
  types: readonly string[],
  limit: number,
): Promise<ChainEvent[]> {
  if (range.upTo <= range.after || types.length === 0) return [];
  const { rows } = await q.query<AuditEventRow>(
    `SELECT ${COLUMNS} FROM audit_events
     WHERE org_id = $1 AND seq > $2 AND seq <= $3 AND action = ANY($4::text[])
     ORDER BY seq LIMIT $5`,
    [orgId, range.after, range.upTo, types, limit],
  );
  return rows.flatMap((row) => {
    const event = publicEvent(eventFromRow(row));
    return event ? [{ seq: Number(row.seq), event }] : [];
  });
}

/** Public events by their ids (the audit event ids), keyed by id; unknown or non-public ids are absent. */
export async function eventsById(q: Queryable, orgId: string, ids: readonly string[]) {
  const found = new Map<string, ChainEvent>();
  if (ids.length === 0) return found;
  const { rows } = await q.query<AuditEventRow>(
    `SELECT ${COLUMNS} FROM audit_events WHERE org_id = $1 AND event_id = ANY($2::uuid[])`,
    [orgId, ids],
  );
  for (const row of rows) {
    const event = publicEvent(eventFromRow(row));
    if (event) found.set(event.id, { seq: Number(row.seq), event });
  }
  return found;
}

/** Public events by chain position, keyed by seq. */
export async function eventsBySeq(q: Queryable, orgId: string, seqs: readonly number[]) {
  const found = new Map<number, PublicEvent>();
  if (seqs.length === 0) return found;
  const { rows } = await q.query<AuditEventRow>(
    `SELECT ${COLUMNS} FROM audit_events WHERE org_id = $1 AND seq = ANY($2::bigint[])`,
    [orgId, seqs],
  );
  for (const row of rows) {
    const event = publicEvent(eventFromRow(row));
    if (event) found.set(Number(row.seq), event);
  }
  return found;
}

export interface EventPage {
  data: PublicEvent[];
  /** Where the next read starts: pass it as `after`. Always set, also on an empty page. */
  next_cursor: string;
  /** More events may follow right away; false means the stream is caught up (poll again later). */
  has_more: boolean;
}

export function encodeCursor(seq: number): string {
  return Buffer.from(`ev1:${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const match = /^ev1:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw errors.badRequest('The cursor is not valid: pass a next_cursor this API returned.');
  return Number(match[1]);
}

/**
 * One page of the organisation's public events after the cursor (from the start without one),
 * oldest first. The page ends at the chain's head as read when the call began, or after the scan
 * window: a page can be short, even empty, while has_more is true.
 */
export async function listEvents(
  q: Queryable,
  orgId: string,
  options: { after?: string; types?: readonly EventType[]; limit: number },
): Promise<EventPage> {
  const after = options.after ? decodeCursor(options.after) : 0;
  const types = options.types?.length ? [...new Set(options.types)] : EVENT_TYPE_NAMES;
  const head = await chainHead(q, orgId);
  const upTo = Math.min(head, after + SCAN_WINDOW);
  const rows = await readChainEvents(q, orgId, { after, upTo }, types, options.limit + 1);
  const page = rows.slice(0, options.limit);
  const full = rows.length > options.limit;
  const end = full ? page.at(-1)!.seq : Math.max(after, upTo);
  return { data: page.map((r) => r.event), next_cursor: encodeCursor(end), has_more: full || end < head };
}
