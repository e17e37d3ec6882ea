import { randomUUID } from 'node:crypto';
import type { AuditInput } from '../audit/index.ts';
import type { Keyring } from '../crypto/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { scanMessage } from '../dlp/index.ts';
import { isVerifiedDomain } from '../domains/index.ts';
import { SealpostError } from '../errors/index.ts';
import type { Actor } from '../http/types.ts';
import type { JobQueue } from '../queue/index.ts';
import { suppressedAmong } from '../suppressions/index.ts';
import { DELIVERY_QUEUE, type DeliveryJob, PRIORITY } from './jobs.ts';
import {
  type MessageContent,
  type MessageRequest,
  type Priority,
  type RecipientKind,
  sealedContentBinding,
} from './types.ts';
import { domainOf, validateMessage } from './validate.ts';

// submit: the one way in. The API, the SMTP gateway, campaigns, journeys and form notifications
// all come through here; nothing else creates a message.

export interface SubmitDeps {
  db: Db;
  keyring: Keyring;
  queue: JobQueue;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  /** Stages a high-volume audit event in the action's transaction (see stageAudit). */
  stageAudit(q: Queryable, record: AuditInput): Promise<unknown>;
  maxBytes: number;
}

export interface SubmitContext {
  orgId: string;
  actor: Actor;
  ip?: string | null;
  requestId?: string | null;
}

export interface Accepted {
  id: string;
  status: 'queued' | 'scheduled';
  rfc_message_id: string;
  recipients: { id: string; address: string; kind: RecipientKind; state: 'queued' }[];
  dlp: { phi: boolean; findings: { kind: string; count: number; where: string[] }[] };
}

/** Checks what the content alone cannot tell: the sending domain and the suppression list. */
export async function checkSendable(q: Queryable, orgId: string, content: MessageContent): Promise<void> {
  const fromDomain = domainOf(content.from.address);
  if (!(await isVerifiedDomain(q, orgId, fromDomain)))
    throw new SealpostError(
      'domain_unverified',
      `${fromDomain} is not a verified sending domain of this organisation: add it at /v1/domains and publish its records.`,
      { status: 422 },
    );
  const recipients = [...content.to, ...content.cc, ...content.bcc].map((m) => m.address);
  const suppressed = await suppressedAmong(q, orgId, recipients);
  if (suppressed.length > 0)
    throw new SealpostError('recipients_suppressed', `${suppressed.length} recipient(s) are suppressed.`, {
      status: 422,
      details: { recipients: suppressed.map((s) => ({ address: s.address, reason: s.reason })) },
    });
}

export function dlpOf(content: MessageContent) {
  return scanMessage({
    subject: content.subject,
    ...(content.text !== undefined ? { text: content.text } : {}),
    ...(content.html !== undefined ? { html: content.html } : {}),
    attachments: content.attachments.map((a) => ({
      filename: a.filename,
      contentType: a.content_type,
      content: Buffer.from(a.content, 'base64'),
    })),
  });
}

export async function submitMessage(
  deps: SubmitDeps,
  request: MessageRequest,
  ctx: SubmitContext,
  /** Runs inside the message's transaction with the answer (e.g. to remember an idempotency key). */
  within?: (tx: Queryable, accepted: Accepted) => Promise<void>,
): Promise<Accepted> {
  const content = validateMessage(request, deps.maxBytes);
  await checkSendable(deps.db, ctx.orgId, content);
  const dlp = dlpOf(content);
  const messageId = randomUUID();
  const fromDomain = domainOf(content.from.address);
  const rfcMessageId = `<${messageId}@${fromDomain}>`;
  const sendAt = request.send_at ? new Date(request.send_at) : null;
  const priority: Priority = request.priority ?? 'transactional';
  // Sealed before the transaction: sealing reads the organisation key, and the embedded database
  // runs one transaction at a time.
  const sealed = await deps.keyring.seal(ctx.orgId, sealedContentBinding(messageId), JSON.stringify(content));
  const recipients = (['to', 'cc', 'bcc'] as const).flatMap((kind) =>
    content[kind].map((m) => ({ id: randomUUID(), address: m.address, kind })),
  );

  const accepted: Accepted = {
    id: messageId,
    status: sendAt && sendAt.getTime() > Date.now() ? 'scheduled' : 'queued',
    rfc_message_id: rfcMessageId,
    recipients: recipients.map((r) => ({ id: r.id, address: r.address, kind: r.kind, state: 'queued' })),
    dlp: { phi: dlp.phi, findings: dlp.findings },
  };
  await deps.db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO messages (org_id, message_id, send_at, from_address, from_domain, protection, priority,
         tags, size_bytes, dlp, phi, rfc_message_id, content_sealed, submitted_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [
        ctx.orgId,
        messageId,
        sendAt,
        content.from.address,
        fromDomain,
        request.protection ?? 'auto',
        priority,
        [...new Set(request.tags ?? [])],
        content.size,
        JSON.stringify(dlp),
        dlp.phi,
        rfcMessageId,
        sealed,
        JSON.stringify(ctx.actor),
      ],
    );
    await tx.query(
      `INSERT INTO message_recipients (org_id, recipient_id, message_id, position, kind, address, next_attempt_at)
       SELECT $1, r.id, $2, r.position, r.kind, r.address, $3
       FROM unnest($4::uuid[], $5::int[], $6::text[], $7::text[]) AS r (id, position, kind, address)`,
      [
        ctx.orgId,
        messageId,
        sendAt,
        recipients.map((r) => r.id),
        recipients.map((_, i) => i),
        recipients.map((r) => r.kind),
        recipients.map((r) => r.address),
      ],
    );
    const jobs = recipients.map((r) => ({
      data: { org_id: ctx.orgId, recipient_id: r.id } satisfies DeliveryJob,
      priority: PRIORITY[priority],
      ...(sendAt ? { startAfter: sendAt } : {}),
    }));
    await deps.queue.sendMany(DELIVERY_QUEUE, jobs, { tx });
    await deps.stageAudit(tx, {
      orgId: ctx.orgId,
      actor: ctx.actor,
      ip: ctx.ip ?? null,
      requestId: ctx.requestId ?? null,
      action: 'message.queued',
      objectType: 'message',
      objectId: messageId,
      outcome: 'success',
      details: {
        recipients: recipients.length,
        protection: request.protection ?? 'auto',
        priority,
        phi: dlp.phi,
        dlp_kinds: dlp.findings.map((f) => f.kind),
        size_bytes: content.size,
        attachments: content.attachments.length,
        ...(sendAt ? { send_at: sendAt.toISOString() } : {}),
      },
    });
    if (within) await within(tx, accepted);
  });
  return accepted;
}
