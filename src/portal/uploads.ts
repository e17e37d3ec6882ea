import { type SniffedType, sniffType } from './sniff.ts';

// What a recipient may attach in the portal. The files reach clinic staff as attachments of mail
// signed by the clinic's own domain, so a file is taken only when its bytes are one of the types
// the organisation allows (PDF, common images, plain text, office documents without macros: the
// types patients send), its name is one every system stores as written, and that name's
// extension is the type's own. The type the mail then declares is the one found in the bytes.

export type UploadType = SniffedType;

export const UPLOAD_TYPES: Readonly<Record<UploadType, { mime: string; extensions: readonly string[] }>> = {
  pdf: { mime: 'application/pdf', extensions: ['pdf'] },
  jpeg: { mime: 'image/jpeg', extensions: ['jpg', 'jpeg'] },
  png: { mime: 'image/png', extensions: ['png'] },
  gif: { mime: 'image/gif', extensions: ['gif'] },
  webp: { mime: 'image/webp', extensions: ['webp'] },
  heic: { mime: 'image/heic', extensions: ['heic', 'heif'] },
  tiff: { mime: 'image/tiff', extensions: ['tif', 'tiff'] },
  text: { mime: 'text/plain', extensions: ['txt'] },
  docx: {
    mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    extensions: ['docx'],
  },
  xlsx: { mime: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', extensions: ['xlsx'] },
  pptx: {
    mime: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
    extensions: ['pptx'],
  },
};

/** Every type Sealpost can recognise; an organisation allows these unless its policy says fewer. */
export const KNOWN_UPLOAD_TYPES = Object.keys(UPLOAD_TYPES) as UploadType[];

export type UploadVerdict =
  { ok: true; filename: string; contentType: string } | { ok: false; reason: 'name' | 'type' | 'mismatch' };

export function judgeUpload(name: string, content: Buffer, allowed: readonly UploadType[]): UploadVerdict {
  const filename = normaliseFilename(name);
  if (!filename) return { ok: false, reason: 'name' };
  const type = sniffType(content);
  if (!type || !allowed.includes(type)) return { ok: false, reason: 'type' };
  const extension = /\.([^.]+)$/.exec(filename)?.[1]?.toLowerCase() ?? '';
  if (!UPLOAD_TYPES[type].extensions.includes(extension)) return { ok: false, reason: 'mismatch' };
  return { ok: true, filename, contentType: UPLOAD_TYPES[type].mime };
}

/**
 * Characters no file name may hold: controls, path separators, what Windows reserves (':' opens
 * an alternate data stream), and the direction marks that show `exe.pdf` for `fdp.exe`.
 */
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f/\\:*?"<>|\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
/** Device names Windows opens instead of a file, whatever the extension. */
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)$/i;

/** A name fit to show on a page that refuses it. */
export function printableFilename(name: string): string {
  return name.normalize('NFC').replace(new RegExp(FORBIDDEN, 'g'), '_').slice(0, 100);
}

/**
 * The name as it will be stored (NFC, without the trailing dots and spaces Windows drops, so the
 * extension seen here is the one that counts), or null when no system should be handed it.
 */
export function normaliseFilename(name: string): string | null {
  const normal = name
    .normalize('NFC')
    .trim()
    .replace(/[. ]+$/, '');
  if (!normal || normal.length > 200 || FORBIDDEN.test(normal)) return null;
  const stem = normal.split('.')[0]!.trimEnd();
  if (!stem || RESERVED.test(stem)) return null;
  return normal;
}
