import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { Mailbox, MessageContent } from '../messages/index.ts';

// Builds the RFC 5322 message every method starts from. Bcc never appears in it: each recipient
// gets a copy of their own.

/**
 * Every bare LF as CRLF (RFC 5322 2.3). MailComposer keeps a text body's own line breaks; DKIM,
 * PGP/MIME and S/MIME all work on the canonical form, and mailauth's signer handles a body of
 * bare LFs a line at a time. latin1 maps bytes one to one, so nothing else changes.
 */
const crlf = (raw: Buffer): Buffer =>
  Buffer.from(raw.toString('latin1').replace(/(?<!\r)\n/g, '\r\n'), 'latin1');

const mailbox = (m: Mailbox) => (m.name ? { name: m.name, address: m.address } : m.address);

export function buildMessage(content: MessageContent, rfcMessageId: string, date: Date): Promise<Buffer> {
  return new MailComposer({
    from: mailbox(content.from),
    to: content.to.map(mailbox),
    cc: content.cc.map(mailbox),
    ...(content.reply_to.length ? { replyTo: content.reply_to.map(mailbox) } : {}),
    subject: content.subject,
    ...(content.text !== undefined ? { text: content.text } : {}),
    ...(content.html !== undefined ? { html: content.html } : {}),
    headers: content.headers,
    messageId: rfcMessageId,
    date,
    attachments: content.attachments.map((a) => ({
      filename: a.filename,
      contentType: a.content_type,
      content: Buffer.from(a.content, 'base64'),
      ...(a.content_id ? { cid: a.content_id } : {}),
    })),
  })
    .compile()
    .build()
    .then(crlf);
}
