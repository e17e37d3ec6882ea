import { translator } from '../i18n/index.ts';
import { type Html, html } from '../portal/index.ts';

// The pages single sign-on shows between Sealpost and the provider. Going on is a meta refresh
// (no script: the strict CSP holds) with a link for browsers that do not follow it. A meta refresh
// is also what lets the Strict session cookie go with the next request: a redirect chain that came
// from the provider counts as cross-site, a navigation started by this page does not.

function layout(language: string, heading: string, content: Html, next?: string): Html {
  return html`<!doctype html>
    <html lang="${language}">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex, nofollow" />
        ${next ? html`<meta http-equiv="refresh" content="0; url=${next}" />` : ''}
        <title>${heading} · Sealpost</title>
        <link rel="stylesheet" href="/portal/assets/portal.css" />
      </head>
      <body>
        <header class="brand"><span class="org">Sealpost</span></header>
        <main id="content">
          <div class="card">${content}</div>
        </main>
      </body>
    </html>`;
}

/** On to `next` (the provider, or the console after a sign-in). */
export function onwardPage(language: string, kind: 'continue' | 'done', next: string): Html {
  const t = translator(language);
  const heading = t(`console.sso.${kind}.heading`);
  return layout(
    language,
    heading,
    html`<h1>${heading}</h1>
      <p>${t(`console.sso.${kind}.lead`)}</p>
      <p><a href="${next}">${t(`console.sso.${kind}.link`)}</a></p>`,
    next,
  );
}

export function failedPage(language: string, message: string): Html {
  const t = translator(language);
  const heading = t('console.sso.failed.heading');
  return layout(
    language,
    heading,
    html`<h1>${heading}</h1>
      <p class="error" role="alert">${message}</p>
      <p><a href="/console/sign-in">${t('console.sso.failed.back')}</a></p>`,
  );
}
