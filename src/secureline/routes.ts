import { Type } from 'typebox';
import type { AuditInput } from '../audit/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { auditContext, Nullable, type HttpServer } from '../http/index.ts';
import { KNOWN_UPLOAD_TYPES } from '../portal/index.ts';
import { loadPolicy, type SecurelinePolicy } from './policy.ts';

export interface PolicyDeps {
  db: Db;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  /** Called after a change, so cached copies are dropped at once in this process. */
  changed?(orgId: string): void;
}

const fields = {
  tls_for_phi: Type.Boolean({
    description:
      'Enforced TLS (1.2+, verified certificate) alone may carry a message with PHI. Off: the portal instead.',
  }),
  opportunistic_tls_without_phi: Type.Boolean({
    description: 'A message in which DLP found no PHI may go over unverified TLS, or none. Off by default.',
  }),
  smime_algorithm: Type.Union([Type.Literal('aes-256-gcm'), Type.Literal('aes-256-cbc')], {
    description: 'aes-256-gcm (AuthEnvelopedData, RFC 8551) or aes-256-cbc for older mail clients',
  }),
  hide_subject: Type.Boolean({
    description: 'PGP and S/MIME mail shows "Encrypted message" outside; the real subject travels inside.',
  }),
  portal_expiry_days: Nullable(
    Type.Integer({
      minimum: 1,
      maximum: 3650,
      description: 'null: the server default (SEALPOST_PORTAL_EXPIRY_DAYS)',
    }),
  ),
  portal_verification: Type.Union([Type.Literal('email'), Type.Literal('sms'), Type.Literal('passphrase')], {
    description:
      'How portal recipients prove who they are unless a message says: a code by email (default), by SMS, or a passphrase',
  }),
  portal_replies: Type.Union([Type.Literal('none'), Type.Literal('sender'), Type.Literal('all')], {
    description:
      'Who a reply written in the portal reaches unless a message says: no one, the sender (default), or all',
  }),
  portal_inbox: Nullable(
    Type.String({
      format: 'email',
      maxLength: 254,
      description:
        'An address at a verified sending domain that receives new secure messages recipients start in the portal; null (default): they can only reply',
    }),
  ),
  notice_subject: Type.Boolean({
    description: 'The portal notice shows the subject when DLP found no PHI in it. Off by default.',
  }),
  portal_upload_types: Type.Array(Type.Enum(KNOWN_UPLOAD_TYPES), {
    uniqueItems: true,
    description:
      'The types of file recipients may attach to a reply or a new message in the portal, each recognised from the file’s content and required to carry its own extension: pdf, jpeg, png, gif, webp, heic, tiff, text (UTF-8 without markup), docx, xlsx, pptx (without macros, ActiveX, OLE objects or external templates). Default: all of them; [] refuses every file.',
  }),
};
const PolicySchema = Type.Object(fields);
const PolicyChange = Type.Partial(Type.Object(fields, { additionalProperties: false }), {
  additionalProperties: false,
});

export function policyRoutes(deps: PolicyDeps) {
  return async (app: HttpServer) => {
    app.get(
      '/v1/policies/secureline',
      {
        config: { scope: 'policy:read' },
        schema: {
          tags: ['policy'],
          summary: 'How SecureLine protects this organisation’s mail',
          response: { 200: PolicySchema },
        },
      },
      async (request) => loadPolicy(deps.db, request.auth.orgId),
    );

    app.patch(
      '/v1/policies/secureline',
      {
        config: { scope: 'policy:manage', recentAuth: true },
        schema: {
          tags: ['policy'],
          summary: 'Change SecureLine policy; fields left out keep their value',
          body: PolicyChange,
          response: { 200: PolicySchema },
        },
      },
      async (request) => {
        const orgId = request.auth.orgId;
        const updated = await deps.db.transaction(async (tx) => {
          const before = await loadPolicy(tx, orgId);
          const after: SecurelinePolicy = { ...before, ...request.body };
          await tx.query(
            `INSERT INTO secureline_policies (org_id, tls_for_phi, opportunistic_tls_without_phi, smime_algorithm,
               hide_subject, portal_expiry_days, portal_verification, portal_replies, notice_subject, portal_inbox,
               portal_upload_types, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
             ON CONFLICT (org_id) DO UPDATE SET tls_for_phi = $2, opportunistic_tls_without_phi = $3,
               smime_algorithm = $4, hide_subject = $5, portal_expiry_days = $6, portal_verification = $7,
               portal_replies = $8, notice_subject = $9, portal_inbox = $10, portal_upload_types = $11,
               updated_at = now()`,
            [
              orgId,
              after.tls_for_phi,
              after.opportunistic_tls_without_phi,
              after.smime_algorithm,
              after.hide_subject,
              after.portal_expiry_days,
              after.portal_verification,
              after.portal_replies,
              after.notice_subject,
              after.portal_inbox?.toLowerCase() ?? null,
              after.portal_upload_types,
            ],
          );
          const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
          const changes = Object.fromEntries(
            Object.keys(request.body)
              .filter((k) => !same(before[k as keyof SecurelinePolicy], after[k as keyof SecurelinePolicy]))
              .map((k) => [
                k,
                { from: before[k as keyof SecurelinePolicy], to: after[k as keyof SecurelinePolicy] },
              ]),
          );
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'policy.updated',
            objectType: 'secureline_policy',
            objectId: orgId,
            outcome: 'success',
            details: { changes },
          });
          return after;
        });
        deps.changed?.(orgId);
        return updated;
      },
    );
  };
}
