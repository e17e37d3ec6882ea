import formbody from '@fastify/formbody';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditInput } from '../audit/index.ts';
import type { Keyring } from '../crypto/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import type { HttpServer } from '../http/index.ts';
import { loadMessage, openContent } from '../messages/index.ts';
import { suppress } from '../suppressions/index.ts';
import { trackedLinks } from './links.ts';
import { engagementEvent, linkedRecipient } from './record.ts';
import type { EngagementKeys } from './tokens.ts';

// The public end of tracked mail: /t/c/<token> (a click: redirect to the real destination),
// /t/o/<token> (an open: a 1×1 image), /u/<token> (unsubscribe: a page with one button, and the
// RFC 8058 one-click POST that mail clients send). Links are verified before anything is read.

export interface EngagementDeps {
  db: Db;
  keyring: Keyring;
  keys: EngagementKeys;
  stageAudit(q: Queryable, records: AuditInput | AuditInput[]): Promise<unknown>;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
}

const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const options = { config: { public: true }, schema: { hide: true } } as const;
type TokenRequest = FastifyRequest<{ Params: { token: string } }>;

const page = (reply: FastifyReply, status: number, title: string, body: string) =>
  reply
    .code(status)
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title><link rel="stylesheet" href="/portal/assets/portal.css"></head><body><main id="content"><div class="card">${body}</div></main></body></html>`,
    );

const invalid = (reply: FastifyReply) =>
  page(
    reply,
    404,
    'This link does not work',
    '<h1>This link does not work</h1><p>It may be incomplete or mistyped. Open it again from the email you received.</p>',
  );

export function engagementRoutes(deps: EngagementDeps) {
  return async (app: HttpServer) => {
    app.get('/t/c/:token', options, async (request: TokenRequest, reply) => {
      const claims = await deps.keys.verify(request.params.token, 'click');
      const recipient = claims && (await linkedRecipient(deps.db, claims.orgId, claims.recipientId));
      if (!claims || !recipient) return invalid(reply);
      const content = await openContent(
        deps.keyring,
        await loadMessage(deps.db, claims.orgId, recipient.messageId),
      );
      const destination = trackedLinks(content.html ?? '')[claims.position];
      if (!destination) return invalid(reply);
      // The destination is not recorded: a URL can carry PHI. Its position is enough to report on.
      await deps.stageAudit(
        deps.db,
        engagementEvent(recipient, 'link.clicked', { link: claims.position }, request.ip),
      );
      return reply.redirect(destination, 302);
    });

    app.get('/t/o/:token', options, async (request: TokenRequest, reply) => {
      const claims = await deps.keys.verify(request.params.token, 'open');
      const recipient = claims && (await linkedRecipient(deps.db, claims.orgId, claims.recipientId));
      if (!claims || !recipient) return reply.code(404).send();
      await deps.stageAudit(deps.db, engagementEvent(recipient, 'message.opened', {}, request.ip));
      return reply.type('image/gif').send(GIF);
    });

    await app.register(async (scope) => {
      await scope.register(formbody);

      // A GET changes nothing (link scanners follow every link): it shows the button.
      scope.get('/u/:token', options, async (request: TokenRequest, reply) => {
        const claims = await deps.keys.verify(request.params.token, 'unsubscribe');
        if (!claims || !(await linkedRecipient(deps.db, claims.orgId, claims.recipientId)))
          return invalid(reply);
        return page(
          reply,
          200,
          'Unsubscribe',
          `<h1>Unsubscribe</h1><p>Stop receiving marketing email from this sender. Messages about your care still reach you.</p><form method="post" action="/u/${request.params.token}"><button type="submit">Unsubscribe</button></form>`,
        );
      });

      // The page's button and the one-click POST of RFC 8058 (body List-Unsubscribe=One-Click) alike.
      scope.post('/u/:token', options, async (request: TokenRequest, reply) => {
        const claims = await deps.keys.verify(request.params.token, 'unsubscribe');
        const recipient = claims && (await linkedRecipient(deps.db, claims.orgId, claims.recipientId));
        if (!claims || !recipient) return invalid(reply);
        await deps.db.transaction(async (tx) => {
          await suppress(tx, claims.orgId, {
            address: recipient.address,
            reason: 'unsubscribe',
            detail: 'one-click unsubscribe',
            messageId: recipient.messageId,
          });
          await deps.audit(tx, engagementEvent(recipient, 'contact.unsubscribed', {}, request.ip));
        });
        return page(
          reply,
          200,
          'Unsubscribed',
          '<h1>You are unsubscribed</h1><p>You will not receive marketing email from this sender again.</p>',
        );
      });
    });
  };
}
