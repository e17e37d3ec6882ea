import { formatDate } from '../i18n/index.ts';
import { type Html, html } from '../portal/index.ts';
import { type ConsoleContext, layout } from './console-pages.ts';

// The page an invited person lands on from the mail: who invited them where, and a form to choose
// a password (the NIST rules, explained before they are enforced). Same layout, same strict CSP
// and no script, like the other console pages.

export function invitePage(
  c: ConsoleContext,
  input: {
    org: string;
    email: string;
    expiresAt: Date;
    min: number;
    max: number;
    error?: string;
    /** The organisation's id, when it signs in with single sign-on only (no passwords). */
    sso?: string;
  },
): Html {
  const { t } = c;
  if (input.sso)
    return layout(
      c,
      t('console.invite.heading'),
      html`<div class="card">
        <h1>${t('console.invite.heading')}</h1>
        <p>${t('console.invite.sso', { org: input.org, email: input.email })}</p>
        <p>${t('console.invite.expires', { date: formatDate(input.expiresAt, c.language) })}</p>
        <form method="get" action="/console/sso">
          <input type="hidden" name="org" value="${input.sso}" />
          <input type="hidden" name="email" value="${input.email}" />
          <div><button type="submit">${t('console.sso.submit')}</button></div>
        </form>
      </div>`,
    );
  const described = input.error ? 'password-hint invite-error' : 'password-hint';
  const invalid = input.error ? html`aria-invalid="true"` : '';
  return layout(
    c,
    t('console.invite.heading'),
    html`<div class="card">
      <h1>${t('console.invite.heading')}</h1>
      <p>${t('console.invite.lead', { org: input.org })}</p>
      <p>${t('console.invite.expires', { date: formatDate(input.expiresAt, c.language) })}</p>
      ${input.error ? html`<p class="error" id="invite-error" role="alert">${input.error}</p>` : ''}
      <form method="post" action="">
        <input type="hidden" name="csrf" value="${c.csrf}" />
        <label for="email">${t('console.signin.email')}</label>
        <input type="text" id="email" name="email" autocomplete="username" value="${input.email}" readonly />
        <label for="password">${t('account.password')}</label>
        <p class="hint" id="password-hint">${t('account.hint', { min: input.min })}</p>
        <input
          type="password"
          id="password"
          name="password"
          autocomplete="new-password"
          minlength="${input.min}"
          maxlength="${input.max}"
          required
          aria-describedby="${described}"
          ${invalid}
        />
        <label for="again">${t('account.again')}</label>
        <input type="password" id="again" name="again" autocomplete="new-password" required ${invalid} />
        <div><button type="submit">${t('console.invite.submit')}</button></div>
      </form>
    </div>`,
  );
}

export function inviteInvalidPage(c: ConsoleContext): Html {
  const { t } = c;
  return layout(
    c,
    t('console.invite.invalid.heading'),
    html`<div class="card">
      <h1>${t('console.invite.invalid.heading')}</h1>
      <p>${t('console.invite.invalid.lead')}</p>
      <p><a href="/console/sign-in">${t('console.invite.invalid.signin')}</a></p>
    </div>`,
  );
}
