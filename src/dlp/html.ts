/**
 * HTML to the text a DLP scan should see: what the reader can see, plus what travels with the
 * message and may hold PHI without being rendered. One pass, linear in the input.
 *
 * - script, style and template contents are dropped; comments are kept as text (Outlook renders
 *   conditional comments, and hidden is not the same as absent);
 * - inline elements join their text ("<b>123</b>-45-6789" reads "123-45-6789"); block elements
 *   and <br> break lines; table cells are separated by tabs and rows by line breaks;
 * - text of alt, title, aria-label, placeholder, value, label and summary attributes is kept,
 *   tel:/sms: links keep their number, and data-* attributes keep "name value" (the name is
 *   context: data-mrn="12345678");
 * - character references are decoded (named ones a mail body uses, all numeric ones);
 * - runs of whitespace in text collapse to one space, as a browser renders them.
 */

const BLOCK = new Set([
  'address',
  'article',
  'aside',
  'blockquote',
  'br',
  'caption',
  'center',
  'dd',
  'div',
  'dl',
  'dt',
  'fieldset',
  'figcaption',
  'figure',
  'footer',
  'form',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'header',
  'hr',
  'li',
  'main',
  'nav',
  'ol',
  'option',
  'p',
  'pre',
  'section',
  'table',
  'tbody',
  'tfoot',
  'thead',
  'title',
  'tr',
  'ul',
]);
const SKIP_CONTENT = new Set(['script', 'style', 'template']);
const TEXT_ATTRIBUTES = new Set(['alt', 'title', 'aria-label', 'placeholder', 'value', 'label', 'summary']);

const NAMED: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  ensp: ' ',
  emsp: ' ',
  thinsp: ' ',
  numsp: ' ',
  tab: '\t',
  newline: '\n',
  ndash: '-',
  mdash: '-',
  hyphen: '-',
  dash: '-',
  minus: '-',
  shy: '',
  zwj: '',
  zwnj: '',
  lpar: '(',
  rpar: ')',
  num: '#',
  colon: ':',
  period: '.',
  comma: ',',
  sol: '/',
  plus: '+',
  equals: '=',
  lowbar: '_',
  commat: '@',
  lsquo: "'",
  rsquo: "'",
  ldquo: '"',
  rdquo: '"',
  hellip: '...',
  bull: '*',
  middot: '*',
  copy: '(c)',
  reg: '(r)',
  trade: '(tm)',
};

const ENTITY = /&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));?/g;

export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(
    ENTITY,
    (whole, dec: string | undefined, hex: string | undefined, name: string | undefined) => {
      if (name !== undefined) return NAMED[name.toLowerCase()] ?? whole;
      const cp = dec !== undefined ? Number(dec) : Number.parseInt(hex!, 16);
      if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return '\uFFFD';
      return String.fromCodePoint(cp);
    },
  );
}

const WS = /[ \t\r\n\f]+/g;

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 12;
}

function isNameChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 95 || c === 58
  );
}

interface Tag {
  name: string;
  closing: boolean;
  /** Offset just after the tag's '>' (or the end of the input). */
  end: number;
  attributeText: string[];
}

/** Parses the tag starting at html[lt] === '<' (followed by a letter or '/'). */
function parseTag(html: string, lt: number): Tag {
  let i = lt + 1;
  const closing = html.charCodeAt(i) === 47; // '/'
  if (closing) i++;
  const nameStart = i;
  while (i < html.length && isNameChar(html.charCodeAt(i))) i++;
  const name = html.slice(nameStart, i).toLowerCase();
  const attributeText: string[] = [];
  const n = html.length;
  while (i < n) {
    const c = html.charCodeAt(i);
    if (c === 62) return { name, closing, end: i + 1, attributeText }; // '>'
    if (isSpace(c) || c === 47) {
      i++;
      continue;
    }
    // attribute name
    const an = i;
    while (i < n) {
      const d = html.charCodeAt(i);
      if (isSpace(d) || d === 61 || d === 62 || d === 47) break;
      i++;
    }
    if (i === an) i++; // a stray character such as a quote: step over it
    const attr = html.slice(an, i).toLowerCase();
    let j = i;
    while (j < n && isSpace(html.charCodeAt(j))) j++;
    if (html.charCodeAt(j) !== 61) continue; // no value
    j++;
    while (j < n && isSpace(html.charCodeAt(j))) j++;
    let value: string;
    const q = html.charCodeAt(j);
    if (q === 34 || q === 39) {
      const close = html.indexOf(q === 34 ? '"' : "'", j + 1);
      const stop = close < 0 ? n : close;
      value = html.slice(j + 1, stop);
      i = close < 0 ? n : close + 1;
    } else {
      let k = j;
      while (k < n && !isSpace(html.charCodeAt(k)) && html.charCodeAt(k) !== 62) k++;
      value = html.slice(j, k);
      i = k;
    }
    if (TEXT_ATTRIBUTES.has(attr)) attributeText.push(decodeEntities(value));
    else if (attr.startsWith('data-')) attributeText.push(`${attr.slice(5)} ${decodeEntities(value)}`);
    else if (attr === 'href') {
      const v = decodeEntities(value).trim();
      if (/^(?:tel|sms|callto):/i.test(v)) attributeText.push(v.slice(v.indexOf(':') + 1));
    }
  }
  return { name, closing, end: n, attributeText };
}

export function htmlToText(html: string): string {
  return convert(html, 0);
}

function convert(html: string, depth: number): string {
  const out: string[] = [];
  let lower: string | null = null;
  const n = html.length;
  let i = 0;
  let cell = 0;
  const text = (s: string) => {
    if (s.length > 0) out.push(decodeEntities(s.replace(WS, ' ')));
  };
  while (i < n) {
    const lt = html.indexOf('<', i);
    if (lt < 0) {
      text(html.slice(i));
      break;
    }
    text(html.slice(i, lt));
    const next = html.charCodeAt(lt + 1);
    if (html.startsWith('<!--', lt)) {
      const close = html.indexOf('-->', lt + 4);
      const stop = close < 0 ? n : close;
      let inner = html.slice(lt + 4, stop);
      inner = inner.replace(/^\[if[^\]]{0,200}\]>/, '').replace(/<!\[endif\]$/, '');
      if (depth < 2) out.push(' ', convert(inner, depth + 1), ' ');
      i = close < 0 ? n : close + 3;
      continue;
    }
    if (next === 33 || next === 63) {
      // <!DOCTYPE>, <![CDATA[ ]]>, <![if !mso]>, <?xml ?>
      if (html.startsWith('<![CDATA[', lt)) {
        const close = html.indexOf(']]>', lt + 9);
        text(html.slice(lt + 9, close < 0 ? n : close));
        i = close < 0 ? n : close + 3;
        continue;
      }
      const close = html.indexOf('>', lt + 2);
      i = close < 0 ? n : close + 1;
      continue;
    }
    const isLetter = (next >= 97 && next <= 122) || (next >= 65 && next <= 90);
    if (!isLetter && next !== 47) {
      out.push('<');
      i = lt + 1;
      continue;
    }
    const tag = parseTag(html, lt);
    i = tag.end;
    if (tag.name === '') continue; // "</ >" and the like
    for (const a of tag.attributeText) out.push(' ', a, ' ');
    if (!tag.closing && SKIP_CONTENT.has(tag.name)) {
      lower ??= html.toLowerCase();
      const close = lower.indexOf(`</${tag.name}`, i);
      if (close < 0) {
        i = n;
      } else {
        const gt = html.indexOf('>', close);
        i = gt < 0 ? n : gt + 1;
      }
      continue;
    }
    if (tag.name === 'td' || tag.name === 'th') {
      if (!tag.closing) {
        if (cell > 0) out.push('\t');
        cell++;
      }
    } else if (tag.name === 'tr') {
      cell = 0;
      if (!tag.closing) out.push('\n');
    } else if (BLOCK.has(tag.name)) {
      out.push('\n');
    }
  }
  return out.join('');
}
