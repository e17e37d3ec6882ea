import { Type } from 'typebox';
import type { Db } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { Nullable, ProblemSchema, type HttpServer } from '../http/index.ts';
import { listEvents } from './store.ts';
import { EVENT_TYPE_NAMES, EVENT_TYPES, type EventType, isEventType } from './types.ts';

export const EventTypeSchema = Type.Unsafe<EventType>({
  type: 'string',
  enum: EVENT_TYPE_NAMES,
  description: 'An event type (GET /v1/event-types lists them).',
});

export const PublicEventSchema = Type.Object(
  {
    id: Type.String({
      format: 'uuid',
      description: 'Stable: the same in the stream, in every webhook attempt and replay (webhook-id).',
    }),
    type: EventTypeSchema,
    occurred_at: Type.String({ format: 'date-time' }),
    message_id: Nullable(Type.String({ format: 'uuid' })),
    recipient_id: Nullable(Type.String({ format: 'uuid' })),
    data: Type.Record(Type.String(), Type.Unknown(), {
      description: 'Details of the type, never PHI: method, attempt, smtp_code, tls_version, tls_cipher, ...',
    }),
  },
  { additionalProperties: false },
);

/** GET /v1/events (the stream by cursor) and GET /v1/event-types. */
export function eventRoutes(deps: { db: Db }) {
  return async (app: HttpServer) => {
    app.get(
      '/v1/events',
      {
        config: { scope: 'messages:read' },
        schema: {
          tags: ['events'],
          summary: 'The event stream: every state change of messages, oldest first, by cursor',
          description:
            'Page forward with `after=<next_cursor>`. Events come in the order they were recorded, without gaps, so a consumer that was down catches up from its last cursor. A page may be short or empty while has_more is true; when has_more is false the stream is caught up: poll again later with the same next_cursor.',
          querystring: Type.Object(
            {
              after: Type.Optional(
                Type.String({
                  maxLength: 100,
                  description: 'next_cursor of a previous page; omit to start.',
                }),
              ),
              types: Type.Optional(
                Type.String({ maxLength: 2000, description: 'Comma-separated event types; all by default.' }),
              ),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object(
              {
                data: Type.Array(PublicEventSchema),
                next_cursor: Type.String(),
                has_more: Type.Boolean(),
              },
              { additionalProperties: false },
            ),
            400: ProblemSchema,
          },
        },
      },
      async (request) => {
        const q = request.query;
        return listEvents(deps.db, request.auth.orgId, {
          ...(q.after ? { after: q.after } : {}),
          ...(q.types ? { types: parseTypes(q.types) } : {}),
          limit: q.limit ?? 100,
        });
      },
    );

    app.get(
      '/v1/event-types',
      {
        config: { scope: 'messages:read' },
        schema: {
          tags: ['events'],
          summary: 'Every event type, with what it means and the fields its data may hold',
          response: {
            200: Type.Object({
              data: Type.Array(
                Type.Object({
                  type: EventTypeSchema,
                  description: Type.String(),
                  data: Type.Array(Type.String()),
                }),
              ),
            }),
          },
        },
      },
      async () => ({
        data: EVENT_TYPE_NAMES.map((type) => ({
          type,
          description: EVENT_TYPES[type].description,
          data: [...EVENT_TYPES[type].data],
        })),
      }),
    );
  };
}

/** "a,b" to event types; an unknown one is a 400 that names it. */
export function parseTypes(list: string): EventType[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !isEventType(n));
  if (unknown.length > 0)
    throw errors.badRequest(
      `Unknown event type ${unknown.map((u) => `"${u}"`).join(', ')}: see GET /v1/event-types.`,
    );
  return names as EventType[];
}
