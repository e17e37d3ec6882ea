import { Type } from 'typebox';
import type { Keyring } from '../crypto/index.ts';
import type { Db } from '../db/index.ts';
import { problemOf, auditContext, Nullable, ProblemSchema, type HttpServer } from '../http/index.ts';
import { requestHash } from './idempotency.ts';
import { type KeyLookup, previewMessage } from './preview.ts';
import { getMessage, listMessages } from './read.ts';
import { type SubmitDeps, submitMessage, submitMessages } from './submit.ts';
import {
  DlpSchema,
  MessageDetailSchema,
  MessageRequestSchema,
  MessageSummarySchema,
  RECIPIENT_STATES,
} from './types.ts';

export interface MessageDeps extends SubmitDeps {
  db: Db;
  keyring: Keyring;
  findKeys: KeyLookup;
  clock: () => Date;
}

const AcceptedSchema = Type.Object({
  id: Type.String(),
  status: Type.String({ description: 'queued, or scheduled when send_at is in the future' }),
  rfc_message_id: Type.String(),
  recipients: Type.Array(
    Type.Object({ id: Type.String(), address: Type.String(), kind: Type.String(), state: Type.String() }),
  ),
  dlp: Type.Pick(DlpSchema, ['phi', 'findings']),
});

const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      description:
        'Makes retries safe: the same key and body return the first answer; another body is a 409.',
    }),
  ),
});

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export function messageRoutes(deps: MessageDeps) {
  return async (app: HttpServer) => {
    app.post(
      '/v1/messages',
      {
        config: { scope: 'messages:send' },
        schema: {
          tags: ['messages'],
          summary: 'Send a message: each recipient is protected by the best method they can take',
          description:
            'Accepted messages are sealed at rest and queued. SecureLine chooses per recipient, at delivery time: OpenPGP, S/MIME, enforced TLS, or the secure portal.',
          headers: IdempotencyHeaders,
          body: MessageRequestSchema,
          response: { 202: AcceptedSchema, 409: ProblemSchema, 413: ProblemSchema, 422: ProblemSchema },
        },
      },
      async (request, reply) => {
        const key = request.headers['idempotency-key'];
        const accepted = await submitMessage(
          deps,
          request.body,
          auditContext(request),
          key ? { scope: 'messages', key, hash: requestHash(request.body) } : undefined,
        );
        return reply.code(202).send(accepted);
      },
    );

    app.post(
      '/v1/messages/batch',
      {
        config: { scope: 'messages:send' },
        schema: {
          tags: ['messages'],
          summary: 'Send up to 1,000 messages; each is accepted or refused on its own',
          description:
            'With an Idempotency-Key, message i of the batch is remembered under "<key>:<i>", so a retried batch sends nothing twice.',
          headers: IdempotencyHeaders,
          body: Type.Object(
            { messages: Type.Array(MessageRequestSchema, { minItems: 1, maxItems: 1000 }) },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              accepted: Type.Integer(),
              refused: Type.Integer(),
              results: Type.Array(
                Type.Object({
                  index: Type.Integer(),
                  status: Type.Integer(),
                  message: Type.Optional(AcceptedSchema),
                  problem: Type.Optional(ProblemSchema),
                }),
              ),
            }),
          },
        },
      },
      async (request) => {
        const key = request.headers['idempotency-key'];
        const outcomes = await submitMessages(
          deps,
          request.body.messages.map((body, index) => ({
            request: body,
            ...(key
              ? { idempotency: { scope: 'messages.batch', key: `${key}:${index}`, hash: requestHash(body) } }
              : {}),
          })),
          auditContext(request),
        );
        const results = outcomes.map((o, index) =>
          'error' in o
            ? { index, status: o.status, problem: problemOf(o.error) }
            : { index, status: o.status, message: o.body },
        );
        const accepted = results.filter((r) => r.status === 202).length;
        return { accepted, refused: results.length - accepted, results };
      },
    );

    app.post(
      '/v1/messages/preview',
      {
        config: { scope: 'messages:send' },
        schema: {
          tags: ['messages'],
          summary:
            'Dry run: per recipient the method SecureLine would choose now and why, and the DLP findings',
          body: MessageRequestSchema,
          response: {
            200: Type.Object({
              sendable: Type.Boolean(),
              problem: Nullable(ProblemSchema),
              dlp: DlpSchema,
              recipients: Type.Array(
                Type.Object({
                  address: Type.String(),
                  kind: Type.String(),
                  method: Type.String(),
                  tls: Nullable(Type.String()),
                  reason: Type.String(),
                  fallback: Nullable(Type.String()),
                }),
              ),
            }),
            413: ProblemSchema,
            422: ProblemSchema,
          },
        },
      },
      async (request) => previewMessage(deps, request.auth.orgId, request.body, deps.clock()),
    );

    app.get(
      '/v1/messages',
      {
        config: { scope: 'messages:read' },
        schema: {
          tags: ['messages'],
          summary: 'Messages, newest first, with every recipient’s state',
          querystring: Type.Object(
            {
              status: Type.Optional(
                Type.Union(
                  RECIPIENT_STATES.map((s) => Type.Literal(s)),
                  { description: 'Messages with at least one recipient in this state' },
                ),
              ),
              since: Type.Optional(Type.String({ format: 'date-time' })),
              tag: Type.Optional(Type.String({ maxLength: 64 })),
              cursor: Type.Optional(Type.String({ maxLength: 200 })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              data: Type.Array(MessageSummarySchema),
              next_cursor: Nullable(Type.String()),
            }),
            400: ProblemSchema,
          },
        },
      },
      async (request) =>
        listMessages(
          deps.db,
          request.auth.orgId,
          {
            limit: request.query.limit ?? 50,
            ...(request.query.status ? { state: request.query.status } : {}),
            ...(request.query.since ? { since: new Date(request.query.since) } : {}),
            ...(request.query.tag ? { tag: request.query.tag } : {}),
            ...(request.query.cursor ? { cursor: request.query.cursor } : {}),
          },
          deps.clock(),
        ),
    );

    app.get(
      '/v1/messages/:id',
      {
        config: { scope: 'messages:read' },
        schema: {
          tags: ['messages'],
          summary:
            'One message: per recipient the state, the method and why, the remote server’s reply, every attempt',
          params: IdParams,
          response: { 200: MessageDetailSchema, 404: ProblemSchema },
        },
      },
      async (request) =>
        getMessage(deps.db, deps.keyring, request.auth.orgId, request.params.id, deps.clock()),
    );
  };
}
