import { formatDate, LANGUAGES, type Translate, translator } from '../i18n/index.ts';
import { type Html, html } from '../portal/index.ts';
import type { Factors } from './staff-auth.ts';

// The staff sign-in pages: server-rendered with the escaping template, no inline script or style
// (the strict CSP holds), the portal's stylesheet, a label on every field, errors tied to their
// field and announced. They work without JavaScript; the passkey parts are shown by the portal's
// small passkey script where the browser can do WebAuthn.

export interface ConsoleContext {
  language: string;
  t: Translate;
  /** The CSRF token the page's forms carry. */
  csrf: string;
}

export const consoleContext = (language: string, csrf: string): ConsoleContext => ({
  language,
  t: translator(language),
  csrf,
});

const SCRIPTS = html`<script src="/portal/assets/simplewebauthn.js" defer></script>
  <script src="/portal/assets/passkey.js" defer></script>`;

const csrfField = (c: ConsoleContext) => html`<input type="hidden" name="csrf" value="${c.csrf}" />`;

export function layout(c: ConsoleContext, heading: string, content: Html): Html {
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
        <title>${heading} · Sealpost</title>
        <link rel="stylesheet" href="/portal/assets/portal.css" />
      </head>
      <body>
        <a class="skip" href="#content">${t('skip')}</a>
        <header class="brand"><span class="org">Sealpost</span></header>
        <main id="content">
          <nav class="lang" aria-label="${t('language')}">${languages}</nav>
          ${content}
        </main>
        <footer><p>${t('console.footer')}</p></footer>
      </body>
    </html>`;
}

const alert = (id: string, text: string | undefined) =>
  text ? html`<p class="error" id="${id}" role="alert">${text}</p>` : '';

/** A passkey ceremony (the portal's script): options by POST, then the credential in a form. */
function passkeyBox(
  c: ConsoleContext,
  input: { kind: 'register' | 'sign-in'; options: string; action: string; lead: string; button: string },
): Html {
  return html`<div
    data-passkey="${input.kind}"
    data-options="${input.options}"
    data-failed="${c.t(`console.passkey.failed.${input.kind}`)}"
    hidden
  >
    <p>${input.lead}</p>
    <button type="button" class="secondary" data-passkey-start>${input.button}</button>
    <p class="error" role="alert" data-passkey-error hidden></p>
    <form method="post" action="${input.action}" data-passkey-form>
      ${csrfField(c)}
      <input type="hidden" name="credential" value="" />
    </form>
  </div>`;
}

export function signInPage(
  c: ConsoleContext,
  input: { error?: string; email?: string; organization?: string | undefined },
): Html {
  const { t } = c;
  const invalid = input.error ? html`aria-invalid="true" aria-describedby="sign-in-error"` : '';
  return layout(
    c,
    t('console.signin.heading'),
    html`<div class="card">
      <h1>${t('console.signin.heading')}</h1>
      <p>${t('console.signin.lead')}</p>
      ${alert('sign-in-error', input.error)}
      <form method="post" action="/console/sign-in">
        ${csrfField(c)}
        ${input.organization ? html`<input type="hidden" name="organization" value="${input.organization}" />` : ''}
        <label for="email">${t('console.signin.email')}</label>
        <input
          type="email"
          id="email"
          name="email"
          autocomplete="username"
          required
          value="${input.email ?? ''}"
          ${invalid}
        />
        <label for="password">${t('console.signin.password')}</label>
        <input
          type="password"
          id="password"
          name="password"
          autocomplete="current-password"
          required
          ${invalid}
        />
        <div><button type="submit">${t('console.signin.submit')}</button></div>
      </form>
      ${ssoForm(c, input.organization)}
    </div>`,
  );
}

/** Single sign-on (src/identity/oidc-routes.ts): found by the organisation or the address's domain. */
function ssoForm(c: ConsoleContext, organization: string | undefined): Html {
  const { t } = c;
  return html`<form method="get" action="/console/sso" class="sso">
    <p>${t('console.sso.or')}</p>
    ${organization ? html`<input type="hidden" name="org" value="${organization}" />` : ''}
    <label for="sso-email">${t('console.sso.email')}</label>
    <input type="email" id="sso-email" name="email" autocomplete="username" required />
    <div><button type="submit" class="secondary">${t('console.sso.submit')}</button></div>
  </form>`;
}

export function verifyPage(c: ConsoleContext, input: { methods: string[]; error?: string }): Html {
  const { t } = c;
  const invalid = input.error ? html`aria-invalid="true" aria-describedby="verify-error"` : '';
  const passkey = input.methods.includes('passkey');
  return layout(
    c,
    t('console.verify.heading'),
    html`<div class="card">
      <h1>${t('console.verify.heading')}</h1>
      <p>${t('console.verify.lead')}</p>
      ${alert('verify-error', input.error)}
      ${
        passkey
          ? passkeyBox(c, {
              kind: 'sign-in',
              options: '/console/verify/passkey/options',
              action: '/console/verify/passkey',
              lead: t('console.verify.passkey.lead'),
              button: t('console.verify.passkey'),
            })
          : ''
      }
      ${
        input.methods.includes('totp')
          ? html`<form method="post" action="/console/verify">
              ${csrfField(c)}
              <input type="hidden" name="method" value="totp" />
              <label for="code">${t('console.verify.code')}</label>
              <p class="hint" id="code-hint">${t('console.verify.code.hint')}</p>
              <input
                class="code"
                type="text"
                id="code"
                name="code"
                inputmode="numeric"
                autocomplete="one-time-code"
                pattern="[0-9 ]{6,7}"
                required
                aria-describedby="code-hint${input.error ? ' verify-error' : ''}"
                ${input.error ? html`aria-invalid="true"` : ''}
              />
              <div><button type="submit">${t('console.verify.submit')}</button></div>
            </form>`
          : ''
      }
      ${
        input.methods.includes('recovery_code')
          ? html`<details>
              <summary>${t('console.verify.recovery')}</summary>
              <form method="post" action="/console/verify">
                ${csrfField(c)}
                <input type="hidden" name="method" value="recovery_code" />
                <label for="recovery">${t('console.verify.recovery.label')}</label>
                <input type="text" id="recovery" name="code" autocomplete="off" required ${invalid} />
                <div><button type="submit" class="secondary">${t('console.verify.submit')}</button></div>
              </form>
            </details>`
          : ''
      }
      ${passkey ? SCRIPTS : ''}
    </div>`,
  );
}

export function enrolPage(
  c: ConsoleContext,
  input: {
    required: 'none' | 'any' | 'passkey';
    factors: Factors;
    totp?: { secret: string; uri: string };
    error?: string;
  },
): Html {
  const { t } = c;
  const grouped = input.totp?.secret.replace(/(.{4})/g, '$1 ').trim();
  return layout(
    c,
    t('console.enrol.heading'),
    html`<div class="card">
        <h1>${t('console.enrol.heading')}</h1>
        <p>
          ${
            input.required === 'passkey'
              ? t('console.enrol.required.passkey')
              : input.required === 'any'
                ? t('console.enrol.required.any')
                : t('console.enrol.lead')
          }
        </p>
        ${alert('enrol-error', input.error)}
      </div>
      <section class="card" aria-labelledby="passkey-heading">
        <h2 id="passkey-heading">${t('console.enrol.passkey.heading')}</h2>
        <p>${t('console.enrol.passkey.lead', { count: input.factors.passkeys.length })}</p>
        ${passkeyBox(c, {
          kind: 'register',
          options: '/console/enrol/passkey/options',
          action: '/console/enrol/passkey',
          lead: t('console.enrol.passkey.how'),
          button: t('console.enrol.passkey.add'),
        })}
        ${SCRIPTS}
      </section>
      ${
        input.required === 'passkey'
          ? ''
          : html`<section class="card" aria-labelledby="totp-heading">
              <h2 id="totp-heading">${t('console.enrol.totp.heading')}</h2>
              ${
                input.factors.totp
                  ? html`<p>${t('console.enrol.totp.done')}</p>`
                  : input.totp
                    ? html`<p>${t('console.enrol.totp.key')}</p>
                        <p><code id="totp-secret" data-secret="${input.totp.secret}">${grouped}</code></p>
                        <p><a href="${input.totp.uri}">${t('console.enrol.totp.open')}</a></p>
                        <form method="post" action="/console/enrol/totp/confirm">
                          ${csrfField(c)}
                          <label for="code">${t('console.enrol.totp.code')}</label>
                          <input
                            class="code"
                            type="text"
                            id="code"
                            name="code"
                            inputmode="numeric"
                            autocomplete="one-time-code"
                            required
                            ${input.error ? html`aria-invalid="true" aria-describedby="enrol-error"` : ''}
                          />
                          <div><button type="submit">${t('console.enrol.totp.confirm')}</button></div>
                        </form>`
                    : html`<p>${t('console.enrol.totp.lead')}</p>
                        <form method="post" action="/console/enrol/totp">
                          ${csrfField(c)}
                          <button type="submit" class="secondary">${t('console.enrol.totp.start')}</button>
                        </form>`
              }
            </section>`
      }`,
  );
}

export function recoveryCodesPage(c: ConsoleContext, codes: string[]): Html {
  const { t } = c;
  return layout(
    c,
    t('console.recovery.heading'),
    html`<div class="card">
      <h1>${t('console.recovery.heading')}</h1>
      <p>${t('console.recovery.lead')}</p>
      <ul class="codes">
        ${codes.map((code) => html`<li><code>${code}</code></li>`)}
      </ul>
      <p><a href="/console/account">${t('console.recovery.continue')}</a></p>
    </div>`,
  );
}

export function accountPage(
  c: ConsoleContext,
  input: {
    email: string;
    role: string;
    factors: Factors;
    sessions: {
      id: string;
      current: boolean;
      created_at: Date;
      last_seen_at: Date;
      user_agent: string | null;
    }[];
    flash?: string | undefined;
    error?: string | undefined;
  },
): Html {
  const { t } = c;
  return layout(
    c,
    t('console.account.heading'),
    html`<div class="card">
        <h1>${t('console.account.heading')}</h1>
        <p>${t('console.account.lead', { email: input.email, role: input.role })}</p>
        ${input.flash ? html`<p class="ok" role="status">${input.flash}</p>` : ''}
        ${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
        <form method="post" action="/console/sign-out" class="inline">
          ${csrfField(c)}
          <button type="submit" class="secondary">${t('console.account.sign_out')}</button>
        </form>
      </div>
      <section class="card" aria-labelledby="factors-heading">
        <h2 id="factors-heading">${t('console.account.factors')}</h2>
        <ul>
          <li>
            ${input.factors.totp ? t('console.account.totp.on') : t('console.account.totp.off')}
            ${
              input.factors.totp
                ? html`<form method="post" action="/console/factors/totp/remove" class="inline">
                    ${csrfField(c)}
                    <button type="submit" class="secondary">${t('console.account.remove_totp')}</button>
                  </form>`
                : ''
            }
          </li>
          ${input.factors.passkeys.map(
            (p, i) =>
              html`<li>
                ${t('console.account.passkey', { name: p.name, date: formatDate(p.created_at, c.language) })}
                <form method="post" action="/console/factors/passkeys/${p.id}/remove" class="inline">
                  ${csrfField(c)}
                  <button type="submit" class="secondary">
                    ${t('console.account.remove_passkey', { number: i + 1 })}
                  </button>
                </form>
              </li>`,
          )}
          <li>${t('console.account.recovery', { count: input.factors.recovery_codes_left })}</li>
        </ul>
        <p><a href="/console/enrol">${t('console.account.add_factor')}</a></p>
      </section>
      <section class="card" aria-labelledby="sessions-heading">
        <h2 id="sessions-heading">${t('console.account.sessions')}</h2>
        <ul>
          ${input.sessions.map(
            (s) =>
              html`<li>
                ${t('console.account.session', {
                  started: formatDate(s.created_at, c.language, true),
                  seen: formatDate(s.last_seen_at, c.language, true),
                })}
                ${s.user_agent ? html`<br /><small>${s.user_agent}</small>` : ''}
                ${
                  s.current
                    ? html`<strong>${t('console.account.current')}</strong>`
                    : html`<form method="post" action="/console/sessions/${s.id}/revoke" class="inline">
                        ${csrfField(c)}
                        <button type="submit" class="secondary">${t('console.account.revoke')}</button>
                      </form>`
                }
              </li>`,
          )}
        </ul>
      </section>`,
  );
}

/** Sensitive changes need a recent sign-in: the password again. */
export function reauthPage(c: ConsoleContext, input: { error?: string }): Html {
  const { t } = c;
  return layout(
    c,
    t('console.reauth.heading'),
    html`<div class="card">
      <h1>${t('console.reauth.heading')}</h1>
      <p>${t('console.reauth.lead')}</p>
      ${alert('reauth-error', input.error)}
      <form method="post" action="/console/reauthenticate">
        ${csrfField(c)}
        <label for="password">${t('console.signin.password')}</label>
        <input
          type="password"
          id="password"
          name="password"
          autocomplete="current-password"
          required
          ${input.error ? html`aria-invalid="true" aria-describedby="reauth-error"` : ''}
        />
        <div><button type="submit">${t('console.reauth.submit')}</button></div>
      </form>
      <p><a href="/console/account">${t('console.reauth.back')}</a></p>
    </div>`,
  );
}
