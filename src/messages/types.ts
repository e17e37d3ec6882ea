import { type Static, Type } from 'typebox';
import type { DlpResult } from '../dlp/index.ts';
import { DateTime, Nullable } from '../http/index.ts';

export type RecipientKind = 'to' | 'cc' | 'bcc';
export type Protection = 'auto' | 'portal' | 'e2e';
export type Priority = 'transactional' | 'bulk';
export type Method = 'pgp' | 'smime' | 'tls' | 'portal';
export type RecipientState =
  | 'queued'
  | 'delivering'
  | 'deferred'
  | 'delivered'
  | 'bounced'
  | 'failed'
  | 'portal_notified'
  | 'expired'
  | 'revoked';

export const RECIPIENT_STATES: readonly RecipientState[] = [
  'queued',
  'delivering',
  'deferred',
  'delivered',
  'bounced',
  'failed',
  'portal_notified',
  'expired',
  'revoked',
];

/** States a recipient does not leave: nothing more will be attempted. */
export const FINAL_STATES: ReadonlySet<RecipientState> = new Set<RecipientState>([
  'delivered',
  'bounced',
  'failed',
  'portal_notified',
  'expired',
  'revoked',
]);

export interface Mailbox {
  name?: string;
  address: string;
}

export interface StoredAttachment {
  filename: string;
  content_type: string;
  content_id?: string;
  /** base64 */
  content: string;
}

/** What is sealed: everything about a message that may be PHI. */
export interface MessageContent {
  from: Mailbox;
  to: Mailbox[];
  cc: Mailbox[];
  bcc: Mailbox[];
  reply_to: Mailbox[];
  subject: string;
  text?: string;
  html?: string;
  headers: Record<string, string>;
  attachments: StoredAttachment[];
  metadata: Record<string, string>;
  /** How recipients who read in the portal prove who they are, and what they may do there. */
  portal?: PortalOptions;
  /** Count clicks (signed redirect links) and opens (a pixel); both off unless asked for. */
  tracking?: { clicks?: boolean; opens?: boolean };
  /** Marketing mail: a one-click unsubscribe, and unsubscribed recipients refused. */
  marketing?: boolean;
  /** Bytes of subject, bodies and decoded attachments. */
  size: number;
}

export interface PortalOptions {
  verification?: 'email' | 'sms' | 'passphrase';
  passphrase?: string;
  /** E.164 phone number per recipient address, for codes by SMS. */
  phones?: Record<string, string>;
  expires_in_days?: number;
  replies?: 'none' | 'sender' | 'all';
  language?: string;
}

export const sealedContentBinding = (messageId: string) => ({ table: 'messages', row: messageId });

// The request body of POST /v1/messages.

const Address = Type.String({ minLength: 3, maxLength: 254, description: 'An email address' });
const MailboxSchema = Type.Union([
  Address,
  Type.Object(
    { name: Type.Optional(Type.String({ maxLength: 200 })), address: Address },
    { additionalProperties: false },
  ),
]);
const Recipients = Type.Array(MailboxSchema, { maxItems: 1000 });

export const MessageRequestSchema = Type.Object(
  {
    from: MailboxSchema,
    to: Type.Optional(Recipients),
    cc: Type.Optional(Recipients),
    bcc: Type.Optional(Recipients),
    reply_to: Type.Optional(Type.Union([MailboxSchema, Type.Array(MailboxSchema, { maxItems: 10 })])),
    subject: Type.String({ maxLength: 998 }),
    text: Type.Optional(Type.String()),
    html: Type.Optional(Type.String()),
    attachments: Type.Optional(
      Type.Array(
        Type.Object(
          {
            filename: Type.String({ minLength: 1, maxLength: 255 }),
            content: Type.String({ description: 'The file, base64-encoded' }),
            content_type: Type.Optional(Type.String({ maxLength: 255, pattern: '^[\\w.+-]+/[\\w.+-]+$' })),
            content_id: Type.Optional(
              Type.String({
                maxLength: 255,
                description: 'For inline images: referenced as cid:<content_id>',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        { maxItems: 100 },
      ),
    ),
    headers: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 998 }))),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 20 })),
    metadata: Type.Optional(
      Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 1000 }), {
        description: 'Your own key/value pairs, sealed with the message and returned with it',
      }),
    ),
    protection: Type.Optional(
      Type.Union([Type.Literal('auto'), Type.Literal('portal'), Type.Literal('e2e')], {
        description:
          'auto (default): the best method each recipient can take; portal: every recipient reads in the portal; e2e: OpenPGP or S/MIME, else the portal, never TLS alone',
      }),
    ),
    priority: Type.Optional(
      Type.Union([Type.Literal('transactional'), Type.Literal('bulk')], {
        description: 'transactional (default) mail passes bulk mail waiting in the queue',
      }),
    ),
    send_at: Type.Optional(Type.String({ format: 'date-time', description: 'Deliver no earlier than this' })),
    tracking: Type.Optional(
      Type.Object(
        {
          clicks: Type.Optional(
            Type.Boolean({
              description:
                'Links in the HTML go through signed redirect links that record link.clicked (the destination never appears in the link)',
            }),
          ),
          opens: Type.Optional(
            Type.Boolean({
              description: 'A 1×1 image records message.opened. Off by default; never in portal notices',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    marketing: Type.Optional(
      Type.Boolean({
        description:
          'Marketing mail: carries a one-click unsubscribe (RFC 8058 List-Unsubscribe and List-Unsubscribe-Post, plus a footer link); recipients who unsubscribed are refused for marketing mail only',
      }),
    ),
    portal: Type.Optional(
      Type.Object(
        {
          verification: Type.Optional(
            Type.Union([Type.Literal('email'), Type.Literal('sms'), Type.Literal('passphrase')], {
              description:
                "How a portal recipient proves who they are: a code by email (the organisation's default unless its policy says otherwise), a code by SMS to the number in `phones`, or the `passphrase` you share with them out of band",
            }),
          ),
          passphrase: Type.Optional(
            Type.String({
              minLength: 8,
              maxLength: 200,
              description: 'Required with verification passphrase',
            }),
          ),
          phones: Type.Optional(
            Type.Record(Type.String({ maxLength: 254 }), Type.String({ maxLength: 32 }), {
              description:
                'Recipient address to phone number (E.164), required for each recipient with verification sms',
            }),
          ),
          expires_in_days: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 3650,
              description: 'How long the message can be read in the portal',
            }),
          ),
          replies: Type.Optional(
            Type.Union([Type.Literal('none'), Type.Literal('sender'), Type.Literal('all')], {
              description:
                "Who a portal reply reaches: no one (replies off), the sender, or the sender and every visible recipient; default the organisation's policy",
            }),
          ),
          language: Type.Optional(
            Type.String({
              pattern: '^[a-z]{2}$',
              description: 'Language of the notice and the portal pages (en, es)',
            }),
          ),
        },
        { additionalProperties: false, description: 'For recipients who read in the secure portal' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type MessageRequest = Static<typeof MessageRequestSchema>;

// What GET /v1/messages/{id} answers.

/** What the remote server said and how the connection was protected, on a recipient and an attempt. */
const TransmissionFields = {
  mx: Nullable(Type.String()),
  smtp_code: Nullable(Type.Integer()),
  smtp_response: Nullable(Type.String()),
  tls_version: Nullable(Type.String()),
  tls_cipher: Nullable(Type.String()),
};

export const AttemptSchema = Type.Object({
  attempt: Type.Integer(),
  started_at: DateTime,
  finished_at: DateTime,
  method: Type.String(),
  outcome: Type.String(),
  ...TransmissionFields,
  detail: Nullable(Type.String()),
});

export const RecipientSchema = Type.Object({
  id: Type.String(),
  address: Type.String(),
  kind: Type.String(),
  state: Type.String(),
  method: Nullable(Type.String()),
  method_reason: Nullable(Type.String()),
  ...TransmissionFields,
  attempts: Type.Integer(),
  next_attempt_at: Nullable(DateTime),
  updated_at: DateTime,
  finished_at: Nullable(DateTime),
  history: Type.Optional(Type.Array(AttemptSchema)),
  portal: Type.Optional(
    Nullable(
      Type.Object(
        {
          verification: Type.String({ description: 'email, sms or passphrase' }),
          expires_at: DateTime,
          revoked_at: Nullable(DateTime),
          locked_at: Nullable(DateTime),
          failed_attempts: Type.Integer(),
          verified_at: Nullable(DateTime),
          first_viewed_at: Nullable(DateTime), // the read receipt
          last_viewed_at: Nullable(DateTime),
          views: Type.Integer(),
          downloads: Type.Integer(),
          replies: Type.Integer(),
        },
        { description: 'For a recipient who reads in the portal: what they did there' },
      ),
    ),
  ),
});

export const DlpSchema = Type.Object({
  phi: Type.Boolean(),
  findings: Type.Array(
    Type.Object({ kind: Type.String(), count: Type.Integer(), where: Type.Array(Type.String()) }),
  ),
  scanned_bytes: Type.Integer(),
  skipped_attachments: Type.Integer(),
});

export const MessageSummarySchema = Type.Object({
  id: Type.String(),
  status: Type.String({
    description: 'queued, in_progress, done (every recipient in a final state) or scheduled',
  }),
  created_at: DateTime,
  send_at: Nullable(DateTime),
  from: Type.String(),
  protection: Type.String(),
  priority: Type.String(),
  tags: Type.Array(Type.String()),
  size_bytes: Type.Integer(),
  rfc_message_id: Type.String(),
  sandbox: Type.Boolean({ description: 'Accepted in sandbox mode: captured, never delivered' }),
  dlp: DlpSchema,
  recipients: Type.Array(RecipientSchema),
});

export const MessageDetailSchema = Type.Intersect([
  MessageSummarySchema,
  Type.Object({
    subject: Type.String(),
    metadata: Type.Record(Type.String(), Type.String()),
    reply_of: Nullable(
      Type.String({ description: 'The message this one answers (a reply from the portal)' }),
    ),
    replies: Type.Array(Type.String(), { description: 'Replies written in the portal to this message' }),
  }),
]);

export interface StoredMessage {
  org_id: string;
  message_id: string;
  created_at: Date;
  send_at: Date | null;
  from_address: string;
  from_domain: string;
  protection: Protection;
  priority: Priority;
  tags: string[];
  size_bytes: number;
  dlp: DlpResult;
  phi: boolean;
  rfc_message_id: string;
  content_sealed: Buffer;
  /** Accepted in sandbox mode: captured, never delivered. */
  sandbox: boolean;
}

export interface StoredRecipient {
  org_id: string;
  recipient_id: string;
  message_id: string;
  position: number;
  kind: RecipientKind;
  address: string;
  state: RecipientState;
  method: Method | null;
  method_reason: string | null;
  attempts: number;
}
