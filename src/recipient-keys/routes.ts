import { Type } from 'typebox';
import type { AuditInput } from '../audit/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { auditContext, DateTime, Nullable, ProblemSchema, type HttpServer } from '../http/index.ts';
import { normalizeAddress, parseRecipientKey } from './parse.ts';
import {
  addRecipientKey,
  deleteRecipientKey,
  getRecipientKey,
  listRecipientKeys,
  type StoredKey,
} from './store.ts';

export interface RecipientKeyDeps {
  db: Db;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  clock?: () => Date;
}

const RecipientKey = Type.Object({
  id: Type.String({ format: 'uuid' }),
  address: Type.String(),
  kind: Type.Union([Type.Literal('pgp'), Type.Literal('smime')], {
    description: 'pgp: an OpenPGP public key (PGP/MIME); smime: an X.509 certificate (S/MIME).',
  }),
  fingerprint: Type.String({
    description: "OpenPGP: the primary key's fingerprint; S/MIME: SHA-256 of the certificate. Hex.",
  }),
  algorithm: Type.String({ description: 'The encryption key, e.g. rsa-3072, ecdh-curve25519Legacy.' }),
  expires_at: Nullable(DateTime),
  created_at: DateTime,
});

const WithKey = Type.Intersect([
  RecipientKey,
  Type.Object({ key: Type.String({ description: 'Armored OpenPGP public key, or PEM certificate.' }) }),
]);

const Params = Type.Object({
  id: Type.String({
    pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
  }),
});

const view = (key: StoredKey) => ({
  id: key.id,
  address: key.address,
  kind: key.kind,
  fingerprint: key.fingerprint,
  algorithm: key.algorithm,
  expires_at: key.expiresAt,
  created_at: key.createdAt,
});

export function recipientKeyRoutes(deps: RecipientKeyDeps) {
  const clock = deps.clock ?? (() => new Date());

  return async (app: HttpServer) => {
    app.post(
      '/v1/recipient-keys',
      {
        config: { scope: 'recipient_keys:manage' },
        schema: {
          tags: ['recipient keys'],
          summary: "Add a recipient's OpenPGP public key or S/MIME certificate, checked before it is kept",
          description:
            'The key must be usable now to encrypt to the address: not expired or revoked, an encryption (sub)key, a user ID or certificate address that is the address, RSA of 2048 bits or more; a certificate needs an RSA key and, when it has them, keyEncipherment and emailProtection. Private keys are refused.',
          body: Type.Object(
            {
              address: Type.String({ minLength: 3, maxLength: 320 }),
              key: Type.String({
                minLength: 1,
                maxLength: 200_000,
                description: 'An armored OpenPGP public key, or an X.509 certificate in PEM or base64 DER.',
              }),
            },
            { additionalProperties: false },
          ),
          response: { 201: RecipientKey, 409: ProblemSchema, 422: ProblemSchema },
        },
      },
      async (request, reply) => {
        const address = normalizeAddress(request.body.address);
        const now = clock();
        const parsed = await parseRecipientKey(request.body.key, address, now);
        const key = await deps.db.transaction(async (tx) => {
          const added = await addRecipientKey(tx, request.auth.orgId, {
            address,
            parsed,
            createdBy: request.auth.actor,
            now,
          });
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'recipient_key.created',
            objectType: 'recipient_key',
            objectId: added.id,
            outcome: 'success',
            details: { kind: added.kind, fingerprint: added.fingerprint },
          });
          return added;
        });
        reply.code(201);
        return view(key);
      },
    );

    app.get(
      '/v1/recipient-keys',
      {
        config: { scope: 'recipient_keys:read' },
        schema: {
          tags: ['recipient keys'],
          summary: 'Recipient keys, newest first, optionally for one address',
          querystring: Type.Object(
            {
              address: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, description: 'Default 50.' })),
              cursor: Type.Optional(
                Type.String({ maxLength: 200, description: 'next_cursor of the previous page.' }),
              ),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ data: Type.Array(RecipientKey), next_cursor: Nullable(Type.String()) }),
            400: ProblemSchema,
          },
        },
      },
      async (request) => {
        const { address, cursor, limit } = request.query;
        const page = await listRecipientKeys(deps.db, request.auth.orgId, {
          address,
          cursor,
          limit: limit ?? 50,
        });
        return { data: page.keys.map(view), next_cursor: page.nextCursor };
      },
    );

    app.get(
      '/v1/recipient-keys/:id',
      {
        config: { scope: 'recipient_keys:read' },
        schema: {
          tags: ['recipient keys'],
          summary: 'One recipient key, with the key itself',
          params: Params,
          response: { 200: WithKey, 404: ProblemSchema },
        },
      },
      async (request) => {
        const key = await getRecipientKey(deps.db, request.auth.orgId, request.params.id);
        if (!key) throw errors.notFound('The recipient key');
        return { ...view(key), key: key.key };
      },
    );

    app.delete(
      '/v1/recipient-keys/:id',
      {
        config: { scope: 'recipient_keys:manage' },
        schema: {
          tags: ['recipient keys'],
          summary: 'Remove a recipient key: mail to the address no longer uses it',
          params: Params,
          response: { 204: Type.Null(), 404: ProblemSchema },
        },
      },
      async (request, reply) => {
        await deps.db.transaction(async (tx) => {
          const removed = await deleteRecipientKey(tx, request.auth.orgId, request.params.id);
          if (!removed) throw errors.notFound('The recipient key');
          await deps.audit(tx, {
            ...auditContext(request),
            action: 'recipient_key.deleted',
            objectType: 'recipient_key',
            objectId: removed.id,
            outcome: 'success',
            details: { kind: removed.kind, fingerprint: removed.fingerprint },
          });
        });
        reply.code(204);
      },
    );
  };
}
