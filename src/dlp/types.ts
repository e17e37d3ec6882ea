/**
 * What the DLP scanner reports. A finding is a kind and a position in the scanned text, never the
 * matched value; a message's result is kinds, counts and where they were seen, nothing else.
 */
export type DlpKind =
  | 'us_ssn'
  | 'medicare_mbi'
  | 'npi'
  | 'dea_number'
  | 'mrn'
  | 'date_of_birth'
  | 'clinical_date'
  | 'icd10'
  | 'insurance_member_id'
  | 'phone'
  | 'postal_address';

/** Every kind, in the order results list them. */
export const DLP_KINDS: readonly DlpKind[] = [
  'us_ssn',
  'medicare_mbi',
  'mrn',
  'insurance_member_id',
  'date_of_birth',
  'clinical_date',
  'icd10',
  'phone',
  'postal_address',
  'npi',
  'dea_number',
];

/**
 * One detection in a scanned text. `start`/`end` are UTF-16 offsets into the text given to
 * `scanText` (end exclusive), for in-memory use such as redaction; they are not stored.
 * `phi` says whether this finding alone makes the content PHI: patient identifiers always do;
 * phone numbers and addresses only with patient context before them (every signature has a
 * phone and an address); provider identifiers (NPI, DEA) never do.
 */
export interface DlpFinding {
  kind: DlpKind;
  start: number;
  end: number;
  phi: boolean;
}

export type DlpWhere = 'subject' | 'body' | 'attachment';

export interface DlpKindCount {
  kind: DlpKind;
  /** Occurrences (not distinct values). */
  count: number;
  where: DlpWhere[];
}

/** What is stored with the message and shown in its record. Never holds a matched value. */
export interface DlpResult {
  findings: DlpKindCount[];
  /** True when any finding is PHI by itself (see `DlpFinding.phi`). */
  phi: boolean;
  /** Bytes examined: subject, text and HTML bodies (UTF-8) and the scanned part of attachments. */
  scanned_bytes: number;
  /**
   * Attachments not scanned, or not scanned whole: binary types (PDF, images, office documents,
   * archives, nested messages), binary content under a text type, and text attachments larger
   * than the cap (their first `maxAttachmentBytes` are scanned). Policy should treat a result
   * with skipped attachments as possibly PHI.
   */
  skipped_attachments: number;
}

export interface DlpAttachment {
  filename?: string;
  contentType?: string;
  content: Buffer | Uint8Array;
}

export interface DlpMessage {
  subject?: string;
  text?: string;
  html?: string;
  attachments?: DlpAttachment[];
}

export interface DlpOptions {
  /** The clock, for the plausible year range of dates (default: now). */
  now?: Date;
  /** Bytes scanned per attachment; larger attachments are scanned up to this and counted as skipped. */
  maxAttachmentBytes?: number;
}
