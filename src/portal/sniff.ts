import { officeType } from './ooxml.ts';

// What a file is, from its bytes alone, for the types a patient may attach (uploads.ts): each is
// recognised by its own signature and nothing else is recognised at all. Plain text is the one
// type without a signature; it is read whole and must be UTF-8 with nothing in it a browser or a
// mail client could take for markup or script, wherever in the file it stands.

export type SniffedType =
  'pdf' | 'jpeg' | 'png' | 'gif' | 'webp' | 'heic' | 'tiff' | 'text' | 'docx' | 'xlsx' | 'pptx';

/** HEIF brands of still images (ISO/IEC 23008-12): HEVC-coded, or the generic image brands. */
const HEIF_BRANDS = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1']);

export function sniffType(content: Buffer): SniffedType | null {
  const starts = (...bytes: number[]) => bytes.every((b, i) => content[i] === b);
  const ascii = (from: number, to: number) => content.subarray(from, to).toString('latin1');
  if (ascii(0, 5) === '%PDF-') return 'pdf';
  if (starts(0xff, 0xd8, 0xff)) return 'jpeg';
  // The signature, then the header chunk every PNG starts with.
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a) && ascii(12, 16) === 'IHDR') return 'png';
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return 'gif';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (ascii(4, 8) === 'ftyp' && HEIF_BRANDS.has(ascii(8, 12))) return 'heic';
  if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a)) return 'tiff';
  if (starts(0x50, 0x4b, 0x03, 0x04)) return officeType(content);
  return isPlainText(content) ? 'text' : null;
}

/**
 * Anything a browser, a mail client or an old HTML renderer could read as markup or script:
 * tags that load, run or show content, declarations, script URLs, and '<' as UTF-7 writes it.
 */
const MARKUP =
  /<\s*\/?\s*(html|head|body|script|style|iframe|frame|frameset|object|embed|applet|svg|math|meta|link|base|form|img|image|a|input|button|textarea|select|video|audio|source|template|xml|xsl|title|div|span|table|noscript|marquee|isindex)(?=[\s/>])|<[!?%]|\b(javascript|vbscript|livescript)\s*:|data\s*:\s*text\/html|\+adw-/i;

/** Valid UTF-8 text (a BOM allowed), no NUL or other control character but tab, line ends and form feed, no markup. */
function isPlainText(content: Buffer): boolean {
  // UTF-16 and UTF-32, by their byte order marks; without one their NULs give them away below.
  if (content[0] === 0xfe || content[0] === 0xff || content.subarray(0, 2).equals(Buffer.from([0, 0])))
    return false;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(content);
  } catch {
    return false;
  }
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  return !/[\u0000-\u0008\u000b\u000e-\u001f\u007f-\u009f]/.test(text) && !MARKUP.test(text);
}
