// What PGP/MIME and S/MIME messages share: the outer header block, kept from the original
// message except for the Content-* fields, and an optional replacement for the Subject.
import { randomBytes } from 'node:crypto';
import type { SplitMessage } from '../mime/index.ts';

const CRLF = '\r\n';

export interface EnvelopeOptions {
  /**
   * Replaces the Subject on the outside (subjects can be PHI), e.g. "Secure message". The
   * original Subject then travels inside, as a protected header (protected-headers="v1"), so
   * clients that know the convention still show it.
   */
  outerSubject?: string;
}

const fieldName = (field: string) => field.slice(0, field.indexOf(':')).trim().toLowerCase();

/**
 * The message's entity as it goes inside the encryption, and the header block (ending in a
 * blank line) that goes outside, with `contentFields` describing the encrypted body.
 */
export function envelope(
  split: SplitMessage,
  contentFields: string[],
  options: EnvelopeOptions,
): { inner: Buffer; head: Buffer } {
  let outer = split.outerHeaders;
  let inner = split.entity;
  if (options.outerSubject !== undefined) {
    const subject = encodeSubject(options.outerSubject);
    inner = protectSubject(
      inner,
      outer.filter((f) => fieldName(f) === 'subject'),
    );
    outer = outer.filter((f) => fieldName(f) !== 'subject');
    outer.push(`Subject: ${subject}`);
  }
  const head = [...outer, 'MIME-Version: 1.0', ...contentFields].join(CRLF) + CRLF + CRLF;
  // Header bytes stay as they came: splitMessage reads them as latin1.
  return { inner, head: Buffer.from(head, 'latin1') };
}

/** The original Subject copied into the entity's own header, marked as a protected header. */
function protectSubject(entity: Buffer, subjectFields: string[]): Buffer {
  const text = entity.toString('latin1');
  const end = text.indexOf(CRLF + CRLF);
  const fields = text.slice(0, end).split(/\r\n(?![ \t])/);
  const marked = fields.map((f) =>
    fieldName(f) === 'content-type' ? `${f};${CRLF} protected-headers="v1"` : f,
  );
  if (!fields.some((f) => fieldName(f) === 'content-type'))
    marked.unshift('Content-Type: text/plain; charset=us-ascii; protected-headers="v1"');
  return Buffer.from([...marked, ...subjectFields].join(CRLF) + text.slice(end), 'latin1');
}

/** An unstructured header value: as it is when plain ASCII, else RFC 2047 encoded words. */
export function encodeSubject(value: string): string {
  if (/[\r\n]/.test(value)) throw new Error('the outer subject must be one line');
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  // Each encoded word holds at most 45 bytes of UTF-8 (60 of base64), whole characters only.
  const words: string[] = [];
  let chunk = '';
  for (const char of value) {
    if (Buffer.byteLength(chunk + char) > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += char;
  }
  words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join(`${CRLF} `);
}

export function newBoundary(): string {
  return `----=_sealpost_${randomBytes(12).toString('hex')}`;
}

/** Base64 in lines of 76 characters, CRLF-terminated (RFC 2045). */
export function base64Lines(data: Buffer): string {
  const b64 = data.toString('base64');
  let out = '';
  for (let i = 0; i < b64.length; i += 76) out += b64.slice(i, i + 76) + CRLF;
  return out;
}
