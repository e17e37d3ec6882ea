import { readFileSync } from 'node:fs';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SYSTEM_ORG_ID } from '../audit/index.ts';
import type { Transaction } from '../db/index.ts';
import { SealpostError } from '../errors/index.ts';
import { chooseLanguage, formatSize } from '../i18n/index.ts';
import type { HttpServer } from '../http/index.ts';
import { loadMessage, openContent } from '../messages/index.ts';
import { accountCardFor, accountRoutes } from './account-routes.ts';
import { hasAccount } from './accounts.ts';
import { loadBranding } from './branding.ts';
import { type Html, html, trusted } from './html.ts';
import { textOn } from './letters.ts';
import {
  acceptedExtensions,
  brandStylesheet,
  codePage,
  messagePage,
  newMessagePage,
  pageContext,
  type PageContext,
  passphrasePage,
  problemPage,
  startPage,
  type UploadLimits,
} from './pages.ts';
import {
  portalInbox,
  readReply,
  type ReplyRefusal,
  replyAudience,
  sendNewMessage,
  sendReply,
  uploadTypes,
} from './replies.ts';
import { safeHtml, safeText } from './safe-html.ts';
import { csrfToken, csrfValid, endSession, findSession, type Session, startSession } from './sessions.ts';
import { accessOf, countDownload, countView, findByToken, type PortalRecipient } from './store.ts';
import { type PortalDeps, recipientActor } from './types.ts';
import { checkCode, checkPassphrase, issueCode, markVerified } from './verification.ts';

// The recipient's side of the portal: /secure/<token> and what hangs under it. Every request
// finds the delivery again by its token and checks revocation, expiry and lock before anything
// else, so an open tab shows nothing once the sender revokes. Pages are plain HTML forms that
// work with JavaScript off; the one script, for passkeys (account-routes.ts), only adds to them.

const STYLESHEET = readFileSync(new URL('./assets/portal.css', import.meta.url), 'utf8');
const SESSION_COOKIE = 'sp_session';
const PRE_COOKIE = 'sp_pre';
const LANG_COOKIE = 'sp_lang';

/** Types a browser could run or render as a page: always downloaded as opaque bytes. */
const ACTIVE_TYPES =
  /^(text\/html|application\/xhtml\+xml|image\/svg\+xml|text\/xml|application\/xml|text\/javascript|application\/javascript)\b/i;
const INLINE_IMAGE = /^image\/(png|jpeg|gif|webp)$/i;

const portalCsp = (remoteImages: boolean) =>
  [
    "default-src 'none'",
    "script-src 'self'",
    "connect-src 'self'",
    "style-src 'self'",
    `img-src 'self' data:${remoteImages ? ' https:' : ''}`,
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');

type TokenRequest = FastifyRequest<{
  Params: { token: string };
  Querystring: Record<string, string | undefined>;
}>;

export function portalRoutes(deps: PortalDeps) {
  const { settings } = deps;
  const limits = { idleMs: settings.idleMinutes * 60_000, absoluteMs: settings.sessionMinutes * 60_000 };
  const secureCookies = settings.publicUrl.startsWith('https:');

  return async (app: HttpServer) => {
    app.get(
      '/portal/assets/portal.css',
      { config: { public: true }, schema: { hide: true } },
      async (_request, reply) => {
        reply.header('cache-control', 'public, max-age=3600').type('text/css; charset=utf-8');
        return STYLESHEET;
      },
    );

    await app.register(async (portal) => {
      await portal.register(cookie);
      await portal.register(formbody);
      await portal.register(multipart, {
        limits: {
          fileSize: Math.max(1, settings.uploadMaxBytes),
          files: MAX_FILES,
          fields: 5,
          fieldSize: 100_000,
          parts: MAX_FILES + 5,
        },
      });

      portal.setErrorHandler(async (err, request, reply) => {
        const c = await contextFor(request as TokenRequest, reply, null);
        const code = (err as { code?: string }).code ?? '';
        if (code === 'FST_REQ_FILE_TOO_LARGE' || code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT')
          return page(
            reply,
            413,
            problemPage(
              c,
              'upload',
              { reason: uploadReason(c, code, settings.uploadMaxBytes) },
              c.base ?? undefined,
            ),
          );
        const status =
          err instanceof SealpostError ? err.status : ((err as { statusCode?: number }).statusCode ?? 500);
        if (status >= 500) request.log.error({ err }, 'portal request failed');
        return page(reply, status, problemPage(c, 'generic'));
      });

      const options = { config: { public: true }, schema: { hide: true } } as const;
      await accountRoutes(portal, { deps, open, sessionOf, signIn, refuse });

      portal.get('/secure/:token', options, async (request: TokenRequest, reply) => {
        const found = await open(request, reply);
        if (!found) return reply;
        const { p, c } = found;
        const session = await sessionOf(request, p);
        if (session) return showMessage(request, reply, p, { ...c, csrf: csrfToken(session.secret) });
        const ended = request.cookies[SESSION_COOKIE] !== undefined;
        const account = await hasAccount(deps.db, p);
        if (p.verification === 'passphrase') return page(reply, 200, passphrasePage(c, { account }));
        return page(
          reply,
          200,
          startPage(c, {
            account,
            channel: p.verification,
            destination: await destination(p),
            expiresAt: p.expiresAt,
            ...(ended ? { flash: c.t('error.session.body') } : {}),
          }),
        );
      });

      portal.post('/secure/:token/code', options, async (request: TokenRequest, reply) => {
        const found = await open(request, reply, { form: true });
        if (!found) return reply;
        const { p } = found;
        if (p.verification === 'passphrase') return reply.redirect(found.c.base!, 303);
        const outcome = await issueCode(deps, p, request.ip);
        return reply.redirect(`${found.c.base}/verify?sent=${outcome}`, 303);
      });

      portal.get('/secure/:token/verify', options, async (request: TokenRequest, reply) => {
        const found = await open(request, reply);
        if (!found) return reply;
        const { p, c } = found;
        if (p.verification === 'passphrase') return reply.redirect(c.base!, 303);
        const sent = request.query.sent;
        const info = sent === 'sent' ? c.t('code.sent') : undefined;
        const error = sent === 'wait' ? c.t('code.wait') : sent === 'limit' ? c.t('code.limit') : undefined;
        return page(
          reply,
          200,
          codePage(c, { ...(await codeLead(p)), ...(info ? { info } : {}), ...(error ? { error } : {}) }),
        );
      });

      portal.post('/secure/:token/verify', options, async (request: TokenRequest, reply) => {
        const found = await open(request, reply, { form: true });
        if (!found) return reply;
        const { p, c } = found;
        const given = String((request.body as Record<string, unknown>).code ?? '');
        const outcome = await checkCode(deps, p, given, request.ip);
        if (outcome.ok) return signIn(request, reply, p, 'code');
        if (outcome.reason === 'locked' || (outcome.reason === 'wrong' && outcome.locked))
          return refuse(request, reply, p, c, 'locked');
        const error =
          outcome.reason === 'none' ? c.t('code.expired') : c.t('code.wrong', { left: outcome.left });
        return page(reply, 422, codePage(c, { ...(await codeLead(p)), error }));
      });

      portal.post('/secure/:token/passphrase', options, async (request: TokenRequest, reply) => {
        const found = await open(request, reply, { form: true });
        if (!found) return reply;
        const { p, c } = found;
        if (p.verification !== 'passphrase') return reply.redirect(c.base!, 303);
        const given = String((request.body as Record<string, unknown>).passphrase ?? '');
        const outcome = await checkPassphrase(deps, p, given, request.ip);
        if (outcome.ok) return signIn(request, reply, p, 'passphrase');
        if (outcome.reason === 'locked' || (outcome.reason === 'wrong' && outcome.locked))
          return refuse(request, reply, p, c, 'locked');
        const left = outcome.reason === 'wrong' ? outcome.left : 0;
        const account = await hasAccount(deps.db, p);
        return page(reply, 422, passphrasePage(c, { error: c.t('passphrase.wrong', { left }), account }));
      });

      portal.get(
        '/secure/:token/attachments/:index',
        options,
        async (request: FastifyRequest<{ Params: { token: string; index: string } }>, reply) => {
          const found = await open(request as TokenRequest, reply);
          if (!found) return reply;
          const { p, c } = found;
          if (!(await sessionOf(request as TokenRequest, p))) return reply.redirect(c.base!, 303);
          const content = await openContent(deps.keyring, await loadMessage(deps.db, p.orgId, p.messageId));
          const index = Number(request.params.index);
          const attachment = Number.isInteger(index) ? content.attachments[index] : undefined;
          if (!attachment) return page(reply, 404, problemPage(c, 'generic'));
          await deps.db.transaction(async (tx) => {
            await countDownload(tx, p);
            await deps.stageAudit(tx, {
              orgId: p.orgId,
              actor: recipientActor(p.recipientId),
              ip: request.ip,
              requestId: request.id,
              action: 'portal.downloaded',
              objectType: 'message',
              objectId: p.messageId,
              outcome: 'success',
              details: { recipient_id: p.recipientId, attachment: index },
            });
          });
          const type = ACTIVE_TYPES.test(attachment.content_type)
            ? 'application/octet-stream'
            : attachment.content_type;
          reply
            .header('content-security-policy', "default-src 'none'; sandbox")
            .header('content-disposition', contentDisposition('attachment', attachment.filename))
            .type(type);
          return Buffer.from(attachment.content, 'base64');
        },
      );

      portal.get(
        '/secure/:token/inline/:index',
        options,
        async (request: FastifyRequest<{ Params: { token: string; index: string } }>, reply) => {
          const found = await open(request as TokenRequest, reply);
          if (!found) return reply;
          const { p, c } = found;
          if (!(await sessionOf(request as TokenRequest, p))) return reply.code(404).send();
          const content = await openContent(deps.keyring, await loadMessage(deps.db, p.orgId, p.messageId));
          const attachment = content.attachments[Number(request.params.index)];
          if (!attachment?.content_id || !INLINE_IMAGE.test(attachment.content_type))
            return page(reply, 404, problemPage(c, 'generic'));
          reply
            .header('content-security-policy', "default-src 'none'; sandbox")
            .type(attachment.content_type);
          return Buffer.from(attachment.content, 'base64');
        },
      );

      portal.post('/secure/:token/reply', options, async (request: TokenRequest, reply) => {
        const posted = await signedInUpload(request, reply);
        if (!posted) return reply;
        const { p, c, session, form } = posted;
        if (!form.text.trim() && form.files.length === 0)
          return showMessage(
            request,
            reply,
            p,
            { ...c, csrf: csrfToken(session.secret) },
            { kind: 'error', text: c.t('reply.empty') },
          );
        const sent = await sendReply(deps, p, form, { ip: request.ip, requestId: request.id });
        if (!sent.ok) {
          request.log.warn(
            { org_id: p.orgId, recipient_id: p.recipientId, code: sent.code },
            'portal reply refused',
          );
          return page(
            reply,
            sent.status,
            problemPage(c, sent.code === 'replies_closed' ? 'generic' : 'reply'),
          );
        }
        return reply.redirect(`${c.base}?replied=1`, 303);
      });

      portal.get('/secure/:token/new', options, async (request: TokenRequest, reply) => {
        const found = await open(request, reply);
        if (!found) return reply;
        const { p, c } = found;
        const session = await sessionOf(request, p);
        if (!session) return reply.redirect(c.base!, 303);
        if (!(await portalInbox(deps, p.orgId))) return page(reply, 404, problemPage(c, 'generic'));
        return page(
          reply,
          200,
          newMessagePage({ ...c, csrf: csrfToken(session.secret) }, await uploadLimits(p)),
        );
      });

      portal.post('/secure/:token/new', options, async (request: TokenRequest, reply) => {
        const posted = await signedInUpload(request, reply);
        if (!posted) return reply;
        const { p, c, session, form } = posted;
        if (!form.subject.trim() || !form.text.trim())
          return page(
            reply,
            422,
            newMessagePage(
              { ...c, csrf: csrfToken(session.secret) },
              { ...(await uploadLimits(p)), error: c.t('new.empty') },
            ),
          );
        const sent = await sendNewMessage(deps, p, form, { ip: request.ip, requestId: request.id });
        if (!sent.ok) {
          request.log.warn(
            { org_id: p.orgId, recipient_id: p.recipientId, code: sent.code },
            'portal message refused',
          );
          return page(reply, sent.status, problemPage(c, 'reply'));
        }
        return reply.redirect(`${c.base}?started=1`, 303);
      });

      portal.post('/secure/:token/sign-out', options, async (request: TokenRequest, reply) => {
        const found = await open(request, reply, { form: true });
        if (!found) return reply;
        const session = await sessionOf(request, found.p);
        if (session) await endSession(deps.db, session, deps.clock());
        reply.clearCookie(SESSION_COOKIE, { path: found.c.base! });
        return reply.redirect(found.c.base!, 303);
      });

      // The brand is public to whoever holds the link: it is what the notice already showed.
      portal.get('/secure/:token/brand.css', options, async (request: TokenRequest, reply) => {
        const p = await findByToken(deps.db, request.params.token);
        reply.type('text/css; charset=utf-8').header('cache-control', 'private, max-age=300');
        return brandStylesheet(p?.brand.color ?? null, textOn);
      });

      portal.get('/secure/:token/logo', options, async (request: TokenRequest, reply) => {
        const p = await findByToken(deps.db, request.params.token);
        const brand = p ? await loadBranding(deps.db, p.orgId) : null;
        if (!brand?.logo || !brand.logo_type) return reply.code(404).send();
        reply.type(brand.logo_type).header('cache-control', 'private, max-age=300');
        reply.header('content-security-policy', "default-src 'none'; sandbox");
        return brand.logo;
      });
    });
  };

  /**
   * The delivery behind the token, open to reading; otherwise the page that says why has been
   * sent and null is returned. With `form`, the request must also carry this browser's CSRF token.
   */
  async function open(
    request: TokenRequest,
    reply: FastifyReply,
    check: { form?: boolean } = {},
  ): Promise<{ p: PortalRecipient; c: PageContext } | null> {
    const p = await findByToken(deps.db, request.params.token);
    const c = await contextFor(request, reply, p);
    reply.header('content-security-policy', portalCsp(request.query?.images === 'show'));
    if (!p) {
      deps.tallyAudit({
        orgId: SYSTEM_ORG_ID,
        actor: { type: 'system', id: 'portal', label: 'portal' },
        ip: request.ip,
        action: 'portal.link_invalid',
        objectType: 'portal_link',
        objectId: 'unknown',
        outcome: 'denied',
      });
      page(reply, 404, problemPage(c, 'invalid'));
      return null;
    }
    const access = accessOf(p, deps.clock());
    if (access !== 'open') {
      await refuse(request, reply, p, c, access);
      return null;
    }
    if (check.form) {
      const body = (request.body ?? {}) as Record<string, unknown>;
      const secret = (await sessionOf(request, p))?.secret ?? request.cookies[PRE_COOKIE];
      if (!crossSiteSafe(request) || !csrfValid(secret, body.csrf)) {
        page(reply, 403, problemPage(c, 'form', {}, c.base!));
        return null;
      }
    }
    return { p, c };
  }

  /**
   * A form with files from a signed-in reader (a reply, a new message): the session, the CSRF
   * token and the upload limits checked. Null when the answer has been sent.
   */
  async function signedInUpload(request: TokenRequest, reply: FastifyReply) {
    const found = await open(request, reply);
    if (!found) return null;
    const { p, c } = found;
    const session = await sessionOf(request, p);
    if (!session) {
      reply.redirect(c.base!, 303);
      return null;
    }
    const limits = await uploadLimits(p);
    const form = await readReply(request, limits);
    if (!crossSiteSafe(request) || !csrfValid(session.secret, form.csrf)) {
      page(reply, 403, problemPage(c, 'form', {}, c.base!));
      return null;
    }
    if ('refused' in form) {
      const { kind } = form.refused;
      // On the record by kind alone: a file's name can say who the patient is.
      await deps.stageAudit(deps.db, {
        orgId: p.orgId,
        actor: recipientActor(p.recipientId),
        ip: request.ip,
        requestId: request.id,
        action: 'portal.upload_refused',
        objectType: 'message',
        objectId: p.messageId,
        outcome: 'denied',
        details: { recipient_id: p.recipientId, reason: kind },
      });
      const status = kind === 'too_large' || kind === 'too_many' ? 413 : 415;
      page(
        reply,
        status,
        problemPage(c, 'upload', { reason: refusalText(c, form.refused, limits) }, c.base!),
      );
      return null;
    }
    return { p, c, session, form };
  }

  /** Language, brand and this browser's CSRF token (set up on first sight). */
  async function contextFor(
    request: TokenRequest,
    reply: FastifyReply,
    p: PortalRecipient | null,
  ): Promise<PageContext> {
    const asked = request.query?.lang;
    const language = chooseLanguage({
      chosen: asked ?? request.cookies?.[LANG_COOKIE],
      acceptLanguage: request.headers['accept-language'],
      fallback: p?.language,
    });
    const base = p ? `/secure/${request.params.token}` : null;
    let pre = request.cookies?.[PRE_COOKIE];
    if (p && !pre) {
      pre = randomSecret();
      request.cookies[PRE_COOKIE] = pre;
      reply.setCookie(PRE_COOKIE, pre, cookieOptions(base!));
    }
    if (asked && asked === language)
      reply.setCookie(LANG_COOKIE, language, { ...cookieOptions('/'), maxAge: 365 * 86400 });
    return pageContext({
      language,
      org: p?.orgName ?? 'Sealpost',
      base,
      hasLogo: p?.brand.hasLogo ?? false,
      csrf: pre ? csrfToken(pre) : '',
    });
  }

  function cookieOptions(path: string) {
    return { path, httpOnly: true, sameSite: 'strict' as const, secure: secureCookies };
  }

  async function sessionOf(request: TokenRequest, p: PortalRecipient): Promise<Session | null> {
    const session = await findSession(deps.db, request.cookies[SESSION_COOKIE], deps.clock(), limits);
    // A session opens only the recipient it was started for.
    return session && session.orgId === p.orgId && session.recipientId === p.recipientId ? session : null;
  }

  async function signIn(
    request: TokenRequest,
    reply: FastifyReply,
    p: PortalRecipient,
    method: string,
    within?: (tx: Transaction) => Promise<void>,
  ) {
    const session = await deps.db.transaction(async (tx) => {
      await markVerified(deps, tx, p, method, request.ip);
      await within?.(tx);
      return startSession(tx, { orgId: p.orgId, recipientId: p.recipientId, now: deps.clock(), limits });
    });
    reply.setCookie(SESSION_COOKIE, session.secret, cookieOptions(`/secure/${request.params.token}`));
    return reply.redirect(`/secure/${request.params.token}`, 303);
  }

  /** A link that no longer opens: its page, and a tallied event (whoever holds it can repeat it). */
  async function refuse(
    request: TokenRequest,
    reply: FastifyReply,
    p: PortalRecipient,
    c: PageContext,
    access: string,
  ) {
    deps.tallyAudit({
      orgId: p.orgId,
      actor: recipientActor(p.recipientId),
      ip: request.ip,
      action: 'portal.access_refused',
      objectType: 'message',
      objectId: p.messageId,
      outcome: 'denied',
      details: { recipient_id: p.recipientId, reason: access },
    });
    return page(reply, access === 'locked' ? 423 : 410, problemPage({ ...c, base: null }, access));
  }

  async function showMessage(
    request: TokenRequest,
    reply: FastifyReply,
    p: PortalRecipient,
    c: PageContext,
    flash?: { kind: 'ok' | 'error'; text: string },
  ) {
    const message = await loadMessage(deps.db, p.orgId, p.messageId);
    const content = await openContent(deps.keyring, message);
    const allowRemoteImages = request.query.images === 'show';
    const inline = new Map(content.attachments.map((a, i) => [a.content_id, i]));
    let body: { kind: 'html' | 'text' | 'empty'; markup: Html } = { kind: 'empty', markup: html`` };
    let blocked = 0;
    if (content.html) {
      const safe = safeHtml(content.html, {
        allowRemoteImages,
        inlineUrl: (id) => (inline.has(id) ? `${c.base}/inline/${inline.get(id)}` : null),
      });
      blocked = safe.blockedRemoteImages;
      body = { kind: 'html', markup: trusted(safe.html) };
    } else if (content.text) body = { kind: 'text', markup: trusted(safeText(content.text)) };
    const audience = await replyAudience(deps, p, message, content);
    const now = deps.clock();
    await deps.db.transaction(async (tx) => {
      const first = await countView(tx, p, now);
      await deps.stageAudit(tx, {
        orgId: p.orgId,
        actor: recipientActor(p.recipientId),
        ip: request.ip,
        requestId: request.id,
        action: 'portal.viewed',
        objectType: 'message',
        objectId: p.messageId,
        outcome: 'success',
        details: { recipient_id: p.recipientId, first },
      });
    });
    return page(
      reply,
      200,
      messagePage(c, {
        from: content.from.name ? `${content.from.name} <${content.from.address}>` : content.from.address,
        sentAt: message.created_at,
        subject: content.subject,
        expiresAt: p.expiresAt,
        body,
        blockedImages: blocked,
        attachments: content.attachments
          .map((a, index) => ({
            index,
            filename: a.filename,
            contentType: a.content_type,
            size: Buffer.byteLength(a.content, 'base64'),
            inline: Boolean(
              a.content_id && inline.has(a.content_id) && content.html?.includes(`cid:${a.content_id}`),
            ),
          }))
          .filter((a) => !a.inline),
        newMessages: (await portalInbox(deps, p.orgId)) !== null,
        account: await accountCardFor(deps, p, c, request.query),
        replies: { allowed: audience.length > 0, to: audience.join(', '), ...(await uploadLimits(p)) },
        ...(flash ? { flash } : flashOf(c, request.query)),
      }),
    );
  }

  /** What a recipient may attach: how many files, how large in all, of which types. */
  async function uploadLimits(p: PortalRecipient): Promise<UploadLimits> {
    return {
      maxFiles: MAX_FILES,
      maxBytes: settings.uploadMaxBytes,
      types: await uploadTypes(deps, p.orgId),
    };
  }

  /** Where the code goes, shown so the reader recognises it without revealing it in full. */
  async function destination(p: PortalRecipient): Promise<string> {
    if (p.verification !== 'sms') return maskAddress(p.address);
    const content = await openContent(deps.keyring, await loadMessage(deps.db, p.orgId, p.messageId));
    return (content.portal?.phones?.[p.address] ?? '').slice(-2);
  }

  async function codeLead(p: PortalRecipient) {
    return {
      channel: p.verification === 'sms' ? ('sms' as const) : ('email' as const),
      destination: await destination(p),
      minutes: settings.codeMinutes,
    };
  }
}

const MAX_FILES = 5;

/** What the page says after a redirect that followed a post. */
function flashOf(c: PageContext, query: Record<string, string | undefined>) {
  if (query.replied) return { flash: { kind: 'ok' as const, text: c.t('message.replied') } };
  if (query.started) return { flash: { kind: 'ok' as const, text: c.t('new.sent', { org: c.org }) } };
  return {};
}

function page(reply: FastifyReply, status: number, body: Html) {
  return reply.code(status).type('text/html; charset=utf-8').send(body.value);
}

/** A browser that says where a form came from must say: this site. */
function crossSiteSafe(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin' || site === 'none';
}

function uploadReason(c: PageContext, code: string, maxBytes: number): string {
  return code === 'FST_REQ_FILE_TOO_LARGE'
    ? c.t('error.upload.too_large', { size: formatSize(maxBytes, c.language) })
    : c.t('error.upload.too_many', { count: MAX_FILES });
}

function refusalText(c: PageContext, refusal: ReplyRefusal, limits: UploadLimits): string {
  switch (refusal.kind) {
    case 'too_large':
      return c.t('error.upload.too_large', { size: refusal.size });
    case 'too_many':
      return c.t('error.upload.too_many', { count: MAX_FILES });
    default:
      return c.t(`error.upload.${refusal.kind}`, {
        name: refusal.name,
        types: acceptedExtensions(limits.types),
      });
  }
}

/** d••••@example.org: enough to recognise, not enough to learn. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return `${address.slice(0, 1)}••••${address.slice(at)}`;
}

/** RFC 6266: an ASCII fallback and the real name in UTF-8. */
function contentDisposition(kind: 'attachment' | 'inline', filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

function randomSecret(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
}
