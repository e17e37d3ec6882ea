/**
 * Text normalisation before detection: Unicode dashes and spaces become ASCII, full-width digits
 * become ASCII digits (same length, so offsets hold), and invisible characters (zero-width
 * spaces and joiners, word joiner, BOM, soft hyphen) are removed, with a map back to the
 * original offsets. This defeats the accidental splitting that rich-text editors and HTML
 * entities produce ("123-45-&#8203;6789"), not a determined adversary.
 */

const SAME_LENGTH =
  /[\u00A0\u2000-\u200A\u202F\u205F\u3000\u2010-\u2015\u2212\uFE58\uFE63\uFF0D\uFF10-\uFF19]/g;
const INVISIBLE = /[\u00AD\u200B-\u200D\u2060\uFEFF]/;

function sameLength(ch: string): string {
  const c = ch.charCodeAt(0);
  if (c >= 0xff10 && c <= 0xff19) return String.fromCharCode(c - 0xfee0);
  if (c === 0x00a0 || (c >= 0x2000 && c <= 0x200a) || c === 0x202f || c === 0x205f || c === 0x3000)
    return ' ';
  return '-';
}

export interface Normalized {
  text: string;
  /** Normalised offset to original offset, or null when they are the same. */
  map: Int32Array | null;
}

export function normalizeText(input: string): Normalized {
  const text = input.replace(SAME_LENGTH, sameLength);
  if (!INVISIBLE.test(text)) return { text, map: null };
  const map = new Int32Array(text.length + 1);
  const parts: string[] = [];
  let n = 0;
  let runStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const invisible = c === 0x00ad || (c >= 0x200b && c <= 0x200d) || c === 0x2060 || c === 0xfeff;
    if (invisible) {
      if (i > runStart) parts.push(text.slice(runStart, i));
      runStart = i + 1;
      continue;
    }
    map[n++] = i;
  }
  if (runStart < text.length) parts.push(text.slice(runStart));
  map[n] = text.length;
  return { text: parts.join(''), map: map.subarray(0, n + 1) };
}
