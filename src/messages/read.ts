import type { Keyring } from '../crypto/index.ts';
import { isTimestampText, type Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import {
  FINAL_STATES,
  type MessageContent,
  type RecipientState,
  type StoredMessage,
  sealedContentBinding,
} from './types.ts';

// The read side of messages: what the API shows of a message and of each of its recipients.

interface RecipientRow {
  [k: string]: unknown;
  recipient_id: string;
  message_id: string;
  address: string;
  kind: string;
  state: RecipientState;
  method: string | null;
  method_reason: string | null;
  mx: string | null;
  smtp_code: number | null;
  smtp_response: string | null;
  tls_version: string | null;
  tls_cipher: string | null;
  attempts: number;
  next_attempt_at: Date | null;
  updated_at: Date;
  finished_at: Date | null;
}

interface AttemptRow {
  [k: string]: unknown;
  recipient_id: string;
  attempt: number;
  started_at: Date;
  finished_at: Date;
  method: string;
  outcome: string;
  mx: string | null;
  smtp_code: number | null;
  smtp_response: string | null;
  tls_version: string | null;
  tls_cipher: string | null;
  detail: string | null;
}

interface PortalRow {
  [k: string]: unknown;
  recipient_id: string;
  verification: string;
  expires_at: Date;
  revoked_at: Date | null;
  locked_at: Date | null;
  failed_attempts: number;
  verified_at: Date | null;
  first_viewed_at: Date | null;
  last_viewed_at: Date | null;
  views: number;
  downloads: number;
  replies: number;
}

function statusOf(message: StoredMessage, recipients: RecipientRow[], now: Date) {
  if (recipients.every((r) => FINAL_STATES.has(r.state))) return 'done';
  if (recipients.every((r) => r.state === 'queued'))
    return message.send_at && message.send_at > now ? 'scheduled' : 'queued';
  return 'in_progress';
}

function view(message: StoredMessage, recipients: RecipientRow[], attempts: AttemptRow[] | null, now: Date) {
  return {
    id: message.message_id,
    status: statusOf(message, recipients, now),
    created_at: message.created_at,
    send_at: message.send_at,
    from: message.from_address,
    protection: message.protection,
    priority: message.priority,
    tags: message.tags,
    size_bytes: message.size_bytes,
    rfc_message_id: message.rfc_message_id,
    sandbox: message.sandbox,
    dlp: message.dlp,
    recipients: recipients.map(({ recipient_id, message_id: _m, ...r }) => ({
      id: recipient_id,
      ...r,
      ...(attempts
        ? {
            history: attempts
              .filter((a) => a.recipient_id === recipient_id)
              .map(({ recipient_id: _r, ...a }) => a),
          }
        : {}),
    })),
  };
}

const MESSAGE_COLUMNS = `org_id, message_id, created_at, send_at, from_address, from_domain, protection, priority,
  tags, size_bytes, dlp, phi, rfc_message_id, sandbox`;
const RECIPIENT_COLUMNS = `recipient_id, message_id, address, kind, state, method, method_reason, mx, smtp_code,
  smtp_response, tls_version, tls_cipher, attempts, next_attempt_at, updated_at, finished_at`;

export async function loadMessage(q: Queryable, orgId: string, messageId: string): Promise<StoredMessage> {
  const { rows } = await q.query<StoredMessage & { [k: string]: unknown }>(
    `SELECT ${MESSAGE_COLUMNS}, content_sealed FROM messages WHERE org_id = $1 AND message_id = $2`,
    [orgId, messageId],
  );
  if (!rows[0]) throw errors.notFound('The message');
  return rows[0];
}

export async function openContent(keyring: Keyring, message: StoredMessage): Promise<MessageContent> {
  const json = await keyring.openText(
    message.org_id,
    sealedContentBinding(message.message_id),
    message.content_sealed,
  );
  return JSON.parse(json) as MessageContent;
}

/** One message with every recipient and every attempt; the subject and metadata opened. */
export async function getMessage(
  q: Queryable,
  keyring: Keyring,
  orgId: string,
  messageId: string,
  now: Date,
) {
  const message = await loadMessage(q, orgId, messageId);
  const recipients = await q.query<RecipientRow>(
    `SELECT ${RECIPIENT_COLUMNS} FROM message_recipients WHERE org_id = $1 AND message_id = $2 ORDER BY position`,
    [orgId, messageId],
  );
  const attempts = await q.query<AttemptRow>(
    `SELECT a.recipient_id, a.attempt, a.started_at, a.finished_at, a.method, a.outcome, a.mx, a.smtp_code,
       a.smtp_response, a.tls_version, a.tls_cipher, a.detail
     FROM delivery_attempts a JOIN message_recipients r USING (org_id, recipient_id)
     WHERE a.org_id = $1 AND r.message_id = $2 ORDER BY a.recipient_id, a.attempt`,
    [orgId, messageId],
  );
  const portal = await q.query<PortalRow>(
    `SELECT d.recipient_id, d.verification, d.expires_at, d.revoked_at, d.locked_at, d.failed_attempts, d.verified_at,
       d.first_viewed_at, d.last_viewed_at, d.views, d.downloads, d.replies
     FROM portal_deliveries d JOIN message_recipients r USING (org_id, recipient_id)
     WHERE d.org_id = $1 AND r.message_id = $2`,
    [orgId, messageId],
  );
  const related = await q.query<{ message_id: string; reply_of: string | null; is_reply: boolean }>(
    `SELECT message_id, reply_of, reply_of = $2 AS is_reply FROM messages
     WHERE org_id = $1 AND (reply_of = $2 OR message_id = $2) ORDER BY created_at`,
    [orgId, messageId],
  );
  const content = await openContent(keyring, message);
  const detail = view(message, recipients.rows, attempts.rows, now);
  return {
    ...detail,
    recipients: detail.recipients.map((r) => {
      const row = portal.rows.find((p) => p.recipient_id === r.id);
      if (!row) return { ...r, portal: null };
      const { recipient_id: _r, ...p } = row;
      return { ...r, portal: p };
    }),
    subject: content.subject,
    metadata: content.metadata,
    reply_of: related.rows.find((m) => m.message_id === messageId)?.reply_of ?? null,
    replies: related.rows.filter((m) => m.is_reply).map((m) => m.message_id),
  };
}

export interface ListFilter {
  state?: RecipientState;
  since?: Date;
  tag?: string;
  cursor?: string;
  limit: number;
}

// The cursor carries the time as PostgreSQL prints it: microseconds, which a JavaScript Date
// would round away (and with them, rows between two pages).
const encodeCursor = (m: StoredMessage & { created_at_text: string }) =>
  Buffer.from(`${m.created_at_text}|${m.message_id}`).toString('base64url');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function decodeCursor(cursor: string): [string, string] {
  const [time, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (!time || !id || !isTimestampText(time) || !UUID.test(id))
    throw errors.badRequest('The cursor is not one this API gave out.');
  return [time, id];
}

/** Newest first, with a cursor to the next page. */
export async function listMessages(q: Queryable, orgId: string, filter: ListFilter, now: Date) {
  const [cursorTime, cursorId] = filter.cursor ? decodeCursor(filter.cursor) : [null, null];
  const { rows } = await q.query<StoredMessage & { created_at_text: string; [k: string]: unknown }>(
    `SELECT ${MESSAGE_COLUMNS}, created_at::text AS created_at_text FROM messages m
     WHERE org_id = $1
       AND ($2::timestamptz IS NULL OR created_at >= $2)
       AND ($3::text IS NULL OR $3 = ANY(tags))
       AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM message_recipients r
             WHERE r.org_id = m.org_id AND r.message_id = m.message_id AND r.state = $4))
       AND ($5::timestamptz IS NULL OR (created_at, message_id) < ($5, $6::uuid))
     ORDER BY created_at DESC, message_id DESC LIMIT $7`,
    [
      orgId,
      filter.since ?? null,
      filter.tag ?? null,
      filter.state ?? null,
      cursorTime,
      cursorId,
      filter.limit,
    ],
  );
  const recipients =
    rows.length === 0
      ? []
      : (
          await q.query<RecipientRow>(
            `SELECT ${RECIPIENT_COLUMNS} FROM message_recipients
             WHERE org_id = $1 AND message_id = ANY($2::uuid[]) ORDER BY position`,
            [orgId, rows.map((m) => m.message_id)],
          )
        ).rows;
  return {
    data: rows.map(({ created_at_text: _t, ...m }) =>
      view(
        m,
        recipients.filter((r) => r.message_id === m.message_id),
        null,
        now,
      ),
    ),
    next_cursor: rows.length === filter.limit ? encodeCursor(rows[rows.length - 1]!) : null,
  };
}
