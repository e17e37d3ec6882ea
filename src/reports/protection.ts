import { isTimestampText, type Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { type Period, TIME_ZONE } from './period.ts';

// The protection report: every recipient of every message accepted in the period, with the
// method that protected it and whether it did. Keyset-paged (message time, message id, recipient
// position), so a month of a busy organisation is read a page at a time, in JSON or streamed CSV.

/**
 * Whether the recipient's copy was protected:
 * - yes: delivered end to end (pgp, smime), over TLS 1.2 or newer (tls, with the version on
 *   record), or kept in the portal (portal: notified, expired or revoked there);
 * - no: delivered, but with no method, or by TLS with no TLS 1.2+ on record (which only
 *   opportunistic TLS for mail without PHI can do, when policy allows it);
 * - pending: still queued, being delivered or deferred;
 * - not_delivered: bounced, failed, or revoked before anything left.
 */
const PROTECTED = `CASE
    WHEN r.state IN ('queued', 'delivering', 'deferred') THEN 'pending'
    WHEN r.method = 'portal' AND r.state IN ('portal_notified', 'expired', 'revoked') THEN 'yes'
    WHEN r.state = 'delivered' AND r.method IN ('pgp', 'smime') THEN 'yes'
    WHEN r.state = 'delivered' AND r.method = 'tls' AND r.tls_version IN ('TLSv1.2', 'TLSv1.3') THEN 'yes'
    WHEN r.state = 'delivered' THEN 'no'
    ELSE 'not_delivered'
  END`;

export const PROTECTION_COLUMNS = [
  'message_id',
  'message_created_at',
  'from',
  'phi',
  'requested_protection',
  'sandbox',
  'reply_of',
  'recipient_id',
  'address',
  'kind',
  'state',
  'method',
  'method_reason',
  'tls_version',
  'tls_cipher',
  'mx',
  'smtp_code',
  'finished_at',
  'protected',
] as const;

export interface ProtectionRow {
  message_id: string;
  message_created_at: string;
  from: string;
  phi: boolean;
  requested_protection: string;
  sandbox: boolean;
  reply_of: string | null;
  recipient_id: string;
  address: string;
  kind: string;
  state: string;
  method: string | null;
  method_reason: string | null;
  tls_version: string | null;
  tls_cipher: string | null;
  mx: string | null;
  smtp_code: number | null;
  finished_at: string | null;
  protected: 'yes' | 'no' | 'pending' | 'not_delivered';
}

export interface ProtectionSummary {
  messages: number;
  phi_messages: number;
  recipients: number;
  phi_recipients: number;
  method_pgp: number;
  method_smime: number;
  method_tls: number;
  method_portal: number;
  method_none: number;
  protected: number;
  in_flight: number;
  not_delivered: number;
  /** Recipients of messages with PHI delivered unprotected. By design, always 0. */
  unprotected: number;
  /** Recipients of messages without PHI delivered without TLS 1.2+ (opportunistic TLS, if policy allows it). */
  unprotected_without_phi: number;
  statement: string;
}

const FROM_WHERE = `FROM messages m JOIN message_recipients r ON r.org_id = m.org_id AND r.message_id = m.message_id
  WHERE m.org_id = $1 AND m.created_at >= $2 AND m.created_at < $3`;

export async function protectionSummary(
  q: Queryable,
  orgId: string,
  period: Period,
): Promise<ProtectionSummary> {
  const { rows } = await q.query<Omit<ProtectionSummary, 'statement'> & { [k: string]: unknown }>(
    `SELECT count(DISTINCT message_id)::int AS messages,
       count(DISTINCT message_id) FILTER (WHERE phi)::int AS phi_messages,
       count(*)::int AS recipients,
       count(*) FILTER (WHERE phi)::int AS phi_recipients,
       count(*) FILTER (WHERE method = 'pgp')::int AS method_pgp,
       count(*) FILTER (WHERE method = 'smime')::int AS method_smime,
       count(*) FILTER (WHERE method = 'tls')::int AS method_tls,
       count(*) FILTER (WHERE method = 'portal')::int AS method_portal,
       count(*) FILTER (WHERE method IS NULL)::int AS method_none,
       count(*) FILTER (WHERE p = 'yes')::int AS protected,
       count(*) FILTER (WHERE p = 'pending')::int AS in_flight,
       count(*) FILTER (WHERE p = 'not_delivered')::int AS not_delivered,
       count(*) FILTER (WHERE p = 'no' AND phi)::int AS unprotected,
       count(*) FILTER (WHERE p = 'no' AND NOT phi)::int AS unprotected_without_phi
     FROM (SELECT m.message_id, m.phi, r.method, ${PROTECTED} AS p ${FROM_WHERE}) x`,
    [orgId, period.from, period.to],
  );
  const s = rows[0]!;
  const phi = `${s.phi_recipients} recipient(s) of ${s.phi_messages} message(s) with PHI`;
  const statement =
    (s.unprotected === 0
      ? `No recipient of a message with PHI left unprotected (${phi}).`
      : `${s.unprotected} recipient(s) of messages with PHI left unprotected (of ${phi}).`) +
    (s.in_flight > 0 ? ` ${s.in_flight} recipient(s) still in flight.` : '');
  return { ...s, statement };
}

// The cursor carries the period, so every page reads the same one even when `to` was "now", and
// the message time as PostgreSQL prints it (microseconds, which a JavaScript Date rounds away).
interface Cursor {
  from: string;
  to: string;
  tz: string;
  time: string;
  message: string;
  position: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function decodeCursor(cursor: string): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = null;
  }
  const c = parsed as Partial<Cursor> | null;
  if (
    !c ||
    typeof c.from !== 'string' ||
    typeof c.to !== 'string' ||
    typeof c.tz !== 'string' ||
    typeof c.time !== 'string' ||
    typeof c.message !== 'string' ||
    !Number.isInteger(c.position) ||
    c.position! < 0 ||
    c.position! > 2 ** 31 - 1 ||
    !TIME_ZONE.test(c.tz) ||
    Number.isNaN(Date.parse(c.from)) ||
    Number.isNaN(Date.parse(c.to)) ||
    !isTimestampText(c.time) ||
    !UUID.test(c.message)
  )
    throw errors.badRequest('The cursor is not one this API gave out.');
  return c as Cursor;
}

const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify(c)).toString('base64url');

interface RawRow {
  [k: string]: unknown;
  created_at_text: string;
  position: number;
}

export interface ProtectionPage {
  rows: ProtectionRow[];
  nextCursor: string | null;
}

export async function protectionPage(
  q: Queryable,
  orgId: string,
  period: Period,
  page: { limit: number; after?: Cursor | null },
): Promise<ProtectionPage> {
  const after = page.after ?? null;
  // After a cursor, the messages before its time are skipped through the index on (org, time)
  // before the exact comparison; without one, the page starts at the period's start.
  const keyset = after
    ? `AND m.created_at >= $4::timestamptz
       AND (m.created_at, m.message_id, r.position) > ($4::timestamptz, $5::uuid, $6::int)`
    : '';
  const params = after
    ? [orgId, period.from, period.to, after.time, after.message, after.position, page.limit]
    : [orgId, period.from, period.to, page.limit];
  const { rows } = await q.query<RawRow>(
    `SELECT m.message_id, m.created_at AS message_created_at, m.created_at::text AS created_at_text,
       m.from_address AS "from", m.phi, m.protection AS requested_protection, m.sandbox, m.reply_of,
       r.recipient_id, r.position, r.address, r.kind, r.state, r.method, r.method_reason, r.tls_version,
       r.tls_cipher, r.mx, r.smtp_code, r.finished_at, ${PROTECTED} AS protected
     ${FROM_WHERE} ${keyset}
     ORDER BY m.created_at, m.message_id, r.position
     LIMIT $${params.length}`,
    params,
  );
  const out = rows.map((row) => {
    const r: Record<string, unknown> = {};
    for (const column of PROTECTION_COLUMNS) {
      const value = row[column];
      r[column] = value instanceof Date ? value.toISOString() : value;
    }
    return r as unknown as ProtectionRow;
  });
  const last = rows.at(-1);
  return {
    rows: out,
    nextCursor:
      rows.length === page.limit && last
        ? encodeCursor({
            from: period.from.toISOString(),
            to: period.to.toISOString(),
            tz: period.tz,
            time: last.created_at_text,
            message: String(last.message_id),
            position: last.position,
          })
        : null,
  };
}

/** Every row of the period, a page at a time. */
export async function* protectionRows(
  q: Queryable,
  orgId: string,
  period: Period,
  pageSize = 1000,
): AsyncGenerator<ProtectionRow> {
  let after: Cursor | null = null;
  for (;;) {
    const page = await protectionPage(q, orgId, period, { limit: pageSize, after });
    yield* page.rows;
    if (!page.nextCursor) return;
    after = decodeCursor(page.nextCursor);
  }
}
