import { decodeHTMLAttribute, escapeAttribute } from 'entities';

// Finding and rewriting the links of a message's HTML. Positions count the http(s) links of
// <a href> in document order; the click handler finds a link's destination by the same count,
// so nothing but the position travels in the tracking link.

const ANCHOR_HREF = /(<a\b[^>]*?\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/gi;
const MAX_LINKS = 0xfffe;

const trackable = (href: string) => /^https?:\/\//i.test(href.trim());

/** The message's trackable destinations, in order. */
export function trackedLinks(html: string): string[] {
  const links: string[] = [];
  for (const match of html.matchAll(ANCHOR_HREF)) {
    const href = decodeHTMLAttribute(match[2] ?? match[3] ?? match[4] ?? '').trim();
    if (trackable(href) && links.length < MAX_LINKS) links.push(href);
  }
  return links;
}

/** The HTML with each trackable link pointing at `urlFor(position)`. */
export function rewriteLinks(html: string, urlFor: (position: number) => string): string {
  let position = 0;
  return html.replace(ANCHOR_HREF, (whole, prefix: string, dq?: string, sq?: string, bare?: string) => {
    const href = decodeHTMLAttribute(dq ?? sq ?? bare ?? '').trim();
    if (!trackable(href) || position >= MAX_LINKS) return whole;
    return `${prefix}"${escapeAttribute(urlFor(position++))}"`;
  });
}

/** A 1×1 image at the end of the body: the open, when the reader's client loads images. */
export function addPixel(html: string, url: string): string {
  const pixel = `<img src="${escapeAttribute(url)}" width="1" height="1" alt="" style="display:block;border:0">`;
  const end = html.search(/<\/body\s*>/i);
  return end === -1 ? html + pixel : html.slice(0, end) + pixel + html.slice(end);
}
