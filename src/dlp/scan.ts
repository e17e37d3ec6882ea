import { detectAll } from './detectors.ts';
import { htmlToText } from './html.ts';
import { normalizeText } from './normalize.ts';
import { findTabular, labelRows, parseDelimited, sniffDelimiter } from './tables.ts';
import {
  DLP_KINDS,
  type DlpAttachment,
  type DlpFinding,
  type DlpKind,
  type DlpKindCount,
  type DlpMessage,
  type DlpOptions,
  type DlpResult,
  type DlpWhere,
} from './types.ts';

/** Default bytes scanned per attachment. */
export const MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024;

function detectContext(options: DlpOptions) {
  const year = (options.now ?? new Date()).getUTCFullYear();
  return { minYear: 1900, maxYear: year + 1 };
}

/**
 * Finds PHI in a text. Offsets refer to `text` as given. The findings are for in-memory use
 * (policy, redaction); store only a `DlpResult`.
 */
export function scanText(text: string, options: DlpOptions = {}): DlpFinding[] {
  if (text.length === 0) return [];
  const normalized = normalizeText(text);
  const findings = detectAll(normalized.text, detectContext(options));
  const map = normalized.map;
  if (map !== null) {
    for (const f of findings) {
      f.start = map[f.start]!;
      f.end = map[f.end - 1]! + 1;
    }
  }
  return findings;
}

/** Counts per kind, and whether any finding is PHI by itself. */
interface Tally {
  counts: Map<DlpKind, number>;
  phi: boolean;
}

function tally(findings: DlpFinding[]): Tally {
  const counts = new Map<DlpKind, number>();
  let phi = false;
  for (const f of findings) {
    counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
    if (f.phi) phi = true;
  }
  return { counts, phi };
}

/** Several views of the same content: per kind the largest count, PHI if any view says so. */
function maxOf(views: Tally[]): Tally {
  const counts = new Map<DlpKind, number>();
  let phi = false;
  for (const v of views) {
    for (const [k, c] of v.counts) counts.set(k, Math.max(counts.get(k) ?? 0, c));
    if (v.phi) phi = true;
  }
  return { counts, phi };
}

function sumOf(parts: Tally[]): Tally {
  const counts = new Map<DlpKind, number>();
  let phi = false;
  for (const v of parts) {
    for (const [k, c] of v.counts) counts.set(k, (counts.get(k) ?? 0) + c);
    if (v.phi) phi = true;
  }
  return { counts, phi };
}

/**
 * The text as written, and for each tab-separated table in it the labelled view of that table:
 * per kind, a table contributes the larger of its counts in the two views.
 */
function scanWithTables(text: string, options: DlpOptions): Tally {
  const findings = scanText(text, options);
  const plain = tally(findings);
  const tables = findTabular(text);
  if (tables.length === 0) return plain;
  const counts = new Map(plain.counts);
  let phi = plain.phi;
  let f = 0;
  for (const table of tables) {
    while (f < findings.length && findings[f]!.start < table.start) f++;
    const inside: DlpFinding[] = [];
    while (f < findings.length && findings[f]!.start < table.end) inside.push(findings[f++]!);
    const before = tally(inside).counts;
    const labelled = tally(scanText(table.labelled, options));
    if (labelled.phi) phi = true;
    for (const [kind, c] of labelled.counts) {
      const b = before.get(kind) ?? 0;
      if (c > b) counts.set(kind, (counts.get(kind) ?? 0) + c - b);
    }
  }
  return { counts, phi };
}

type AttachmentFormat = 'text' | 'html' | 'delimited' | 'skip';

const TEXT_TYPES = new Set([
  'application/json',
  'application/xml',
  'application/x-ndjson',
  'application/ndjson',
  'application/csv',
  'application/rtf',
  'application/x-hl7',
  'application/hl7-v2',
  'application/edi-x12',
  'application/yaml',
  'application/x-yaml',
  'application/javascript',
]);
const TEXT_EXTENSIONS = new Set([
  'txt',
  'text',
  'json',
  'ndjson',
  'xml',
  'md',
  'log',
  'ics',
  'vcf',
  'hl7',
  'ccd',
  'ccda',
  'cda',
  'rtf',
  'yaml',
  'yml',
  'x12',
  'edi',
]);
const HTML_EXTENSIONS = new Set(['html', 'htm', 'xhtml']);
const DELIMITED_EXTENSIONS = new Set(['csv', 'tsv', 'tab', 'psv']);
const DELIMITED_TYPES = new Set([
  'text/csv',
  'application/csv',
  'text/comma-separated-values',
  'text/tab-separated-values',
]);

export function attachmentFormat(att: Pick<DlpAttachment, 'filename' | 'contentType'>): AttachmentFormat {
  const type = (att.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const name = (att.filename ?? '').toLowerCase();
  const dot = name.lastIndexOf('.');
  const ext = dot >= 0 ? name.slice(dot + 1) : '';
  if (type === 'text/html' || type === 'application/xhtml+xml' || HTML_EXTENSIONS.has(ext)) return 'html';
  if (DELIMITED_TYPES.has(type) || DELIMITED_EXTENSIONS.has(ext)) return 'delimited';
  if (type.startsWith('text/') || TEXT_TYPES.has(type) || type.endsWith('+json') || type.endsWith('+xml')) {
    return 'text';
  }
  if (TEXT_EXTENSIONS.has(ext)) return 'text';
  return 'skip';
}

/** Decodes text bytes (UTF-8, or UTF-16 with a byte order mark); null when they look binary. */
export function decodeText(bytes: Uint8Array): string | null {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) {
    return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  }
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) {
    return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  }
  const probe = bytes.subarray(0, 8192);
  if (probe.includes(0)) return null;
  return new TextDecoder('utf-8', { ignoreBOM: false }).decode(bytes);
}

function scanAttachment(
  att: DlpAttachment,
  options: DlpOptions,
  cap: number,
): { tally: Tally | null; bytes: number; partial: boolean } {
  const format = attachmentFormat(att);
  if (format === 'skip') return { tally: null, bytes: 0, partial: false };
  const partial = att.content.length > cap;
  const bytes = partial ? att.content.subarray(0, cap) : att.content;
  const text = decodeText(bytes);
  if (text === null) return { tally: null, bytes: 0, partial: false };
  if (format === 'html')
    return { tally: scanWithTables(htmlToText(text), options), bytes: bytes.length, partial };
  if (format === 'delimited') {
    const plain = tally(scanText(text, options));
    const labelled = labelRows(parseDelimited(text, sniffDelimiter(text)), 4 * text.length + 1024);
    const t = labelled === null ? plain : maxOf([plain, tally(scanText(labelled, options))]);
    return { tally: t, bytes: bytes.length, partial };
  }
  return { tally: scanWithTables(text, options), bytes: bytes.length, partial };
}

/**
 * Scans a message: subject, text and HTML bodies (the same content in two forms: per kind the
 * larger count is taken, not the sum) and text-like attachments. Returns kinds, counts and
 * where they were seen, never a matched value.
 */
export function scanMessage(message: DlpMessage, options: DlpOptions = {}): DlpResult {
  const cap = options.maxAttachmentBytes ?? MAX_ATTACHMENT_BYTES;
  let scannedBytes = 0;
  let skipped = 0;
  const parts: { where: DlpWhere; tally: Tally }[] = [];

  if (message.subject) {
    scannedBytes += Buffer.byteLength(message.subject, 'utf8');
    parts.push({
      where: 'subject',
      tally: tally(scanText(message.subject.replace(/\r?\n[ \t]+/g, ' '), options)),
    });
  }
  const bodies: Tally[] = [];
  if (message.text) {
    scannedBytes += Buffer.byteLength(message.text, 'utf8');
    bodies.push(scanWithTables(message.text, options));
  }
  if (message.html) {
    scannedBytes += Buffer.byteLength(message.html, 'utf8');
    bodies.push(scanWithTables(htmlToText(message.html), options));
  }
  if (bodies.length > 0) parts.push({ where: 'body', tally: maxOf(bodies) });
  const attachments: Tally[] = [];
  for (const att of message.attachments ?? []) {
    const r = scanAttachment(att, options, cap);
    scannedBytes += r.bytes;
    if (r.tally === null || r.partial) skipped++;
    if (r.tally !== null) attachments.push(r.tally);
  }
  if (attachments.length > 0) parts.push({ where: 'attachment', tally: sumOf(attachments) });

  const findings: DlpKindCount[] = [];
  for (const kind of DLP_KINDS) {
    let count = 0;
    const where: DlpWhere[] = [];
    for (const p of parts) {
      const c = p.tally.counts.get(kind) ?? 0;
      if (c > 0) {
        count += c;
        where.push(p.where);
      }
    }
    if (count > 0) findings.push({ kind, count, where });
  }
  return {
    findings,
    phi: parts.some((p) => p.tally.phi),
    scanned_bytes: scannedBytes,
    skipped_attachments: skipped,
  };
}
