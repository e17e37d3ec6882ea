// Reading the reports mail systems send back after the fact: delivery status notifications
// (RFC 3464, a bounce that comes after the receiving server said 250) and abuse feedback
// (ARF, RFC 5965, a recipient pressed "this is spam"). Pure parsing: the fields, nothing applied.

export interface DsnRecipient {
  address: string | null;
  action: string;
  status: string;
  diagnostic: string | null;
}

export interface ParsedReport {
  kind: 'dsn' | 'arf' | 'unknown';
  /** Recipient ids named by a VERP return path (bounces+<id>@...), wherever it was found. */
  recipientIds: string[];
  /** The Message-ID of the message the report is about, if the report quotes it. */
  originalMessageId: string | null;
  dsn: DsnRecipient[];
  /** ARF: the complaining recipient's address as the report gives it. */
  complainant: string | null;
  feedbackType: string | null;
}

/** RFC 822-style field blocks separated by blank lines; folded lines unfolded; names lower-cased. */
export function fieldBlocks(text: string): Map<string, string>[] {
  return text
    .replace(/\r\n/g, '\n')
    .replace(/\n[ \t]+/g, ' ')
    .split(/\n\s*\n/)
    .map((block) => {
      const fields = new Map<string, string>();
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      return fields;
    })
    .filter((fields) => fields.size > 0);
}

/** "rfc822; someone@example.org" → someone@example.org */
const typedAddress = (value: string | undefined) => {
  if (!value) return null;
  const address = (value.includes(';') ? value.slice(value.indexOf(';') + 1) : value)
    .trim()
    .replace(/^<|>$/g, '');
  return address ? address.toLowerCase() : null;
};

const VERP = /bounces\+([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})@/gi;

export function parseReport(input: {
  /** The report's own To addresses (where the reporting system sent it). */
  to: string[];
  /** The machine-readable part: message/delivery-status or message/feedback-report. */
  statusPart: { contentType: string; text: string } | null;
  /** The returned original message or its headers. */
  originalHeaders: string | null;
}): ParsedReport {
  const recipientIds = new Set<string>();
  for (const source of [...input.to, input.originalHeaders ?? ''])
    for (const match of source.matchAll(VERP)) recipientIds.add(match[1]!.toLowerCase());
  const original = input.originalHeaders ? fieldBlocks(input.originalHeaders)[0] : undefined;
  const originalMessageId = original?.get('message-id')?.trim() ?? null;
  const base = {
    recipientIds: [...recipientIds],
    originalMessageId,
    dsn: [],
    complainant: null,
    feedbackType: null,
  };
  const type = input.statusPart?.contentType.toLowerCase() ?? '';

  if (type.startsWith('message/delivery-status')) {
    const [, ...perRecipient] = fieldBlocks(input.statusPart!.text);
    const dsn = perRecipient
      .filter((f) => f.has('action') && f.has('status'))
      .map((f) => ({
        address: typedAddress(f.get('final-recipient') ?? f.get('original-recipient')),
        action: f.get('action')!.toLowerCase(),
        status: f.get('status')!.split(/\s/)[0]!,
        diagnostic: f.get('diagnostic-code') ?? null,
      }));
    return { ...base, kind: 'dsn', dsn };
  }
  if (type.startsWith('message/feedback-report')) {
    const [fields] = fieldBlocks(input.statusPart!.text);
    return {
      ...base,
      kind: 'arf',
      feedbackType: fields?.get('feedback-type')?.toLowerCase() ?? null,
      complainant: typedAddress(fields?.get('original-rcpt-to')) ?? typedAddress(original?.get('to')),
    };
  }
  return { ...base, kind: 'unknown' };
}

/** The SMTP code a diagnostic quotes ("smtp; 550 5.1.1 ..."), or null. */
export function diagnosticCode(diagnostic: string | null): number | null {
  const match = /(?:^|;\s*)([245]\d\d)\b/.exec(diagnostic ?? '');
  return match ? Number(match[1]) : null;
}
