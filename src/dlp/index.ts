/**
 * DLP: finds PHI in message content and attachments' text. `scanMessage` gives what is stored
 * with a message and drives policy (kinds, counts, where, a PHI flag; never a matched value);
 * `scanText` gives positions for in-memory use such as redaction.
 */
export { CONTEXT_WINDOW, validDea, validIcd10, validNanp, validNpi, validSsn } from './detectors.ts';
export { htmlToText } from './html.ts';
export { attachmentFormat, MAX_ATTACHMENT_BYTES, scanMessage, scanText } from './scan.ts';
export {
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
