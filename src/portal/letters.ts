import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { formatDate, translator } from '../i18n/index.ts';
import { escapeHtml } from './html.ts';

// The mail the portal sends about a message, never with PHI in it: the notice that a secure
// message waits (no subject unless policy allows one free of PHI), the one-time code, and the
// alert to the sender when a recipient's access is locked.

export interface Brand {
  name: string;
  /** #rrggbb; the button's colour. */
  color: string | null;
  /** An absolute URL of the logo, or null. */
  logoUrl: string | null;
}

export interface Letter {
  subject: string;
  text: string;
  html: string;
}

const DEFAULT_COLOR = '#0b5cad';

function page(brand: Brand, language: string, body: string): string {
  const logo = brand.logoUrl
    ? `<p><img src="${escapeHtml(brand.logoUrl)}" alt="${escapeHtml(brand.name)}" height="40"></p>\n`
    : '';
  return `<!doctype html><html lang="${language}"><body style="font-family:sans-serif;color:#1a1a1a;max-width:600px">
${logo}${body}
</body></html>`;
}

export function noticeLetter(input: {
  brand: Brand;
  sender: string | null;
  link: string;
  expiresAt: Date;
  language: string;
  /** Only when policy allows a subject free of PHI in the notice. */
  subject?: string | null;
}): Letter {
  const t = translator(input.language);
  const org = input.brand.name;
  const until = formatDate(input.expiresAt, input.language);
  const subject = input.subject
    ? t('notice.subject.with', { org, subject: input.subject })
    : t('notice.subject', { org });
  const sender = input.sender ? t('notice.sender', { sender: input.sender }) : '';
  const text = [
    t('notice.lead', { org }),
    ...(sender ? [sender] : []),
    '',
    t('notice.why'),
    input.link,
    '',
    t('notice.expires', { date: until }),
    t('notice.ignore'),
  ].join('\n');
  const color = input.brand.color ?? DEFAULT_COLOR;
  const html = page(
    input.brand,
    input.language,
    `<p><strong>${escapeHtml(t('notice.lead', { org }))}</strong> ${escapeHtml(sender)}</p>
<p>${escapeHtml(t('notice.why'))}</p>
<p><a href="${escapeHtml(input.link)}" style="display:inline-block;padding:10px 16px;background:${color};color:${textOn(color)};text-decoration:none;border-radius:4px">${escapeHtml(t('notice.button'))}</a></p>
<p>${escapeHtml(t('notice.expires', { date: until }))}</p>
<p style="color:#555">${escapeHtml(t('notice.ignore'))}</p>`,
  );
  return { subject, text, html };
}

export function codeLetter(input: { brand: Brand; code: string; minutes: number; language: string }): Letter {
  const t = translator(input.language);
  const subject = t('codemail.subject', { org: input.brand.name });
  const lead = t('codemail.lead', { code: input.code });
  const body = t('codemail.body', { minutes: input.minutes });
  const text = [lead, '', body, '', t('codemail.ignore')].join('\n');
  const html = page(
    input.brand,
    input.language,
    `<p style="font-size:1.2em">${escapeHtml(t('codemail.lead', { code: '' }))}<strong style="font-size:1.4em;letter-spacing:0.15em">${escapeHtml(input.code)}</strong></p>
<p>${escapeHtml(body)}</p>
<p style="color:#555">${escapeHtml(t('codemail.ignore'))}</p>`,
  );
  return { subject, text, html };
}

export function codeText(input: { brand: Brand; code: string; minutes: number; language: string }): string {
  return translator(input.language)('sms.code', {
    code: input.code,
    org: input.brand.name,
    minutes: input.minutes,
  });
}

export function lockedAlertLetter(input: {
  brand: Brand;
  messageId: string;
  recipientId: string;
  failures: number;
}): Letter {
  // To staff: English, ids only (no patient address: the ids find it in the console or API).
  const t = translator('en');
  const vars = { failures: input.failures, message: input.messageId, recipient: input.recipientId };
  const text = [t('alert.body', vars), '', t('alert.action', vars)].join('\n');
  const html = page(
    input.brand,
    'en',
    `<p>${escapeHtml(t('alert.body', vars))}</p>\n<p>${escapeHtml(t('alert.action', vars))}</p>`,
  );
  return { subject: t('alert.subject'), text, html };
}

/** Black or white, whichever reads better on this colour (WCAG relative luminance). */
export function textOn(color: string): '#000000' | '#ffffff' {
  const channel = (i: number) => {
    const c = parseInt(color.slice(1 + 2 * i, 3 + 2 * i), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
  // Contrast with white is 1.05 / (L + 0.05); with black (L + 0.05) / 0.05.
  return 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 ? '#ffffff' : '#000000';
}

/** The letter as an RFC 5322 message, ready to be signed and sent. */
export function composeLetter(input: {
  letter: Letter;
  from: { name: string; address: string };
  to: string;
  messageId: string;
  date: Date;
  headers?: Record<string, string>;
}): Promise<Buffer> {
  return new MailComposer({
    from: input.from,
    to: input.to,
    subject: input.letter.subject,
    text: input.letter.text,
    html: input.letter.html,
    messageId: input.messageId,
    date: input.date,
    headers: { 'Auto-Submitted': 'auto-generated', ...input.headers },
  })
    .compile()
    .build();
}
