import { isTimestampText, type Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import {
  type AuditEvent,
  type AuditEventJson,
  type AuditEventRow,
  auditEventJson,
  EVENT_COLUMNS,
  eventFromRow,
} from './types.ts';

/** Which events to read: one organisation's, optionally narrowed. */
export interface AuditFilter {
  orgId: string;
  /** Events at or after this time. */
  from?: Date;
  /** Events before this time. */
  to?: Date;
  actorId?: string;
  objectType?: string;
  objectId?: string;
  action?: string;
}

export type AuditExportFormat = 'jsonl' | 'csv';

export interface AuditPage {
  events: AuditEvent[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * One page of events matching the filter, oldest first (by time, then seq). Keyset pagination:
 * each page is one index range scan however deep it is.
 */
export async function listAuditEvents(
  db: Queryable,
  filter: AuditFilter,
  page: { limit?: number; cursor?: string | null } = {},
): Promise<AuditPage> {
  const limit = page.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
    throw errors.badRequest('limit must be 1 to 10000.');
  checkFilter(filter);
  const where = ['org_id = $1'];
  const params: unknown[] = [filter.orgId];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    where.push(sql.replace('?', `$${params.length}`));
  };
  if (filter.from) add('occurred_at >= ?', filter.from.toISOString());
  if (filter.to) add('occurred_at < ?', filter.to.toISOString());
  if (filter.actorId !== undefined) add('actor_id = ?', filter.actorId);
  if (filter.objectType !== undefined) add('object_type = ?', filter.objectType);
  if (filter.objectId !== undefined) add('object_id = ?', filter.objectId);
  if (filter.action !== undefined) add('action = ?', filter.action);
  if (page.cursor) {
    const after = decodeCursor(page.cursor);
    params.push(after.occurredAt, after.seq);
    where.push(`(occurred_at, seq) > ($${params.length - 1}::timestamptz, $${params.length}::bigint)`);
  }
  params.push(limit + 1);
  const { rows } = await db.query<AuditEventRow>(
    `SELECT ${EVENT_COLUMNS} FROM audit_events WHERE ${where.join(' AND ')}
     ORDER BY occurred_at, seq LIMIT $${params.length}`,
    params,
  );
  const events = rows.slice(0, limit).map(eventFromRow);
  const last = events.at(-1);
  return { events, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}

function checkFilter(filter: AuditFilter): void {
  if (typeof filter.orgId !== 'string' || !UUID.test(filter.orgId)) {
    throw errors.badRequest('The organisation id must be a UUID.');
  }
  for (const name of ['from', 'to'] as const) {
    const date = filter[name];
    if (date !== undefined && (!(date instanceof Date) || Number.isNaN(date.getTime()))) {
      throw errors.badRequest(`${name} is not a valid time.`);
    }
  }
}

function encodeCursor(event: AuditEvent): string {
  return Buffer.from(`${event.occurredAt.toISOString()}|${event.seq}`).toString('base64url');
}

function decodeCursor(cursor: string): { occurredAt: string; seq: number } {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|(\d{1,15})$/.exec(
    Buffer.from(cursor, 'base64url').toString('utf8'),
  );
  if (!match || !isTimestampText(match[1]!)) throw errors.badRequest('The cursor is not valid.');
  return { occurredAt: match[1]!, seq: Number(match[2]) };
}

/** CSV columns, in order. */
export const CSV_COLUMNS: readonly (keyof AuditEventJson)[] = [
  'org_id',
  'seq',
  'event_id',
  'occurred_at',
  'actor_type',
  'actor_id',
  'actor_label',
  'action',
  'object_type',
  'object_id',
  'outcome',
  'ip',
  'request_id',
  'details',
  'prev_hash',
  'hash',
];

/**
 * One CSV cell (RFC 4180): quoted when it holds a comma, quote or line break, quotes doubled. A
 * cell a spreadsheet would run as a formula (starting with = + - @, tab or carriage return) gets a
 * leading single quote, so an exported trail cannot attack whoever opens it.
 */
export function csvCell(value: unknown): string {
  let s =
    value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function csvRow(cells: readonly unknown[]): string {
  return cells.map(csvCell).join(',');
}

/** An event as one line of the export format (without the line break). */
export function formatAuditEvent(event: AuditEvent, format: AuditExportFormat): string {
  const json = auditEventJson(event);
  if (format === 'jsonl') return JSON.stringify(json);
  return csvRow(CSV_COLUMNS.map((c) => json[c]));
}

/**
 * Every event matching the filter, oldest first, as lines without line breaks: JSON lines, or CSV
 * with a header row. Reads a page at a time, so an export of millions of events runs in constant
 * memory. A wrong filter throws here, before the first line.
 */
export function exportAudit(
  db: Queryable,
  filter: AuditFilter,
  format: AuditExportFormat,
  options: { pageSize?: number } = {},
): AsyncGenerator<string> {
  if (format !== 'jsonl' && format !== 'csv') throw errors.badRequest('The export format is jsonl or csv.');
  checkFilter(filter);
  return exportLines(db, filter, format, options.pageSize ?? 1000);
}

async function* exportLines(
  db: Queryable,
  filter: AuditFilter,
  format: AuditExportFormat,
  pageSize: number,
): AsyncGenerator<string> {
  if (format === 'csv') yield csvRow(CSV_COLUMNS);
  let cursor: string | null = null;
  do {
    const page: AuditPage = await listAuditEvents(db, filter, { limit: pageSize, cursor });
    for (const event of page.events) yield formatAuditEvent(event, format);
    cursor = page.nextCursor;
  } while (cursor);
}
