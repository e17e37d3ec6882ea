import type { MessageContent } from '../messages/index.ts';
import { addPixel, rewriteLinks } from './links.ts';
import type { EngagementKeys } from './tokens.ts';

// What one recipient's copy of a message carries beyond the content: links that count clicks,
// a pixel that counts opens (off by default), and for marketing mail a one-click unsubscribe
// (RFC 8058) that mail clients show next to the sender.

export class Personaliser {
  private readonly keys: EngagementKeys;
  private readonly publicUrl: string;

  constructor(keys: EngagementKeys, publicUrl: string) {
    this.keys = keys;
    this.publicUrl = publicUrl;
  }

  async personalise(
    content: MessageContent,
    ctx: { orgId: string; recipientId: string },
  ): Promise<MessageContent> {
    const { tracking, marketing } = content;
    if (!tracking?.clicks && !tracking?.opens && !marketing) return content;
    const claims = { orgId: ctx.orgId, recipientId: ctx.recipientId, position: 0 };
    let html = content.html;
    let text = content.text;
    const headers = { ...content.headers };
    if (html !== undefined && tracking?.clicks) {
      const tokens = new Map<number, string>();
      // Tokens are signed ahead: rewriteLinks is synchronous.
      const count = (html.match(/<a\b/gi) ?? []).length;
      for (let position = 0; position < count; position++)
        tokens.set(position, await this.keys.sign({ ...claims, kind: 'click', position }));
      html = rewriteLinks(html, (position) => `${this.publicUrl}/t/c/${tokens.get(position)}`);
    }
    if (html !== undefined && tracking?.opens)
      html = addPixel(html, `${this.publicUrl}/t/o/${await this.keys.sign({ ...claims, kind: 'open' })}`);
    if (marketing) {
      const url = `${this.publicUrl}/u/${await this.keys.sign({ ...claims, kind: 'unsubscribe' })}`;
      headers['List-Unsubscribe'] = `<${url}>`;
      headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
      if (text !== undefined) text = `${text}\n\n--\nUnsubscribe: ${url}\n`;
      if (html !== undefined) {
        const footer = `<p style="font-size:12px;color:#555"><a href="${url}">Unsubscribe</a></p>`;
        const end = html.search(/<\/body\s*>/i);
        html = end === -1 ? html + footer : html.slice(0, end) + footer + html.slice(end);
      }
    }
    return {
      ...content,
      headers,
      ...(html !== undefined ? { html } : {}),
      ...(text !== undefined ? { text } : {}),
    };
  }
}
