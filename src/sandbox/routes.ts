import { Type } from 'typebox';
import type { Keyring } from '../crypto/index.ts';
import type { Db } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { DateTime, Nullable, ProblemSchema, type HttpServer } from '../http/index.ts';
import { captureBinding } from './capture.ts';

export interface SandboxDeps {
  db: Db;
  keyring: Keyring;
  mode: 'sandbox' | 'production';
}

const Capture = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal('message'), Type.Literal('portal'), Type.Literal('staff')], {
    description:
      'message: a delivery of a submitted message (its portal notice included); portal: mail the portal wrote about one (a code, a notice sent again, an alert to the sender); staff: mail to staff about their accounts (invitations, new-device notices, break-glass alerts), listed only for users:manage and with its access links masked',
  }),
  captured_at: DateTime,
  message_id: Type.String(),
  recipient_id: Type.String(),
  recipient: Type.String(),
  envelope_from: Type.String(),
  method: Nullable(Type.String({ description: 'pgp, smime, tls or portal (a portal notice)' })),
  method_reason: Nullable(Type.String()),
  tls: Type.String({ description: 'The TLS version the simulated server offered, or none' }),
  size_bytes: Type.Integer(),
});

interface CaptureRow {
  [k: string]: unknown;
  id: string;
  captured_at: Date;
  raw_sealed: Buffer;
}

const SELECT = `SELECT c.capture_id AS id, c.kind, c.captured_at, c.message_id, c.recipient_id, c.recipient, c.envelope_from,
    r.method, r.method_reason, c.tls, c.size_bytes`;
const FROM = `FROM sandbox_captures c
  LEFT JOIN message_recipients r ON r.org_id = c.org_id AND r.recipient_id = c.recipient_id`;

/**
 * Mail to staff is for those who manage staff: an invitation read by a sender would make them
 * whatever the invitation offers (its link is masked in the capture all the same).
 */
const seesStaffMail = (scopes: readonly string[]) => scopes.includes('users:manage');

export function sandboxRoutes(deps: SandboxDeps) {
  return async (app: HttpServer) => {
    app.get(
      '/v1/sandbox/messages',
      {
        config: { scope: 'sandbox:read' },
        schema: {
          tags: ['sandbox'],
          summary: 'What the sandbox captured instead of sending, newest first',
          description:
            'In sandbox mode (SEALPOST_MODE=sandbox) every message runs the whole pipeline and is kept here, encrypted and signed exactly as it would have left. Mail to staff (kind staff) is listed only for those with users:manage, and its access links are masked in the capture.',
          querystring: Type.Object(
            {
              message_id: Type.Optional(Type.String({ format: 'uuid' })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ mode: Type.String(), data: Type.Array(Capture) }) },
        },
      },
      async (request) => {
        const { rows } = await deps.db.query(
          `${SELECT} ${FROM} WHERE c.org_id = $1 AND ($2::uuid IS NULL OR c.message_id = $2)
             AND (c.kind <> 'staff' OR $4)
           ORDER BY c.captured_at DESC, c.capture_id DESC LIMIT $3`,
          [
            request.auth.orgId,
            request.query.message_id ?? null,
            request.query.limit ?? 50,
            seesStaffMail(request.auth.scopes),
          ],
        );
        return { mode: deps.mode, data: rows as never };
      },
    );

    app.get(
      '/v1/sandbox/messages/:id',
      {
        config: { scope: 'sandbox:read' },
        schema: {
          tags: ['sandbox'],
          summary: 'One capture with its raw source as it would have left (ciphertext for PGP and S/MIME)',
          params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
          response: {
            200: Type.Intersect([
              Capture,
              Type.Object({ raw: Type.String({ description: 'RFC 5322 source' }) }),
            ]),
            404: ProblemSchema,
          },
        },
      },
      async (request) => {
        const { rows } = await deps.db.query<CaptureRow>(
          `${SELECT}, c.raw_sealed ${FROM} WHERE c.org_id = $1 AND c.capture_id = $2
             AND (c.kind <> 'staff' OR $3)`,
          [request.auth.orgId, request.params.id, seesStaffMail(request.auth.scopes)],
        );
        const row = rows[0];
        if (!row) throw errors.notFound('The capture');
        const { raw_sealed, ...capture } = row;
        const raw = await deps.keyring.open(request.auth.orgId, captureBinding(row.id), raw_sealed);
        return { ...(capture as Record<string, unknown>), raw: raw.toString('latin1') } as never;
      },
    );
  };
}
