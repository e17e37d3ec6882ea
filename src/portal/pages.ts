import { formatDate, formatSize, LANGUAGES, type Translate, translator } from '../i18n/index.ts';
import { type Html, html } from './html.ts';
import { UPLOAD_TYPES, type UploadType } from './uploads.ts';

// The portal's pages: server-rendered, working with JavaScript off (the passkey buttons of
// account-pages.ts are the only script, an enhancement), one stylesheet, labels on every field,
// and nothing that identifies the patient in a title or URL.

export interface PageContext {
  language: string;
  t: Translate;
  org: string;
  /** The delivery's base path (/secure/<token>), for its brand and its forms; null on a bad link. */
  base: string | null;
  hasLogo: boolean;
  /** The CSRF token the page's forms carry. */
  csrf: string;
}

export const pageContext = (input: Omit<PageContext, 't'>): PageContext => ({
  ...input,
  t: translator(input.language),
});

export function layout(c: PageContext, heading: string, content: Html): Html {
  const { t } = c;
  const languages = LANGUAGES.filter((l) => l !== c.language).map(
    (l) => html`<a href="?lang=${l}" hreflang="${l}" lang="${l}">${translator(l)('lang.name')}</a>`,
  );
  return html`<!doctype html>
    <html lang="${c.language}">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex, nofollow" />
        <title>${heading} · ${c.org}</title>
        <link rel="stylesheet" href="/portal/assets/portal.css" />
        ${c.base ? html`<link rel="stylesheet" href="${c.base}/brand.css" />` : ''}
      </head>
      <body>
        <a class="skip" href="#content">${t('skip')}</a>
        <header class="brand">
          ${c.base && c.hasLogo ? html`<img src="${c.base}/logo" alt="${t('brand.alt', { org: c.org })}" />` : ''}
          <span class="org">${c.org}</span>
        </header>
        <main id="content">
          <nav class="lang" aria-label="${t('language')}">${languages}</nav>
          ${content}
        </main>
        <footer><p>${t('footer', { org: c.org })}</p></footer>
      </body>
    </html>`;
}

const csrfField = (c: PageContext) => html`<input type="hidden" name="csrf" value="${c.csrf}" />`;

/** A page that explains a dead end: bad link, expired, revoked, locked, and the like. */
export function problemPage(
  c: PageContext,
  kind: string,
  vars: Record<string, string> = {},
  link?: string,
): Html {
  const heading = c.t(`error.${kind}.heading`);
  return layout(
    c,
    heading,
    html`<div class="card">
      <h1>${heading}</h1>
      <p>${c.t(`error.${kind}.body`, { org: c.org, ...vars })}</p>
      ${link ? html`<p><a href="${link}">${c.t(`error.${kind}.link`)}</a></p>` : ''}
    </div>`,
  );
}

/** Before the first view: ask for a code by email or SMS. */
export function startPage(
  c: PageContext,
  input: {
    channel: 'email' | 'sms';
    destination: string;
    expiresAt: Date;
    flash?: string;
    account?: boolean;
  },
): Html {
  const { t } = c;
  return layout(
    c,
    t('start.heading'),
    html`<div class="card">
      <h1>${t('start.heading')}</h1>
      <p>${t('start.lead', { org: c.org })}</p>
      ${input.flash ? html`<p class="error" role="alert">${input.flash}</p>` : ''}
      <p>${t(`start.${input.channel}`, { destination: input.destination })}</p>
      <form method="post" action="${c.base}/code">
        ${csrfField(c)}
        <button type="submit">${t(`start.send.${input.channel}`)}</button>
      </form>
      ${signInOffer(c, input.account)}
      <p class="hint">${t('start.expires', { date: formatDate(input.expiresAt, c.language) })}</p>
    </div>`,
  );
}

/** With a portal account for this organisation and address: signing in instead. */
const signInOffer = (c: PageContext, account?: boolean) =>
  account ? html`<p><a href="${c.base}/sign-in">${c.t('signin.link')}</a></p>` : '';

export function codePage(
  c: PageContext,
  input: { channel: 'email' | 'sms'; destination: string; minutes: number; error?: string; info?: string },
): Html {
  const { t } = c;
  const describedBy = ['code-hint', input.error ? 'code-error' : ''].filter(Boolean).join(' ');
  return layout(
    c,
    t('code.heading'),
    html`<div class="card">
      <h1>${t('code.heading')}</h1>
      <p>${t(`code.lead.${input.channel}`, { destination: input.destination, minutes: input.minutes })}</p>
      ${input.info ? html`<p class="ok" role="status">${input.info}</p>` : ''}
      <form method="post" action="${c.base}/verify">
        ${csrfField(c)}
        <label for="code">${t('code.label')}</label>
        <p class="hint" id="code-hint">${t('code.hint')}</p>
        ${input.error ? html`<p class="error" id="code-error" role="alert">${input.error}</p>` : ''}
        <input
          class="code"
          type="text"
          id="code"
          name="code"
          inputmode="numeric"
          autocomplete="one-time-code"
          pattern="[0-9 ]*"
          maxlength="9"
          required
          aria-describedby="${describedBy}"
          ${input.error ? html` aria-invalid="true"` : ''}
        />
        <div><button type="submit">${t('code.submit')}</button></div>
      </form>
      <form method="post" action="${c.base}/code">
        ${csrfField(c)}
        <button type="submit" class="secondary">${t('code.resend')}</button>
      </form>
    </div>`,
  );
}

export function passphrasePage(c: PageContext, input: { error?: string; account?: boolean }): Html {
  const { t } = c;
  return layout(
    c,
    t('passphrase.heading'),
    html`<div class="card">
      <h1>${t('passphrase.heading')}</h1>
      <p>${t('passphrase.lead', { org: c.org })}</p>
      <form method="post" action="${c.base}/passphrase">
        ${csrfField(c)}
        <label for="passphrase">${t('passphrase.label')}</label>
        ${input.error ? html`<p class="error" id="passphrase-error" role="alert">${input.error}</p>` : ''}
        <input
          type="password"
          id="passphrase"
          name="passphrase"
          autocomplete="off"
          required
          ${input.error ? html`aria-invalid="true" aria-describedby="passphrase-error"` : ''}
        />
        <div><button type="submit">${t('passphrase.submit')}</button></div>
      </form>
      ${signInOffer(c, input.account)}
    </div>`,
  );
}

export interface MessageView {
  from: string;
  sentAt: Date;
  subject: string;
  expiresAt: Date;
  body: { kind: 'html' | 'text' | 'empty'; markup: Html };
  blockedImages: number;
  attachments: { index: number; filename: string; contentType: string; size: number }[];
  replies: { allowed: boolean; to: string } & UploadLimits;
  /** The organisation takes new messages from the portal. */
  newMessages: boolean;
  /** The portal account card (account-pages.ts): an offer, or passkeys. */
  account?: Html;
  flash?: { kind: 'ok' | 'error'; text: string };
}

export function messagePage(c: PageContext, m: MessageView): Html {
  const { t } = c;
  const lang = c.language;
  return layout(
    c,
    t('message.heading'),
    html`${m.flash ? html`<p class="${m.flash.kind}" role="${m.flash.kind === 'ok' ? 'status' : 'alert'}">${m.flash.text}</p>` : ''}
      <article class="card" aria-labelledby="subject">
        <h1 id="subject">${m.subject}</h1>
        <dl class="meta">
          <dt>${t('message.from')}</dt>
          <dd>${m.from}</dd>
          <dt>${t('message.sent')}</dt>
          <dd>${formatDate(m.sentAt, lang, true)}</dd>
        </dl>
        ${
          m.blockedImages > 0
            ? html`<p class="notice">
                ${t('message.images.blocked', { count: m.blockedImages })}
                <a href="${c.base}?images=show">${t('message.images.show')}</a>
              </p>`
            : ''
        }
        <div class="body ${m.body.kind}">${m.body.kind === 'empty' ? t('message.empty') : m.body.markup}</div>
      </article>
      ${
        m.attachments.length > 0
          ? html`<section class="card" aria-labelledby="attachments">
              <h2 id="attachments">${t('message.attachments')}</h2>
              <ul class="files">
                ${m.attachments.map(
                  (a) =>
                    html`<li>
                      <a href="${c.base}/attachments/${a.index}" download
                        >${t('message.download', { name: a.filename })}</a
                      >
                      <span class="size">${a.contentType}, ${formatSize(a.size, lang)}</span>
                    </li>`,
                )}
              </ul>
            </section>`
          : ''
      }
      ${replySection(c, m)}
      ${m.newMessages ? html`<p class="card"><a href="${c.base}/new">${t('new.link', { org: c.org })}</a></p>` : ''}
      ${m.account ?? ''}
      <div class="card">
        <p>${t('message.expires', { date: formatDate(m.expiresAt, lang) })}</p>
        <form method="post" action="${c.base}/sign-out">
          ${csrfField(c)}
          <button type="submit" class="secondary">${t('message.sign_out')}</button>
        </form>
      </div>`,
  );
}

function replySection(c: PageContext, m: MessageView): Html {
  const { t } = c;
  if (!m.replies.allowed) return html`<p class="card">${t('reply.closed')}</p>`;
  return html`<section class="card" aria-labelledby="reply">
    <h2 id="reply">${t('reply.heading')}</h2>
    <p>${t('reply.to', { recipients: m.replies.to })}</p>
    <form method="post" action="${c.base}/reply" enctype="multipart/form-data">
      ${csrfField(c)}
      <label for="reply-text">${t('reply.text')}</label>
      <textarea id="reply-text" name="text"></textarea>
      ${fileField(c, m.replies)}
      <div><button type="submit">${t('reply.submit')}</button></div>
    </form>
  </section>`;
}

/** A new secure message to the organisation, for recipients who have more to say than a reply. */
export function newMessagePage(c: PageContext, input: UploadLimits & { error?: string }): Html {
  const { t } = c;
  return layout(
    c,
    t('new.heading'),
    html`<section class="card" aria-labelledby="new">
      <h1 id="new">${t('new.heading')}</h1>
      <p>${t('new.lead', { org: c.org })}</p>
      ${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
      <form method="post" action="${c.base}/new" enctype="multipart/form-data">
        ${csrfField(c)}
        <label for="new-subject">${t('new.subject')}</label>
        <input type="text" id="new-subject" name="subject" maxlength="200" required />
        <label for="new-text">${t('new.text')}</label>
        <textarea id="new-text" name="text" required></textarea>
        ${fileField(c, input)}
        <div><button type="submit">${t('new.submit')}</button></div>
      </form>
    </section>`,
  );
}

/** What a recipient may attach: how many files, how large in all, of which types. */
export interface UploadLimits {
  maxFiles: number;
  maxBytes: number;
  types: readonly UploadType[];
}

function fileField(c: PageContext, limits: UploadLimits): Html {
  const { t } = c;
  if (limits.maxBytes === 0 || limits.types.length === 0) return html``;
  return html`<label for="files">${t('reply.files')}</label>
    <p class="hint" id="files-hint">
      ${t('reply.files.hint', {
        count: limits.maxFiles,
        size: formatSize(limits.maxBytes, c.language),
        types: acceptedExtensions(limits.types),
      })}
    </p>
    <input
      type="file"
      id="files"
      name="files"
      multiple
      accept="${extensionsOf(limits.types).join(',')}"
      aria-describedby="files-hint"
    />`;
}

const extensionsOf = (types: readonly UploadType[]) =>
  types.flatMap((type) => UPLOAD_TYPES[type].extensions.map((e) => `.${e}`));

/** The extensions of the accepted types, for people to read. */
export function acceptedExtensions(types: readonly UploadType[]): string {
  return extensionsOf(types).join(', ') || '—';
}

/** The brand's colours as a stylesheet (inline style is refused by the CSP). */
export function brandStylesheet(color: string | null, textOn: (color: string) => string): string {
  if (!color) return '';
  return `:root { --brand: ${color}; --brand-text: ${textOn(color)}; }\n`;
}
