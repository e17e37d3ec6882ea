import { normalizeDomain } from '../domains/index.ts';
import { errors, SealpostError } from '../errors/index.ts';
import { LANGUAGES } from '../i18n/index.ts';
import { normalizePhone } from '../sms/index.ts';
import type { Mailbox, MessageContent, MessageRequest, PortalOptions, RecipientKind } from './types.ts';

// Checks a submitted message and turns it into the content that is sealed. Everything that could
// let a caller reach outside their message (header injection, headers Sealpost owns, bodies that
// break the size limit) is refused here, before anything is stored.

const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

/** Header fields Sealpost writes itself; a caller who sets one could forge routing or signatures. */
const RESERVED_HEADERS = new Set([
  'from',
  'sender',
  'to',
  'cc',
  'bcc',
  'reply-to',
  'subject',
  'date',
  'message-id',
  'mime-version',
  'return-path',
  'received',
  'dkim-signature',
  'arc-seal',
  'arc-message-signature',
  'arc-authentication-results',
  'authentication-results',
  'content-type',
  'content-transfer-encoding',
  'content-disposition',
]);
const HEADER_NAME = /^[!-9;-~]{1,76}$/; // printable ASCII without ':' (RFC 5322 ftext)
const CRLF = /[\r\n\0]/;

export interface Problem {
  path: string;
  message: string;
}

/** A lower-case address, or null when it is not a plain addr-spec with a valid domain. */
export function normalizeAddress(input: string): string | null {
  const value = input.trim();
  if (value.length > 254 || CRLF.test(value)) return null;
  const at = value.lastIndexOf('@');
  if (at < 1) return null;
  const local = value.slice(0, at);
  const domain = normalizeDomain(value.slice(at + 1));
  if (local.length > 64 || !LOCAL_PART.test(local) || !domain) return null;
  return `${local.toLowerCase()}@${domain}`;
}

export const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1);

function mailbox(input: string | { name?: string; address: string }, path: string, problems: Problem[]) {
  const given = typeof input === 'string' ? { address: input } : input;
  const address = normalizeAddress(given.address);
  if (!address) problems.push({ path, message: `"${given.address}" is not an email address` });
  if (given.name !== undefined && CRLF.test(given.name))
    problems.push({ path: `${path}/name`, message: 'must not contain line breaks' });
  const out: Mailbox = { address: address ?? given.address };
  if (given.name) out.name = given.name.trim();
  return out;
}

const base64Length = (b64: string) => Math.floor((b64.replace(/=+$/, '').length * 3) / 4);
const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}\s*$/;

/**
 * The message as it will be sealed, or a 422 listing every problem at once (413 when only the
 * size is wrong).
 */
export function validateMessage(body: MessageRequest, maxBytes: number): MessageContent {
  const problems: Problem[] = [];
  const from = mailbox(body.from, '/from', problems);
  const list = (kind: RecipientKind) =>
    (body[kind] ?? []).map((m, i) => mailbox(m, `/${kind}/${i}`, problems));
  const to = list('to');
  const cc = list('cc');
  const bcc = list('bcc');
  const replyTo = (body.reply_to === undefined ? [] : [body.reply_to].flat()).map((m, i) =>
    mailbox(m, `/reply_to/${i}`, problems),
  );
  if (to.length + cc.length + bcc.length === 0)
    problems.push({ path: '/to', message: 'at least one recipient (to, cc or bcc) is required' });
  const seen = new Set<string>();
  for (const m of [...to, ...cc, ...bcc]) {
    if (seen.has(m.address)) problems.push({ path: '/to', message: `${m.address} is listed more than once` });
    seen.add(m.address);
  }
  if (CRLF.test(body.subject)) problems.push({ path: '/subject', message: 'must not contain line breaks' });
  if (body.text === undefined && body.html === undefined)
    problems.push({ path: '/text', message: 'text or html (or both) is required' });

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(body.headers ?? {})) {
    if (!HEADER_NAME.test(name)) problems.push({ path: `/headers/${name}`, message: 'is not a header name' });
    else if (RESERVED_HEADERS.has(name.toLowerCase()) || name.toLowerCase().startsWith('content-'))
      problems.push({ path: `/headers/${name}`, message: 'is set by Sealpost and cannot be given' });
    else if (CRLF.test(value))
      problems.push({ path: `/headers/${name}`, message: 'must not contain line breaks (header injection)' });
    else headers[name] = value;
  }

  let size =
    Buffer.byteLength(body.subject) + Buffer.byteLength(body.text ?? '') + Buffer.byteLength(body.html ?? '');
  const attachments = (body.attachments ?? []).map((a, i) => {
    if (!BASE64.test(a.content))
      problems.push({ path: `/attachments/${i}/content`, message: 'must be base64' });
    if (CRLF.test(a.filename) || /[/\\]/.test(a.filename))
      problems.push({ path: `/attachments/${i}/filename`, message: 'must be a plain file name' });
    if (a.content_id !== undefined && CRLF.test(a.content_id))
      problems.push({ path: `/attachments/${i}/content_id`, message: 'must not contain line breaks' });
    size += base64Length(a.content);
    return {
      filename: a.filename,
      content_type: a.content_type ?? 'application/octet-stream',
      ...(a.content_id ? { content_id: a.content_id } : {}),
      content: a.content.replace(/\s+/g, ''),
    };
  });

  const portal = portalOptions(body.portal, [...to, ...cc, ...bcc], problems);

  if (problems.length > 0)
    throw new SealpostError('validation_failed', `The message has ${problems.length} problem(s).`, {
      details: { errors: problems },
    });
  if (size > maxBytes)
    throw new SealpostError(
      'message_too_large',
      `The message is ${size} bytes; at most ${maxBytes} are accepted.`,
    );

  const tags = [...new Set(body.tags ?? [])];
  for (const tag of tags) if (CRLF.test(tag)) throw errors.validation('Tags must not contain line breaks.');
  return {
    from,
    to,
    cc,
    bcc,
    reply_to: replyTo,
    subject: body.subject,
    ...(body.text !== undefined ? { text: body.text } : {}),
    ...(body.html !== undefined ? { html: body.html } : {}),
    headers,
    attachments,
    metadata: body.metadata ?? {},
    ...(portal ? { portal } : {}),
    ...(body.tracking && (body.tracking.clicks || body.tracking.opens) ? { tracking: body.tracking } : {}),
    ...(body.marketing ? { marketing: true } : {}),
    size,
  };
}

function portalOptions(
  given: MessageRequest['portal'],
  recipients: Mailbox[],
  problems: Problem[],
): PortalOptions | undefined {
  if (!given) return undefined;
  const options: PortalOptions = { ...given };
  if (given.verification === 'passphrase' && !given.passphrase)
    problems.push({ path: '/portal/passphrase', message: 'is required with verification passphrase' });
  if (given.language !== undefined && !LANGUAGES.includes(given.language))
    problems.push({ path: '/portal/language', message: `must be one of ${LANGUAGES.join(', ')}` });
  if (given.phones) {
    const phones: Record<string, string> = {};
    for (const [address, phone] of Object.entries(given.phones)) {
      const normalized = normalizeAddress(address);
      if (!normalized || !recipients.some((r) => r.address === normalized)) {
        problems.push({ path: `/portal/phones/${address}`, message: 'is not a recipient of this message' });
        continue;
      }
      try {
        phones[normalized] = normalizePhone(phone);
      } catch (err) {
        problems.push({ path: `/portal/phones/${address}`, message: (err as Error).message });
      }
    }
    options.phones = phones;
  }
  if (given.verification === 'sms')
    for (const r of recipients)
      if (!given.phones || !Object.keys(options.phones ?? {}).includes(r.address))
        problems.push({
          path: '/portal/phones',
          message: `${r.address} needs a phone number for verification sms`,
        });
  return options;
}
