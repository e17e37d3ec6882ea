import type { AuditEvent } from '../audit/index.ts';

// The public events: what Sealpost tells integrations (GET /v1/events, webhooks) about the state
// changes of messages. They are a projection of the audit trail: an audit event whose action is
// listed below becomes a public event with the same id, and only the detail fields listed for
// its type are copied into `data`. Nothing else of the audit event leaves: no actor, no IP, no
// organisation id, and never PHI (recipient addresses go only to webhook endpoints allowed to
// receive PHI, added at delivery time).
//
// THE list of event types. A capability that records a new state change adds its audit action
// here, with the detail fields integrations may see, and it is in the stream, in webhooks, in
// the API schema and in docs/webhooks.md's table at once.

export interface EventTypeSpec {
  /** One sentence for integrators. */
  description: string;
  /** Keys of the audit event's details copied into `data` when present: ids, counts, codes, never PHI. */
  data: readonly string[];
}

const TRANSMISSION = ['method', 'attempt', 'mx', 'smtp_code', 'tls_version', 'tls_cipher'] as const;

export const EVENT_TYPES = {
  'message.queued': {
    description:
      'A message was accepted and queued for its recipients (one event per message, before any delivery).',
    data: [
      'recipients',
      'protection',
      'priority',
      'phi',
      'dlp_kinds',
      'size_bytes',
      'attachments',
      'send_at',
      'reply_of',
    ],
  },
  'message.deferred': {
    description:
      "A delivery attempt failed for now (the recipient's server said try later); retried at retry_at.",
    data: [...TRANSMISSION, 'retry_at'],
  },
  'message.delivered': {
    description:
      "The recipient's server accepted the message, protected by `method` (pgp, smime or tls; TLS version and cipher when TLS carried it).",
    data: TRANSMISSION,
  },
  'message.portal_notified': {
    description:
      'The recipient was sent a notice without PHI and reads the message in the secure portal after proving who they are.',
    data: TRANSMISSION,
  },
  'message.bounced': {
    description:
      "The recipient's server refused the message for good, or deferrals went on past the delivery lifetime (asynchronous: true for a bounce reported later by a DSN).",
    data: [...TRANSMISSION, 'status', 'asynchronous'],
  },
  'message.failed': {
    description: 'Sealpost could not deliver to this recipient (e.g. no acceptable protection); not retried.',
    data: [...TRANSMISSION, 'reason'],
  },
  'message.revoked': {
    description:
      'The sender revoked the message: the portal no longer shows it (recipients: the recipient ids revoked).',
    data: ['recipients', 'not_revoked'],
  },
  'message.expired': {
    description: "The recipient's time to read the message in the portal ran out.",
    data: [],
  },
  'message.opened': {
    description: 'The message was opened (open tracking, off by default; never for portal notices).',
    data: [],
  },
  'message.complained': {
    description: 'The recipient reported the message as unwanted (an ARF feedback report).',
    data: ['feedback_type'],
  },
  'link.clicked': {
    description: 'The recipient followed a tracked link (link: its position in the message).',
    data: ['link'],
  },
  'contact.unsubscribed': {
    description: 'The recipient unsubscribed with the one-click link of a marketing message.',
    data: [],
  },
  'portal.verified': {
    description: 'The recipient proved who they are in the portal (method: email, sms, passphrase, ...).',
    data: ['method'],
  },
  'portal.viewed': {
    description: 'The recipient viewed the message in the portal (first: true on the first view).',
    data: ['first'],
  },
  'portal.downloaded': {
    description: 'The recipient downloaded an attachment in the portal (attachment: its position).',
    data: ['attachment'],
  },
  'portal.replied': {
    description:
      'The recipient replied securely in the portal (reply_message_id: the reply, a message of its own).',
    data: ['reply_message_id', 'attachments'],
  },
} as const satisfies Record<string, EventTypeSpec>;

export type EventType = keyof typeof EVENT_TYPES;

export const EVENT_TYPE_NAMES = Object.keys(EVENT_TYPES) as EventType[];

export function isEventType(value: string): value is EventType {
  return Object.hasOwn(EVENT_TYPES, value);
}

/** A public event, as GET /v1/events returns it and webhooks carry it. */
export interface PublicEvent {
  /** The audit event's id: stable, the same in the stream, in every webhook delivery and replay. */
  id: string;
  type: EventType;
  occurred_at: string;
  message_id: string | null;
  recipient_id: string | null;
  data: Record<string, unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The public event of an audit event, or null when its action is not a public event type. */
export function publicEvent(event: AuditEvent): PublicEvent | null {
  if (!isEventType(event.action)) return null;
  const spec: EventTypeSpec = EVENT_TYPES[event.action];
  const details = event.details as Record<string, unknown>;
  const data: Record<string, unknown> = {};
  for (const key of spec.data) if (details[key] !== undefined) data[key] = details[key];
  const recipient = details.recipient_id;
  return {
    id: event.eventId,
    type: event.action,
    occurred_at: event.occurredAt.toISOString(),
    message_id: event.objectType === 'message' ? event.objectId : null,
    recipient_id: typeof recipient === 'string' && UUID.test(recipient) ? recipient : null,
    data,
  };
}
