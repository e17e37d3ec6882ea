// Splits a whole RFC 5322 message into what stays outside an encryption envelope (From, To,
// Subject, Date, Message-ID, ...) and the MIME entity that goes inside it (its Content-* headers
// and body), as PGP/MIME (RFC 3156) and S/MIME (RFC 8551) both need.

export interface SplitMessage {
  /** Header fields kept on the outer message, each as one unfolded-safe raw field (folding kept). */
  outerHeaders: string[];
  /** The inner MIME entity: its Content-* fields, a blank line, the body; CRLF line ends. */
  entity: Buffer;
}

const CRLF = '\r\n';

/** Raw header fields, each with its folded continuation lines attached. */
export function headerFields(head: string): string[] {
  const fields: string[] = [];
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && fields.length > 0) fields[fields.length - 1] += CRLF + line;
    else if (line !== '') fields.push(line);
  }
  return fields;
}

export function splitMessage(raw: Buffer): SplitMessage {
  let end = raw.indexOf('\r\n\r\n');
  let sep = 4;
  if (end < 0) {
    end = raw.indexOf('\n\n');
    sep = 2;
  }
  if (end < 0) throw new Error('message has no header/body separator');
  const fields = headerFields(raw.subarray(0, end).toString('latin1'));
  const outerHeaders: string[] = [];
  const inner: string[] = [];
  for (const field of fields) {
    const name = field.slice(0, field.indexOf(':')).trim().toLowerCase();
    if (name.startsWith('content-')) inner.push(field);
    else if (name !== 'mime-version') outerHeaders.push(field);
  }
  if (inner.length === 0) inner.push('Content-Type: text/plain; charset=us-ascii');
  const body = raw
    .subarray(end + sep)
    .toString('latin1')
    .replace(/\r?\n/g, CRLF);
  return { outerHeaders, entity: Buffer.from(inner.join(CRLF) + CRLF + CRLF + body, 'latin1') };
}
