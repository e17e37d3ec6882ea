import type { FastifyRequest } from 'fastify';
import { formatSize } from '../i18n/index.ts';
import {
  loadMessage,
  type MessageContent,
  openContent,
  type StoredMessage,
  submitMessage,
} from '../messages/index.ts';
import { SealpostError } from '../errors/index.ts';
import type { PortalRecipient } from './store.ts';
import { type PortalDeps, recipientActor } from './types.ts';
import { judgeUpload, KNOWN_UPLOAD_TYPES, printableFilename, type UploadType } from './uploads.ts';

// A reply written in the portal. It goes back through the one way in, like any other message,
// from the organisation's own sending address (so it is DKIM-signed and aligned) with the reader
// as Reply-To, threaded to the original, and always treated as PHI.

export interface ReplyFile {
  filename: string;
  contentType: string;
  content: Buffer;
}

export type ReplyRefusal =
  | { kind: 'too_large'; size: string }
  | { kind: 'too_many' }
  /** A file refused for its name, its type, or a name that says another type than its content. */
  | { kind: 'name' | 'type' | 'mismatch'; name: string };

export type ReplyForm =
  | { csrf: string | undefined; subject: string; text: string; files: ReplyFile[] }
  | { csrf: string | undefined; refused: ReplyRefusal };

/**
 * The form, read whole before anything is done with it: one file refused refuses the form, so a
 * reply is sent with all its files or not at all.
 */
export async function readReply(
  request: FastifyRequest,
  limits: { maxBytes: number; maxFiles: number; types: readonly UploadType[] },
): Promise<ReplyForm> {
  let csrf: string | undefined;
  let text = '';
  let subject = '';
  const files: ReplyFile[] = [];
  let total = 0;
  let refused: ReplyRefusal | null = null;
  for await (const part of request.parts()) {
    if (part.type === 'field') {
      if (part.fieldname === 'csrf') csrf = String(part.value);
      if (part.fieldname === 'text') text = String(part.value);
      if (part.fieldname === 'subject')
        subject = String(part.value)
          .replace(/[\r\n\0]+/g, ' ')
          .slice(0, 200);
      continue;
    }
    // A file input left empty still sends a part with no name.
    if (!part.filename) {
      await part.toBuffer();
      continue;
    }
    const content = await part.toBuffer();
    total += content.length;
    if (refused) continue;
    if (limits.maxBytes === 0 || total > limits.maxBytes)
      refused = { kind: 'too_large', size: formatSize(limits.maxBytes, 'en') };
    else if (files.length >= limits.maxFiles) refused = { kind: 'too_many' };
    else {
      // The browser's idea of the type is not asked: the bytes decide.
      const verdict = judgeUpload(part.filename, content, limits.types);
      if (verdict.ok) files.push({ filename: verdict.filename, contentType: verdict.contentType, content });
      else refused = { kind: verdict.reason, name: printableFilename(part.filename) };
    }
  }
  return refused ? { csrf, refused } : { csrf, subject, text, files };
}

/** Who a reply from this recipient reaches: the sender, and with `all` the other visible recipients. */
export async function replyAudience(
  deps: PortalDeps,
  p: PortalRecipient,
  message: StoredMessage,
  content: MessageContent,
): Promise<string[]> {
  const { rows } = await deps.db.query<{ portal_replies: string; kind: string }>(
    `SELECT coalesce((SELECT portal_replies FROM secureline_policies WHERE org_id = $1), 'sender') AS portal_replies,
       (SELECT kind FROM message_recipients WHERE org_id = $1 AND recipient_id = $2) AS kind`,
    [p.orgId, p.recipientId],
  );
  const mode = content.portal?.replies ?? rows[0]!.portal_replies;
  if (mode === 'none') return [];
  const sender = message.from_address;
  // A Bcc recipient is hidden from the others: their reply reaches the sender alone.
  if (mode === 'sender' || rows[0]!.kind === 'bcc') return [sender];
  const others = [...content.to, ...content.cc]
    .map((m) => m.address)
    .filter((a) => a !== p.address && a !== sender);
  return [sender, ...new Set(others)];
}

export type ReplyOutcome = { ok: true; messageId: string } | { ok: false; status: number; code: string };

export async function sendReply(
  deps: PortalDeps,
  p: PortalRecipient,
  form: { text: string; files: ReplyFile[] },
  ctx: { ip: string; requestId: string },
): Promise<ReplyOutcome> {
  const message = await loadMessage(deps.db, p.orgId, p.messageId);
  const content = await openContent(deps.keyring, message);
  const audience = await replyAudience(deps, p, message, content);
  if (audience.length === 0) return { ok: false, status: 403, code: 'replies_closed' };
  const reader = [...content.to, ...content.cc, ...content.bcc].find((m) => m.address === p.address);
  const subject = /^re:/i.test(content.subject) ? content.subject : `Re: ${content.subject}`;
  try {
    const accepted = await submitMessage(
      deps.submit,
      {
        from: { name: `${reader?.name ?? p.address} (secure portal)`, address: message.from_address },
        to: audience,
        reply_to: reader?.name ? { name: reader.name, address: p.address } : p.address,
        subject,
        text: form.text,
        headers: { 'In-Reply-To': message.rfc_message_id, References: message.rfc_message_id },
        ...attachmentsOf(form.files),
        tags: ['portal-reply'],
        ...(content.portal?.language ? { portal: { language: content.portal.language } } : {}),
      },
      { orgId: p.orgId, actor: recipientActor(p.recipientId), ip: ctx.ip, requestId: ctx.requestId },
      undefined,
      { assumePhi: true, replyOf: p.messageId },
    );
    await deps.db.transaction(async (tx) => {
      await tx.query(
        'UPDATE portal_deliveries SET replies = replies + 1 WHERE org_id = $1 AND recipient_id = $2',
        [p.orgId, p.recipientId],
      );
      await deps.stageAudit(tx, {
        orgId: p.orgId,
        actor: recipientActor(p.recipientId),
        ip: ctx.ip,
        requestId: ctx.requestId,
        action: 'portal.replied',
        objectType: 'message',
        objectId: p.messageId,
        outcome: 'success',
        details: {
          recipient_id: p.recipientId,
          reply_message_id: accepted.id,
          attachments: form.files.length,
        },
      });
    });
    return { ok: true, messageId: accepted.id };
  } catch (err) {
    if (err instanceof SealpostError)
      return { ok: false, status: err.status >= 500 ? 503 : 422, code: err.code };
    throw err;
  }
}

/** The types of file the organisation's recipients may attach (its SecureLine policy). */
export async function uploadTypes(deps: PortalDeps, orgId: string): Promise<UploadType[]> {
  const { rows } = await deps.db.query<{ portal_upload_types: string[] }>(
    'SELECT portal_upload_types FROM secureline_policies WHERE org_id = $1',
    [orgId],
  );
  const types = rows[0]?.portal_upload_types ?? KNOWN_UPLOAD_TYPES;
  return KNOWN_UPLOAD_TYPES.filter((t) => types.includes(t));
}

/** The address that takes new messages from the portal, when the organisation has one. */
export async function portalInbox(deps: PortalDeps, orgId: string): Promise<string | null> {
  const { rows } = await deps.db.query<{ portal_inbox: string | null }>(
    'SELECT portal_inbox FROM secureline_policies WHERE org_id = $1',
    [orgId],
  );
  return rows[0]?.portal_inbox ?? null;
}

/** A new secure message from a recipient to the organisation's portal inbox. */
export async function sendNewMessage(
  deps: PortalDeps,
  p: PortalRecipient,
  form: { subject: string; text: string; files: ReplyFile[] },
  ctx: { ip: string; requestId: string },
): Promise<ReplyOutcome> {
  const inbox = await portalInbox(deps, p.orgId);
  if (!inbox) return { ok: false, status: 403, code: 'new_messages_closed' };
  const content = await openContent(deps.keyring, await loadMessage(deps.db, p.orgId, p.messageId));
  const reader = [...content.to, ...content.cc, ...content.bcc].find((m) => m.address === p.address);
  try {
    const accepted = await submitMessage(
      deps.submit,
      {
        from: { name: `${reader?.name ?? p.address} (secure portal)`, address: inbox },
        to: [inbox],
        reply_to: reader?.name ? { name: reader.name, address: p.address } : p.address,
        subject: form.subject,
        text: form.text,
        ...attachmentsOf(form.files),
        tags: ['portal-new'],
      },
      { orgId: p.orgId, actor: recipientActor(p.recipientId), ip: ctx.ip, requestId: ctx.requestId },
      undefined,
      { assumePhi: true },
    );
    await deps.stageAudit(deps.db, {
      orgId: p.orgId,
      actor: recipientActor(p.recipientId),
      ip: ctx.ip,
      requestId: ctx.requestId,
      action: 'portal.message_started',
      objectType: 'message',
      objectId: accepted.id,
      outcome: 'success',
      details: { recipient_id: p.recipientId, from_message_id: p.messageId, attachments: form.files.length },
    });
    return { ok: true, messageId: accepted.id };
  } catch (err) {
    if (err instanceof SealpostError)
      return { ok: false, status: err.status >= 500 ? 503 : 422, code: err.code };
    throw err;
  }
}

function attachmentsOf(files: ReplyFile[]) {
  if (files.length === 0) return {};
  return {
    attachments: files.map((f) => ({
      filename: f.filename,
      content_type: f.contentType,
      content: f.content.toString('base64'),
    })),
  };
}
