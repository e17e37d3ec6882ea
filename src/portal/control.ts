import { Type } from 'typebox';
import type { Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { auditContext, DateTime, ProblemSchema, type HttpServer } from '../http/index.ts';
import { endSessionsOf } from './sessions.ts';
import { PORTAL_MAIL_QUEUE, type PortalDeps, type PortalMailJob } from './types.ts';

// What the sender controls once a message is out: revoke it, change how long it can be read in
// the portal, send a recipient's notice again, unlock a recipient locked out by wrong codes.

/** States a recipient can be revoked from: not yet delivered, or waiting in the portal. */
const REVOCABLE = ['queued', 'delivering', 'deferred', 'portal_notified', 'expired'];

const MessageParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const RecipientParams = Type.Object({
  id: Type.String({ format: 'uuid' }),
  recipient_id: Type.String({ format: 'uuid' }),
});

export function portalControlRoutes(deps: PortalDeps) {
  return async (app: HttpServer) => {
    app.post(
      '/v1/messages/:id/revoke',
      {
        config: { scope: 'messages:revoke' },
        schema: {
          tags: ['messages'],
          summary: 'Revoke a message: nothing more is delivered and the portal shows nothing',
          description:
            'Recipients still queued or deferred are not sent to; recipients who read in the portal lose access at once (open pages included). Mail already delivered by PGP, S/MIME or TLS cannot be called back and is listed as not revoked.',
          params: MessageParams,
          body: Type.Optional(
            Type.Object(
              {
                recipients: Type.Optional(
                  Type.Array(Type.String({ format: 'uuid' }), {
                    maxItems: 1000,
                    description: 'Only these recipients (ids); all when left out',
                  }),
                ),
              },
              { additionalProperties: false },
            ),
          ),
          response: {
            200: Type.Object({
              revoked: Type.Array(Type.String()),
              not_revoked: Type.Array(Type.Object({ id: Type.String(), state: Type.String() })),
            }),
            404: ProblemSchema,
          },
        },
      },
      async (request) => {
        const orgId = request.auth.orgId;
        const messageId = request.params.id;
        const only = request.body?.recipients ?? null;
        const now = deps.clock();
        return deps.db.transaction(async (tx) => {
          const all = await recipientsOf(tx, orgId, messageId);
          const chosen = only ? all.filter((r) => only.includes(r.recipient_id)) : all;
          if (only && chosen.length !== only.length) throw errors.notFound('A recipient of this message');
          const { rows } = await tx.query<{ recipient_id: string }>(
            `UPDATE message_recipients SET state = 'revoked', updated_at = $4, finished_at = $4, next_attempt_at = NULL,
               due_at = NULL
             WHERE org_id = $1 AND message_id = $2 AND recipient_id = ANY($3::uuid[]) AND state = ANY($5::text[])
             RETURNING recipient_id`,
            [orgId, messageId, chosen.map((r) => r.recipient_id), now, REVOCABLE],
          );
          const revoked = rows.map((r) => r.recipient_id);
          await tx.query(
            `UPDATE portal_deliveries SET revoked_at = coalesce(revoked_at, $3)
             WHERE org_id = $1 AND recipient_id = ANY($2::uuid[])`,
            [orgId, revoked, now],
          );
          await endSessionsOf(tx, orgId, revoked, now);
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'message.revoked',
            objectType: 'message',
            objectId: messageId,
            outcome: 'success',
            details: { recipients: revoked, not_revoked: chosen.length - revoked.length },
          });
          return {
            revoked,
            not_revoked: chosen
              .filter((r) => !revoked.includes(r.recipient_id))
              .map((r) => ({ id: r.recipient_id, state: r.state })),
          };
        });
      },
    );

    app.patch(
      '/v1/messages/:id/portal',
      {
        config: { scope: 'messages:revoke' },
        schema: {
          tags: ['messages'],
          summary: 'Change until when the message can be read in the portal',
          description:
            'Applies to every recipient who reads in the portal and was not revoked. A later date also reopens a message that had expired.',
          params: MessageParams,
          body: Type.Object({ expires_at: DateTime }, { additionalProperties: false }),
          response: {
            200: Type.Object({ expires_at: DateTime, recipients: Type.Array(Type.String()) }),
            404: ProblemSchema,
            422: ProblemSchema,
          },
        },
      },
      async (request) => {
        const orgId = request.auth.orgId;
        const messageId = request.params.id;
        const expiresAt = new Date(request.body.expires_at as unknown as string);
        const now = deps.clock();
        if (expiresAt <= now)
          throw errors.validation('expires_at must be in the future; to end access now, revoke.');
        return deps.db.transaction(async (tx) => {
          await recipientsOf(tx, orgId, messageId);
          const { rows } = await tx.query<{ recipient_id: string }>(
            `UPDATE portal_deliveries d SET expires_at = $3
             FROM message_recipients r
             WHERE d.org_id = $1 AND r.org_id = d.org_id AND r.recipient_id = d.recipient_id AND r.message_id = $2
               AND d.revoked_at IS NULL AND r.state <> 'revoked'
             RETURNING d.recipient_id`,
            [orgId, messageId, expiresAt],
          );
          const ids = rows.map((r) => r.recipient_id);
          await tx.query(
            `UPDATE message_recipients SET state = 'portal_notified', updated_at = $3
             WHERE org_id = $1 AND recipient_id = ANY($2::uuid[]) AND state = 'expired'`,
            [orgId, ids, now],
          );
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'message.portal_expiry_changed',
            objectType: 'message',
            objectId: messageId,
            outcome: 'success',
            details: { expires_at: expiresAt.toISOString(), recipients: ids.length },
          });
          return { expires_at: expiresAt, recipients: ids };
        });
      },
    );

    app.post(
      '/v1/messages/:id/recipients/:recipient_id/notice',
      {
        config: { scope: 'messages:revoke' },
        schema: {
          tags: ['messages'],
          summary: 'Send a portal recipient their notice again (same link)',
          params: RecipientParams,
          response: { 202: Type.Object({ queued: Type.Boolean() }), 404: ProblemSchema, 409: ProblemSchema },
        },
      },
      async (request, reply) => {
        const { orgId } = request.auth;
        await deps.db.transaction(async (tx) => {
          const d = await portalRecipient(tx, orgId, request.params.id, request.params.recipient_id);
          if (d.revoked_at || d.state === 'revoked' || d.expires_at <= deps.clock())
            throw errors.conflict(
              'portal_closed',
              'This recipient can no longer read the message (revoked or expired).',
            );
          await enqueue(tx, { org_id: orgId, recipient_id: request.params.recipient_id, kind: 'notice' });
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'portal.notice_resent',
            objectType: 'message',
            objectId: request.params.id,
            outcome: 'success',
            details: { recipient_id: request.params.recipient_id },
          });
        });
        return reply.code(202).send({ queued: true });
      },
    );

    app.post(
      '/v1/messages/:id/recipients/:recipient_id/unlock',
      {
        config: { scope: 'messages:revoke' },
        schema: {
          tags: ['messages'],
          summary: 'Unlock a portal recipient locked out after wrong codes or passphrases',
          params: RecipientParams,
          response: { 200: Type.Object({ unlocked: Type.Boolean() }), 404: ProblemSchema },
        },
      },
      async (request) => {
        const { orgId } = request.auth;
        return deps.db.transaction(async (tx) => {
          const d = await portalRecipient(tx, orgId, request.params.id, request.params.recipient_id);
          await tx.query(
            `UPDATE portal_deliveries SET locked_at = NULL, failed_attempts = 0 WHERE org_id = $1 AND recipient_id = $2`,
            [orgId, request.params.recipient_id],
          );
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'portal.unlocked',
            objectType: 'message',
            objectId: request.params.id,
            outcome: 'success',
            details: { recipient_id: request.params.recipient_id, was_locked: d.locked_at !== null },
          });
          return { unlocked: d.locked_at !== null };
        });
      },
    );
  };

  function enqueue(tx: Queryable, job: PortalMailJob) {
    return deps.queue.sendMany(PORTAL_MAIL_QUEUE, [{ data: job }], { tx });
  }
}

async function recipientsOf(q: Queryable, orgId: string, messageId: string) {
  const { rows } = await q.query<{ recipient_id: string; state: string }>(
    'SELECT recipient_id, state FROM message_recipients WHERE org_id = $1 AND message_id = $2 ORDER BY position',
    [orgId, messageId],
  );
  if (rows.length === 0) throw errors.notFound('The message');
  return rows;
}

async function portalRecipient(q: Queryable, orgId: string, messageId: string, recipientId: string) {
  const { rows } = await q.query<{
    state: string;
    revoked_at: Date | null;
    locked_at: Date | null;
    expires_at: Date;
  }>(
    `SELECT r.state, d.revoked_at, d.locked_at, d.expires_at
     FROM message_recipients r JOIN portal_deliveries d USING (org_id, recipient_id)
     WHERE r.org_id = $1 AND r.message_id = $2 AND r.recipient_id = $3`,
    [orgId, messageId, recipientId],
  );
  if (!rows[0]) throw errors.notFound('A portal recipient of this message');
  return rows[0];
}

/** Recipients whose time in the portal ran out: marked expired, their sessions ended. */
export async function expirePortalDeliveries(
  deps: Pick<PortalDeps, 'db' | 'stageAudit' | 'clock'>,
): Promise<number> {
  const now = deps.clock();
  return deps.db.transaction(async (tx) => {
    const { rows } = await tx.query<{ org_id: string; recipient_id: string; message_id: string }>(
      `UPDATE message_recipients r SET state = 'expired', updated_at = $1
       FROM portal_deliveries d
       WHERE d.org_id = r.org_id AND d.recipient_id = r.recipient_id AND r.state = 'portal_notified' AND d.expires_at <= $1
       RETURNING r.org_id, r.recipient_id, r.message_id`,
      [now],
    );
    for (const row of rows) await endSessionsOf(tx, row.org_id, [row.recipient_id], now);
    await deps.stageAudit(
      tx,
      rows.map((row) => ({
        orgId: row.org_id,
        actor: { type: 'system' as const, id: 'portal', label: 'portal' },
        action: 'message.expired',
        objectType: 'message',
        objectId: row.message_id,
        outcome: 'success' as const,
        details: { recipient_id: row.recipient_id },
      })),
    );
    return rows.length;
  });
}
