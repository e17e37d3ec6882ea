import { Type } from 'typebox';
import { EventTypeSchema } from '../events/index.ts';
import { auditContext, DateTime, Nullable, ProblemSchema, type HttpServer } from '../http/index.ts';
import { listAttempts, replayEvents, sendTestEvent } from './deliveries.ts';
import {
  createEndpoint,
  deleteEndpoint,
  endpointView,
  getEndpoint,
  listEndpoints,
  rotateSecret,
  updateEndpoint,
} from './endpoints.ts';
import type { WebhookDeps } from './types.ts';

const Url = Type.String({
  minLength: 8,
  maxLength: 2048,
  description:
    'Where events are POSTed: https:// (http:// only where the operator allows it), on a public address; redirects are not followed.',
});
const Description = Type.String({ maxLength: 200 });
const EventTypes = Nullable(
  Type.Array(EventTypeSchema, {
    minItems: 1,
    maxItems: 100,
    description: 'The event types wanted; null or left out: every type, including those added later.',
  }),
);
const IncludePhi = Type.Boolean({
  description:
    "Events to this endpoint carry PHI: the recipient's address (recipient_address). Off by default; turn on only for a receiver covered by your BAA.",
});

const EndpointSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    url: Type.String(),
    description: Type.String(),
    event_types: Nullable(Type.Array(Type.String())),
    include_phi: Type.Boolean(),
    enabled: Type.Boolean(),
    disabled_reason: Nullable(Type.String()),
    disabled_at: Nullable(DateTime),
    consecutive_failures: Type.Integer({ description: 'Failed attempts since the last success.' }),
    failing_since: Nullable(DateTime),
    last_success_at: Nullable(DateTime),
    previous_secret_expires_at: Nullable(
      Type.Unsafe<Date>({
        type: 'string',
        format: 'date-time',
        description: 'After a rotation: until when the previous secret still signs beside the new one.',
      }),
    ),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { additionalProperties: false },
);

const Secret = Type.String({
  pattern: '^whsec_[A-Za-z0-9+/]+={0,2}$',
  description: 'The signing secret (Standard Webhooks): shown this once, keep it safe.',
});

const CreatedSchema = Type.Intersect([EndpointSchema, Type.Object({ secret: Secret })]);

const AttemptSchema = Type.Object(
  {
    id: Type.String({ description: 'Increasing: newer attempts have larger ids.' }),
    delivery_id: Type.String({ format: 'uuid' }),
    event_id: Type.String({ format: 'uuid', description: 'The event (webhook-id).' }),
    event_type: Type.String(),
    kind: Type.String({ description: 'event, replay or test' }),
    attempt: Type.Integer({ minimum: 1 }),
    started_at: DateTime,
    duration_ms: Type.Integer(),
    status: Nullable(Type.Integer({ description: 'The HTTP status; null when no answer came.' })),
    error: Nullable(Type.String()),
    delivery_state: Type.String({
      description: 'pending (a retry is due at next_attempt_at), succeeded or failed',
    }),
    next_attempt_at: Nullable(DateTime),
  },
  { additionalProperties: false },
);

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export function webhookRoutes(deps: WebhookDeps) {
  return async (app: HttpServer) => {
    app.post(
      '/v1/webhooks',
      {
        config: { scope: 'webhooks:manage' },
        schema: {
          tags: ['webhooks'],
          summary: 'Add a webhook endpoint; the answer holds its signing secret, shown once',
          description:
            "Events are POSTed as JSON, signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature), at least once, retried over about 3.6 days. The URL's host must resolve to public addresses only.",
          body: Type.Object(
            {
              url: Url,
              description: Type.Optional(Description),
              event_types: Type.Optional(EventTypes),
              include_phi: Type.Optional(IncludePhi),
            },
            { additionalProperties: false },
          ),
          response: { 201: CreatedSchema, 409: ProblemSchema, 422: ProblemSchema },
        },
      },
      async (request, reply) => {
        const { endpoint, secret } = await createEndpoint(deps, auditContext(request), request.body);
        return reply.code(201).send({ ...endpointView(endpoint), secret });
      },
    );

    app.get(
      '/v1/webhooks',
      {
        config: { scope: 'webhooks:read' },
        schema: {
          tags: ['webhooks'],
          summary: 'Webhook endpoints, oldest first',
          response: { 200: Type.Object({ data: Type.Array(EndpointSchema) }) },
        },
      },
      async (request) => ({
        data: (await listEndpoints(deps.db, request.auth.orgId, deps.clock())).map(endpointView),
      }),
    );

    app.get(
      '/v1/webhooks/:id',
      {
        config: { scope: 'webhooks:read' },
        schema: {
          tags: ['webhooks'],
          summary: 'One webhook endpoint, with its health',
          params: IdParams,
          response: { 200: EndpointSchema, 404: ProblemSchema },
        },
      },
      async (request) =>
        endpointView(await getEndpoint(deps.db, request.auth.orgId, request.params.id, deps.clock())),
    );

    app.patch(
      '/v1/webhooks/:id',
      {
        config: { scope: 'webhooks:manage' },
        schema: {
          tags: ['webhooks'],
          summary: 'Change a webhook endpoint, or enable it again (deliveries still owed resume)',
          params: IdParams,
          body: Type.Object(
            {
              url: Type.Optional(Url),
              description: Type.Optional(Description),
              event_types: Type.Optional(EventTypes),
              include_phi: Type.Optional(IncludePhi),
              enabled: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: EndpointSchema, 404: ProblemSchema, 422: ProblemSchema },
        },
      },
      async (request) =>
        endpointView(await updateEndpoint(deps, auditContext(request), request.params.id, request.body)),
    );

    app.delete(
      '/v1/webhooks/:id',
      {
        config: { scope: 'webhooks:manage' },
        schema: {
          tags: ['webhooks'],
          summary: 'Remove a webhook endpoint, its secrets, what it is still owed and its delivery log',
          params: IdParams,
          response: { 204: Type.Null(), 404: ProblemSchema },
        },
      },
      async (request, reply) => {
        await deleteEndpoint(deps, auditContext(request), request.params.id);
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/v1/webhooks/:id/rotate-secret',
      {
        config: { scope: 'webhooks:manage' },
        schema: {
          tags: ['webhooks'],
          summary: 'A new signing secret, shown once; the previous one keeps signing during the overlap',
          description:
            'During the overlap every request carries both signatures, space-separated in webhook-signature, so receivers verifying with either secret accept it.',
          params: IdParams,
          body: Type.Optional(
            Type.Object(
              {
                overlap_hours: Type.Optional(
                  Type.Integer({
                    minimum: 0,
                    maximum: 168,
                    description: 'How long the secrets valid now keep signing (default 24; 0: stop at once).',
                  }),
                ),
              },
              { additionalProperties: false },
            ),
          ),
          response: {
            200: Type.Object({
              secret: Secret,
              previous_secret_expires_at: Nullable(DateTime),
            }),
            404: ProblemSchema,
          },
        },
      },
      async (request) =>
        rotateSecret(deps, auditContext(request), request.params.id, request.body?.overlap_hours ?? 24),
    );

    app.post(
      '/v1/webhooks/:id/test',
      {
        config: { scope: 'webhooks:manage' },
        schema: {
          tags: ['webhooks'],
          summary: 'Send the endpoint a test event (type webhook.test); its outcome shows in the attempts',
          params: IdParams,
          response: {
            202: Type.Object({ delivery_id: Type.String(), event_id: Type.String() }),
            404: ProblemSchema,
            409: ProblemSchema,
          },
        },
      },
      async (request, reply) =>
        reply.code(202).send(await sendTestEvent(deps, auditContext(request), request.params.id)),
    );

    app.post(
      '/v1/webhooks/:id/replay',
      {
        config: { scope: 'webhooks:manage' },
        schema: {
          tags: ['webhooks'],
          summary: 'Send events again: one by id, or every event of the endpoint’s types in a time range',
          description: `At most 10,000 events per call. Each goes with its own id as webhook-id, as the first time.`,
          params: IdParams,
          body: Type.Union([
            Type.Object({ event_id: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
            Type.Object(
              {
                from: Type.String({ format: 'date-time', description: 'Events at or after this time.' }),
                to: Type.String({ format: 'date-time', description: 'Events before this time.' }),
              },
              { additionalProperties: false },
            ),
          ]),
          response: {
            202: Type.Object({ replayed: Type.Integer() }),
            404: ProblemSchema,
            409: ProblemSchema,
            422: ProblemSchema,
          },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const input =
          'event_id' in body
            ? { event_id: body.event_id }
            : { from: new Date(body.from), to: new Date(body.to) };
        return reply
          .code(202)
          .send(await replayEvents(deps, auditContext(request), request.params.id, input));
      },
    );

    app.get(
      '/v1/webhooks/:id/attempts',
      {
        config: { scope: 'webhooks:read' },
        schema: {
          tags: ['webhooks'],
          summary: "The endpoint's delivery log: every attempt, newest first, with status, timing and error",
          params: IdParams,
          querystring: Type.Object(
            {
              delivery_id: Type.Optional(Type.String({ format: 'uuid' })),
              cursor: Type.Optional(
                Type.String({ maxLength: 20, description: 'next_cursor of the previous page.' }),
              ),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ data: Type.Array(AttemptSchema), next_cursor: Nullable(Type.String()) }),
            400: ProblemSchema,
            404: ProblemSchema,
          },
        },
      },
      async (request) =>
        listAttempts(
          deps.db,
          request.auth.orgId,
          request.params.id,
          {
            limit: request.query.limit ?? 50,
            ...(request.query.cursor ? { cursor: request.query.cursor } : {}),
            ...(request.query.delivery_id ? { deliveryId: request.query.delivery_id } : {}),
          },
          deps.clock(),
        ),
    );
  };
}
