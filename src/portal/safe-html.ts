// A sender's message for the portal page. sanitize-html keeps plain formatting only and rewrites
// links and images on the way; a second pass over the clean tree shows where every link goes and
// defuses parts a browser would close early on its own, so that no end tag of the message can
// ever close an element of our page.
import sanitizeHtml from 'sanitize-html';
import { parseDocument } from 'htmlparser2';
import { Element, Text, isTag, isText, type AnyNode, type ParentNode } from 'domhandler';
import render from 'dom-serializer';

export interface SafeHtmlOptions {
  /** The reader allowed remote images for this message. */
  allowRemoteImages: boolean;
  /** URL of an inline part (cid:<id>) in the portal, or null when the message has no such part. */
  inlineUrl(contentId: string): string | null;
}

export interface SafeHtml {
  html: string;
  blockedRemoteImages: number;
}

const REL = 'noopener noreferrer nofollow';
const LINK_PROTOCOLS = ['http:', 'https:', 'mailto:', 'tel:'];
const DATA_IMAGE = /^data:image\/(?:png|gif|jpeg|webp)[;,]/i;
// Remote content outside <img>: legacy backgrounds and CSS url(), never shown
const REMOTE_ATTRIBUTE = /^(?:background|poster|lowsrc|dynsrc)$/;
const REMOTE_URL = /^\s*(?:https?:)?\/\//i;
const REMOTE_CSS = /url\s*\(\s*['"]?\s*(?:https?:)?\/\//i;

const TAGS = [
  ...'p br div span h1 h2 h3 h4 h5 h6 blockquote pre code hr ul ol li dl dt dd'.split(' '),
  ...'table thead tbody tfoot tr td th a img b i u strong em small sub sup'.split(' '),
  // These carry meaning: "take <s>2</s> 1 tablet" must not read "take 21 tablet"
  ...['s', 'del', 'ins'],
];

// Active, or never meant to be read: dropped with everything inside
const DROPPED = [
  ...'script style iframe frame frameset object embed applet form input button textarea'.split(' '),
  ...'select option optgroup datalist meta link base svg math template noscript noembed'.split(' '),
  ...['noframes', 'xmp', 'title'],
];

// Block containers we keep as div, otherwise their text would run into the next block
const BLOCKS = 'address article aside center figure figcaption footer header main nav section'.split(' ');

// A browser closes these early when they stand anywhere else, and a later end tag of the message
// could then close an element of our page
const PARENTS: Record<string, string[]> = {
  li: ['ul', 'ol'],
  dt: ['dl'],
  dd: ['dl'],
  thead: ['table'],
  tbody: ['table'],
  tfoot: ['table'],
  tr: ['table', 'thead', 'tbody', 'tfoot'],
  td: ['table', 'thead', 'tbody', 'tfoot', 'tr'],
  th: ['table', 'thead', 'tbody', 'tfoot', 'tr'],
};
// And a browser moves anything but these out in front of the table ("foster parenting")
const TABLE_PARTS: Record<string, string[]> = {
  table: ['thead', 'tbody', 'tfoot', 'tr', 'td', 'th'],
  thead: ['tr', 'td', 'th'],
  tbody: ['tr', 'td', 'th'],
  tfoot: ['tr', 'td', 'th'],
  tr: ['td', 'th'],
};
const HEADINGS = new Set(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
// A browser ends a paragraph where one of these starts, however deep inside it
const CLOSES_P = new Set([...HEADINGS, ...'p div blockquote pre hr ul ol li dl dt dd table'.split(' ')]);

// Right-to-left and left-to-right overrides can show a URL backwards, so that the text right
// before a link makes "moc.knab//:sptth" read as https://bank.com
const OVERRIDES = /[\u202d\u202e]/g;

// Not an allowed tag: sanitize-html drops the element and keeps its content
const UNWRAP = 'sp-unwrap';

export function safeHtml(input: string, options: SafeHtmlOptions): SafeHtml {
  let blockedRemoteImages = 0;

  const image = (attribs: sanitizeHtml.Attributes): sanitizeHtml.Tag => {
    const src = attribs.src?.trim() ?? '';
    const remote = URL.parse(src.startsWith('//') ? `https:${src}` : src);
    let url: string | null = null;
    if (/^cid:/i.test(src)) {
      url = options.inlineUrl(contentId(src));
    } else if (DATA_IMAGE.test(src)) {
      url = src;
    } else if (remote?.protocol === 'http:' || remote?.protocol === 'https:') {
      if (!options.allowRemoteImages) {
        blockedRemoteImages++;
        const alt = attribs.alt?.trim();
        return {
          tagName: 'span',
          attribs: { class: 'sp-blocked-image' },
          text: alt ? `[image: ${alt}]` : '[image]',
        };
      }
      url = remote.href;
    }
    // Anything else (relative, javascript:, a part we don't have) would only show a broken image.
    // Other attributes go through the allowlist like any tag's.
    return url ? { tagName: 'img', attribs: { ...attribs, src: url } } : { tagName: UNWRAP, attribs: {} };
  };

  // Counted from the raw tags: sanitize-html drops these attributes before any transform sees
  // them. Nothing inside a dropped element counts, it would never have been shown.
  let insideDropped = 0;
  const countRemote = (tagName: string, attribs: sanitizeHtml.Attributes) => {
    if (insideDropped || DROPPED.includes(tagName)) insideDropped++;
    else if (!options.allowRemoteImages && holdsRemote(attribs)) blockedRemoteImages++;
  };

  const clean = sanitizeHtml(input, {
    allowedTags: TAGS,
    allowedAttributes: {
      a: ['href', 'rel', 'target'],
      img: ['src', 'alt', 'width', 'height', 'title'],
      ol: ['start'],
      td: ['colspan', 'rowspan'],
      th: ['colspan', 'rowspan'],
    },
    allowedClasses: { span: ['sp-blocked-image'] },
    // Checked again by sanitize-html after our own rewriting, as a second line
    allowedSchemes: ['http', 'https', 'mailto', 'tel'],
    allowedSchemesByTag: { img: ['http', 'https', 'data'] },
    allowProtocolRelative: false,
    nonTextTags: DROPPED,
    // Deeper markup is unwrapped, so a hostile message can't exhaust the stack below
    nestingLimit: 200,
    onOpenTag: countRemote,
    onCloseTag: () => {
      if (insideDropped) insideDropped--;
    },
    // Per tag: sanitize-html ignores the text of a '*' transform, and the blocked image needs it
    transformTags: {
      ...Object.fromEntries(BLOCKS.map((tag) => [tag, 'div'])),
      strike: 's',
      a: (tagName, attribs): sanitizeHtml.Tag => {
        const href = linkUrl(attribs.href);
        return href
          ? { tagName, attribs: { href, rel: REL, target: '_blank' } }
          : { tagName: UNWRAP, attribs: {} };
      },
      img: (_, attribs) => image(attribs),
      // Class names on our page are ours alone
      span: (tagName) => ({ tagName, attribs: {} }),
    },
  });

  const doc = parseDocument(clean);
  tidy(doc, false, false);
  return { html: render(doc, { encodeEntities: 'utf8', emptyAttrs: true }), blockedRemoteImages };
}

/** Plain text for the page: escaped, line breaks kept (the page shows it with white-space: pre-wrap), http(s) URLs turned into links shown with their destination. */
export function safeText(input: string): string {
  const text = input.replace(/\r\n?/g, '\n').replace(OVERRIDES, '');
  let html = '';
  let last = 0;
  for (const match of text.matchAll(/\bhttps?:\/\/[^\s<>"']+/gi)) {
    const shown = trimUrl(match[0]);
    const href = linkUrl(shown);
    if (!href) continue;
    html += escape(text.slice(last, match.index)) + `<a href="${escape(href)}" rel="${REL}" target="_blank">`;
    html += escape(shown) + '</a>';
    if (!sameDestination(shown, href)) html += ` <span class="sp-destination">(${escape(href)})</span>`;
    last = match.index + shown.length;
  }
  return html + escape(text.slice(last));
}

// Walks the clean tree: shows link destinations, and keeps every part where a browser would keep
// it too. A nested link or heading and a list or table part out of place become a span, which keeps
// the text where it is and means nothing to a parser; what stands loose in a table gets a cell.
function tidy(parent: ParentNode, inLink: boolean, inHeading: boolean): void {
  const { children } = parent;
  const tableParts = isTag(parent) ? TABLE_PARTS[parent.name] : undefined;
  for (let i = 0; i < children.length; i++) {
    let node = children[i]!;
    if (isText(node)) node.data = node.data.replace(OVERRIDES, '');
    if (tableParts && !(isTag(node) ? tableParts.includes(node.name) : /^[ \t\n\f\r]*$/.test(textOf(node)))) {
      const cell = new Element('td', {}, [node]);
      cell.parent = parent;
      node.parent = cell;
      node = children[i] = cell;
    }
    if (!isTag(node)) continue;
    const parents = PARENTS[node.name];
    if (
      (node.name === 'a' && (inLink || !node.attribs.href)) ||
      (HEADINGS.has(node.name) && inHeading) ||
      (parents && !parents.includes(isTag(parent) ? parent.name : ''))
    ) {
      node.name = 'span';
      node.attribs = {};
    } else if (node.name === 'p' && node.children.some(holdsBlock)) {
      node.name = 'div';
    }
    const href = node.name === 'a' ? node.attribs.href : undefined;
    tidy(node, inLink || !!href, inHeading || HEADINGS.has(node.name));
    if (href && !sameDestination(textOf(node), href)) {
      // prev and next go stale here, which is fine: render() only follows children
      const added = [
        new Text(' '),
        new Element('span', { class: 'sp-destination' }, [new Text(`(${href})`)]),
      ];
      for (const child of added) child.parent = parent;
      children.splice(i + 1, 0, ...added);
      i += added.length;
    }
  }
}

// Only absolute links of our schemes, without user:password@ that can pose as the host
function linkUrl(href: string | undefined): string | null {
  const url = href ? URL.parse(href) : null;
  if (!url || !LINK_PROTOCOLS.includes(url.protocol)) return null;
  url.username = '';
  url.password = '';
  return url.href;
}

// The reader already sees the destination when the text is it, give or take a trailing slash,
// or the address alone for mailto: and tel:; anything else, a look-alike host included, is shown
function sameDestination(text: string, href: string): boolean {
  const shown = text.replace(/\s+/g, ' ').trim().replace(/\/$/, '');
  const real = href.replace(/\/$/, '');
  return shown === real || (/^(?:mailto|tel):/.test(real) && shown === real.slice(real.indexOf(':') + 1));
}

function holdsRemote(attribs: sanitizeHtml.Attributes): boolean {
  return Object.entries(attribs).some(([name, value]) =>
    name === 'style' ? REMOTE_CSS.test(value) : REMOTE_ATTRIBUTE.test(name) && REMOTE_URL.test(value),
  );
}

// cid:part@host is the Content-ID <part@host>, percent-encoded (RFC 2392)
function contentId(src: string): string {
  const id = src.trim().slice(4);
  try {
    return decodeURIComponent(id).replace(/^<(.*)>$/, '$1');
  } catch {
    return id;
  }
}

// Sentence punctuation and an unmatched closing parenthesis end the URL, not belong to it
function trimUrl(url: string): string {
  for (;;) {
    const trimmed = url.replace(/[.,;:!?]+$/, '');
    const open = trimmed.split('(').length;
    const close = trimmed.split(')').length;
    url = trimmed.endsWith(')') && close > open ? trimmed.slice(0, -1) : trimmed;
    if (url === trimmed) return url;
  }
}

function holdsBlock(node: AnyNode): boolean {
  return isTag(node) && (CLOSES_P.has(node.name) || node.children.some(holdsBlock));
}

function textOf(node: AnyNode): string {
  if (isText(node)) return node.data;
  return isTag(node) ? node.children.map(textOf).join('') : '';
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}
