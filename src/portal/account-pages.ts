import { type Html, html } from './html.ts';
import { layout, type PageContext } from './pages.ts';

// The pages of portal accounts: signing in, creating an account, and the card on the message page.
// Plain forms that work without JavaScript; the passkey parts are hidden until a small script from
// the portal's own origin finds WebAuthn in the browser and shows them.

const csrfField = (c: PageContext) => html`<input type="hidden" name="csrf" value="${c.csrf}" />`;

const SCRIPTS = html`<script src="/portal/assets/simplewebauthn.js" defer></script>
  <script src="/portal/assets/passkey.js" defer></script>`;

/**
 * A passkey ceremony: the button asks the server for options, the browser for a credential, and
 * the hidden form carries the credential back as an ordinary form post.
 */
function passkeyControls(c: PageContext, input: { action: string; button: string }): Html {
  return html`<button type="button" class="secondary" data-passkey-start>${input.button}</button>
    <p class="error" role="alert" data-passkey-error hidden></p>
    <form method="post" action="${input.action}" data-passkey-form>
      ${csrfField(c)}
      <input type="hidden" name="credential" value="" />
    </form>`;
}

const passkeyData = (c: PageContext, kind: 'register' | 'sign-in', options: string) =>
  html`data-passkey="${kind}" data-options="${options}" data-failed="${c.t(`passkey.failed.${kind}`)}"`;

export function signInPage(c: PageContext, input: { error?: string; locked?: boolean }): Html {
  const { t } = c;
  const options = `${c.base}/sign-in/passkey/options`;
  return layout(
    c,
    t('signin.heading'),
    html`<div class="card">
      <h1>${t('signin.heading')}</h1>
      <p>${t('signin.lead', { org: c.org })}</p>
      ${input.error ? html`<p class="error" id="password-error" role="alert">${input.error}</p>` : ''}
      <form method="post" action="${c.base}/sign-in">
        ${csrfField(c)}
        <label for="password">${t('signin.password')}</label>
        <input
          type="password"
          id="password"
          name="password"
          autocomplete="current-password"
          required
          ${input.error ? html`aria-invalid="true" aria-describedby="password-error"` : ''}
        />
        <div><button type="submit">${t('signin.submit')}</button></div>
      </form>
      <div ${passkeyData(c, 'sign-in', options)} hidden>
        <p>${t('signin.passkey.lead')}</p>
        ${passkeyControls(c, { action: `${c.base}/sign-in/passkey`, button: t('signin.passkey') })}
      </div>
      <p><a href="${c.base}">${t('signin.other')}</a></p>
      ${SCRIPTS}
    </div>`,
  );
}

export function createAccountPage(
  c: PageContext,
  input: { min: number; error?: string; field?: 'password' | 'again' },
): Html {
  const { t } = c;
  const field = input.error ? (input.field ?? 'password') : null;
  const describedBy = ['password-hint', field === 'password' ? 'password-error' : '']
    .filter(Boolean)
    .join(' ');
  const error = (id: string) => html`<p class="error" id="${id}" role="alert">${input.error}</p>`;
  return layout(
    c,
    t('account.heading'),
    html`<div class="card">
      <h1>${t('account.heading')}</h1>
      <p>${t('account.lead', { org: c.org })}</p>
      <form method="post" action="${c.base}/account">
        ${csrfField(c)}
        <label for="password">${t('account.password')}</label>
        <p class="hint" id="password-hint">${t('account.hint', { min: input.min })}</p>
        ${field === 'password' ? error('password-error') : ''}
        <input
          type="password"
          id="password"
          name="password"
          autocomplete="new-password"
          required
          aria-describedby="${describedBy}"
          ${field === 'password' ? html`aria-invalid="true"` : ''}
        />
        <label for="password-again">${t('account.again')}</label>
        ${field === 'again' ? error('again-error') : ''}
        <input
          type="password"
          id="password-again"
          name="password_again"
          autocomplete="new-password"
          required
          ${field === 'again' ? html`aria-invalid="true" aria-describedby="again-error"` : ''}
        />
        <div><button type="submit">${t('account.submit')}</button></div>
      </form>
      <p><a href="${c.base}">${t('account.back')}</a></p>
    </div>`,
  );
}

export type AccountCard =
  { kind: 'offer' } | { kind: 'passkeys'; count: number; flash?: { kind: 'ok' | 'error'; text: string } };

/** On the message page: the offer of an account, or (with one) adding a passkey. */
export function accountCard(c: PageContext, card: AccountCard): Html {
  const { t } = c;
  if (card.kind === 'offer')
    return html`<section class="card" aria-labelledby="account-offer">
      <h2 id="account-offer">${t('account.card.heading')}</h2>
      <p>${t('account.card.offer')}</p>
      <p><a href="${c.base}/account">${t('account.card.link')}</a></p>
    </section>`;
  const options = `${c.base}/passkeys/options`;
  return html`${
      card.flash
        ? html`<p
            class="card ${card.flash.kind}"
            id="account-status"
            role="${card.flash.kind === 'ok' ? 'status' : 'alert'}"
          >
            ${card.flash.text}
          </p>`
        : ''
    }
    <section class="card" aria-labelledby="passkeys" ${passkeyData(c, 'register', options)} hidden>
      <h2 id="passkeys">${t('passkey.heading')}</h2>
      <p>${card.count === 0 ? t('passkey.lead.none') : t('passkey.lead.some', { count: card.count })}</p>
      ${passkeyControls(c, { action: `${c.base}/passkeys`, button: t('passkey.add') })}
    </section>
    ${SCRIPTS}`;
}
