import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Transaction } from '../db/index.ts';
import type { HttpServer } from '../http/index.ts';
import { accountCard, createAccountPage, signInPage } from './account-pages.ts';
import {
  accountsAllowed,
  ACCOUNT_LOCK_MINUTES,
  accountSignedIn,
  checkPassword,
  createAccount,
  findAccount,
  PASSWORD_MAX,
  PASSWORD_MIN,
  type PasswordProblem,
  type SignInOutcome,
} from './accounts.ts';
import { type Html, html } from './html.ts';
import type { PageContext } from './pages.ts';
import {
  addPasskey,
  authenticationOptions,
  checkPasskey,
  parseCredential,
  passkeyCount,
  registrationOptions,
} from './passkeys.ts';
import { csrfToken, type Session } from './sessions.ts';
import type { PortalRecipient } from './store.ts';
import type { PortalDeps } from './types.ts';

// The routes of portal accounts, under the delivery's own /secure/<token>: sign in with a password
// or a passkey (before a session), create an account and add passkeys (with one). They share the
// portal's checks: the delivery found again by its token, open, and the form's CSRF token.

const PASSKEY_SCRIPT = readFileSync(new URL('./assets/passkey.js', import.meta.url), 'utf8');
// The browser half of SimpleWebAuthn, as the package ships it (a UMD bundle: one global).
const WEBAUTHN_SCRIPT = readFileSync(
  new URL(
    '../dist/bundle/index.umd.min.js',
    pathToFileURL(createRequire(import.meta.url).resolve('@simplewebauthn/browser')),
  ),
  'utf8',
);

type TokenRequest = FastifyRequest<{
  Params: { token: string };
  Querystring: Record<string, string | undefined>;
}>;

/** What the portal's routes lend these: the same checks and the same way to start a session. */
export interface PortalKit {
  deps: PortalDeps;
  open(
    request: TokenRequest,
    reply: FastifyReply,
    check?: { form?: boolean },
  ): Promise<{ p: PortalRecipient; c: PageContext } | null>;
  sessionOf(request: TokenRequest, p: PortalRecipient): Promise<Session | null>;
  signIn(
    request: TokenRequest,
    reply: FastifyReply,
    p: PortalRecipient,
    method: string,
    within?: (tx: Transaction) => Promise<void>,
  ): Promise<unknown>;
  refuse(
    request: TokenRequest,
    reply: FastifyReply,
    p: PortalRecipient,
    c: PageContext,
    access: string,
  ): Promise<unknown>;
}

function page(reply: FastifyReply, status: number, body: Html) {
  return reply.code(status).type('text/html; charset=utf-8').send(body.value);
}

const who = (request: FastifyRequest) => ({ ip: request.ip, requestId: request.id });

export async function accountRoutes(portal: HttpServer, kit: PortalKit): Promise<void> {
  const { deps, sessionOf, signIn, refuse } = kit;
  // Every account route: the delivery open to reading, and one where accounts apply.
  const open: PortalKit['open'] = async (request, reply, check) => {
    const found = await kit.open(request, reply, check);
    if (found && !accountsAllowed(found.p)) {
      reply.redirect(found.c.base!, 303);
      return null;
    }
    return found;
  };
  const options = { config: { public: true }, schema: { hide: true } } as const;
  // Each try costs an argon2id hash (64 MiB, ~0.15 s): few per minute from one address.
  const throttled = {
    config: { public: true, rateLimit: { max: 30, timeWindow: 60_000 } },
    schema: { hide: true },
  } as const;

  const script = (body: string) => async (_request: FastifyRequest, reply: FastifyReply) => {
    reply.header('cache-control', 'public, max-age=3600').type('text/javascript; charset=utf-8');
    return body;
  };
  portal.get('/portal/assets/passkey.js', options, script(PASSKEY_SCRIPT));
  portal.get('/portal/assets/simplewebauthn.js', options, script(WEBAUTHN_SCRIPT));

  // --- Signing in -------------------------------------------------------------------------------

  portal.get('/secure/:token/sign-in', options, async (request: TokenRequest, reply) => {
    const found = await open(request, reply);
    if (!found) return reply;
    if (await sessionOf(request, found.p)) return reply.redirect(found.c.base!, 303);
    return page(reply, 200, signInPage(found.c, {}));
  });

  portal.post('/secure/:token/sign-in', throttled, async (request: TokenRequest, reply) => {
    const found = await open(request, reply, { form: true });
    if (!found) return reply;
    const { p } = found;
    const password = (request.body as Record<string, unknown>).password;
    const outcome = await checkPassword(deps, p, typeof password === 'string' ? password : '', who(request));
    return afterSignIn(request, reply, found, outcome, 'password');
  });

  portal.post('/secure/:token/sign-in/passkey/options', throttled, async (request: TokenRequest, reply) => {
    const found = await open(request, reply, { form: true });
    if (!found) return reply;
    return reply.send(await authenticationOptions(deps, found.p));
  });

  portal.post('/secure/:token/sign-in/passkey', throttled, async (request: TokenRequest, reply) => {
    const found = await open(request, reply, { form: true });
    if (!found) return reply;
    const { p, c } = found;
    const credential = parseCredential<AuthenticationResponseJSON>(
      (request.body as Record<string, unknown>).credential,
    );
    const outcome = credential ? await checkPasskey(deps, p, credential, who(request)) : null;
    if (!outcome || (!outcome.ok && outcome.reason === 'expired'))
      return page(reply, 422, signInPage(c, { error: c.t('passkey.expired') }));
    return afterSignIn(request, reply, found, outcome, 'passkey');
  });

  async function afterSignIn(
    request: TokenRequest,
    reply: FastifyReply,
    { p, c }: { p: PortalRecipient; c: PageContext },
    outcome: SignInOutcome,
    factor: 'password' | 'passkey',
  ) {
    if (outcome.ok)
      return signIn(request, reply, p, 'account', (tx) =>
        accountSignedIn(deps, tx, p, outcome.account, factor, who(request)),
      );
    if (outcome.reason === 'account_locked')
      return page(
        reply,
        423,
        signInPage(c, { error: c.t('signin.locked', { minutes: ACCOUNT_LOCK_MINUTES }) }),
      );
    if (outcome.reason === 'message_locked' || outcome.locked) return refuse(request, reply, p, c, 'locked');
    const error = c.t(factor === 'password' ? 'signin.wrong' : 'passkey.wrong', { left: outcome.left });
    return page(reply, 422, signInPage(c, { error }));
  }

  // --- Creating an account (signed in) ----------------------------------------------------------

  portal.get('/secure/:token/account', options, async (request: TokenRequest, reply) => {
    const found = await open(request, reply);
    if (!found) return reply;
    const { p, c } = found;
    const session = await sessionOf(request, p);
    if (!session || (await findAccount(deps.db, p.orgId, p.address))) return reply.redirect(c.base!, 303);
    return page(
      reply,
      200,
      createAccountPage({ ...c, csrf: csrfToken(session.secret) }, { min: PASSWORD_MIN }),
    );
  });

  portal.post('/secure/:token/account', throttled, async (request: TokenRequest, reply) => {
    const found = await open(request, reply, { form: true });
    if (!found) return reply;
    const { p, c } = found;
    const session = await sessionOf(request, p);
    if (!session) return reply.redirect(c.base!, 303);
    const body = request.body as Record<string, unknown>;
    const text = (value: unknown) => (typeof value === 'string' ? value : '');
    const outcome = await createAccount(
      deps,
      p,
      { password: text(body.password), again: text(body.password_again) },
      who(request),
    );
    if (outcome.ok) return reply.redirect(`${c.base}?account=created#account-status`, 303);
    if (outcome.problem === 'exists') return reply.redirect(c.base!, 303);
    return page(
      reply,
      422,
      createAccountPage(
        { ...c, csrf: csrfToken(session.secret) },
        {
          min: PASSWORD_MIN,
          error: problemText(c, outcome.problem),
          field: outcome.problem === 'mismatch' ? 'again' : 'password',
        },
      ),
    );
  });

  // --- Passkeys (signed in, with an account) ----------------------------------------------------

  portal.post('/secure/:token/passkeys/options', throttled, async (request: TokenRequest, reply) => {
    const found = await open(request, reply, { form: true });
    if (!found) return reply;
    const { p } = found;
    const account = (await sessionOf(request, p)) ? await findAccount(deps.db, p.orgId, p.address) : null;
    if (!account) return reply.code(403).send({ error: 'sign in first' });
    return reply.send(await registrationOptions(deps, p, account));
  });

  portal.post('/secure/:token/passkeys', throttled, async (request: TokenRequest, reply) => {
    const found = await open(request, reply, { form: true });
    if (!found) return reply;
    const { p, c } = found;
    const account = (await sessionOf(request, p)) ? await findAccount(deps.db, p.orgId, p.address) : null;
    if (!account) return reply.redirect(c.base!, 303);
    const credential = parseCredential<RegistrationResponseJSON>(
      (request.body as Record<string, unknown>).credential,
    );
    const outcome = credential ? await addPasskey(deps, p, account, credential, who(request)) : 'refused';
    return reply.redirect(`${c.base}?passkey=${outcome}#account-status`, 303);
  });
}

function problemText(c: PageContext, problem: PasswordProblem): string {
  return c.t(`account.${problem}`, { min: PASSWORD_MIN, max: PASSWORD_MAX });
}

/** The account card of the message page: an offer, or the passkeys of the account there is. */
export async function accountCardFor(
  deps: PortalDeps,
  p: PortalRecipient,
  c: PageContext,
  query: Record<string, string | undefined>,
): Promise<Html> {
  if (!accountsAllowed(p)) return html``;
  const account = await findAccount(deps.db, p.orgId, p.address);
  if (!account) return accountCard(c, { kind: 'offer' });
  const flash =
    query.account === 'created'
      ? { kind: 'ok' as const, text: c.t('account.created') }
      : query.passkey === 'added'
        ? { kind: 'ok' as const, text: c.t('passkey.added') }
        : query.passkey === 'expired' || query.passkey === 'refused'
          ? { kind: 'error' as const, text: c.t('passkey.not_added') }
          : undefined;
  return accountCard(c, {
    kind: 'passkeys',
    count: await passkeyCount(deps, account),
    ...(flash ? { flash } : {}),
  });
}
