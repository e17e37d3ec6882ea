import type { KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import { Type } from 'typebox';
import type { Db } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import {
  Nullable,
  ProblemSchema as Problem,
  requirePermission,
  requireRecentAuth,
  auditContext,
  type HttpServer,
} from '../http/index.ts';
import { appendAudit } from './append.ts';
import { exportCheckpoints } from './checkpoints.ts';
import { type AuditFilter, exportAudit, listAuditEvents } from './query.ts';
import { auditEventJson } from './types.ts';
import { auditVerifyJson, verifyAudit } from './verify.ts';

const Hex32 = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256, hex' });
const IsoTime = Type.String({ format: 'date-time' });

const AuditEventSchema = Type.Object(
  {
    org_id: Type.String({ format: 'uuid' }),
    seq: Type.Integer({
      minimum: 1,
      description: "Position in the organisation's chain, from 1, without gaps.",
    }),
    event_id: Type.String({ format: 'uuid' }),
    occurred_at: IsoTime,
    actor_type: Type.String({ description: 'api_key, user, system or cli' }),
    actor_id: Type.String(),
    actor_label: Type.String(),
    action: Type.String({ description: 'What happened, e.g. api_key.created.' }),
    object_type: Type.String(),
    object_id: Type.String(),
    outcome: Type.Union([Type.Literal('success'), Type.Literal('failure'), Type.Literal('denied')]),
    ip: Nullable(Type.String()),
    request_id: Nullable(Type.String()),
    details: Type.Record(Type.String(), Type.Unknown(), {
      description: 'Context without PHI: ids, counts, reasons.',
    }),
    prev_hash: Hex32,
    hash: Hex32,
  },
  { additionalProperties: false },
);

const ListQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Events at or after this time.' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'Events before this time.' })),
    actor_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    object_type: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    object_id: Type.Optional(Type.String({ maxLength: 200 })),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        description: 'Events per page (default 100); format=json only.',
      }),
    ),
    cursor: Type.Optional(
      Type.String({ maxLength: 200, description: 'next_cursor of the previous page; format=json only.' }),
    ),
    reason: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 500,
        description:
          'Why the trail is exported (jsonl and csv): kept in the audit.exported event. Name the request, not the patient.',
      }),
    ),
    format: Type.Optional(
      Type.Union([Type.Literal('json'), Type.Literal('jsonl'), Type.Literal('csv')], {
        description:
          'json (default): one page. jsonl or csv: every matching event, streamed as a download (JSON lines, or CSV with a header row).',
      }),
    ),
  },
  { additionalProperties: false },
);

const ListResponse = Type.Object(
  { data: Type.Array(AuditEventSchema), next_cursor: Nullable(Type.String()) },
  { additionalProperties: false },
);

const Break = {
  org_id: Type.String(),
  seq: Type.Integer({
    description: 'The first broken event (for a deleted tail or chain, the first missing seq).',
  }),
  event_id: Nullable(Type.String()),
  reason: Type.Union([
    Type.Literal('hash_mismatch'),
    Type.Literal('link_broken'),
    Type.Literal('missing_event'),
    Type.Literal('head_mismatch'),
    Type.Literal('chain_missing'),
    Type.Literal('truncated'),
    Type.Literal('rewritten'),
    Type.Literal('checkpoint_invalid'),
  ]),
  detail: Type.String(),
};

const CheckpointSummary = Type.Object(
  {
    checked: Type.Integer({ description: 'Signed checkpoints compared with the chain.' }),
    unverifiable: Type.Integer({
      description: 'Checkpoints signed by a key this server does not hold (relied on for nothing).',
    }),
    key_ids: Type.Array(Type.String(), { description: 'The keys that signed the checkpoints checked.' }),
    latest: Nullable(
      Type.String({ format: 'date-time', description: 'When the newest checkpoint checked was signed.' }),
    ),
  },
  { additionalProperties: false },
);

const VerifyResponse = Type.Union([
  Type.Object(
    {
      ok: Type.Literal(true),
      chains: Type.Integer(),
      events: Type.Integer(),
      head: Type.Optional(
        Type.Object(
          { seq: Type.Integer(), hash: Hex32 },
          {
            description:
              'Record it elsewhere: a later verify that still finds it proves nothing before it changed.',
          },
        ),
      ),
      checkpoints: CheckpointSummary,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      ok: Type.Literal(false),
      ...Break,
      breaks: Type.Array(Type.Object(Break, { additionalProperties: false })),
      chains: Type.Integer(),
      events: Type.Integer(),
      checkpoints: CheckpointSummary,
    },
    { additionalProperties: false },
  ),
]);

const EXPORTS = {
  jsonl: { type: 'application/x-ndjson; charset=utf-8', extension: 'jsonl' },
  csv: { type: 'text/csv; charset=utf-8', extension: 'csv' },
} as const;

export interface AuditRouteDeps {
  db: Db;
  /** The public keys of the checkpoint signing keys this server holds, by key id. */
  checkpointKeys: () => ReadonlyMap<string, KeyObject>;
}

/**
 * GET /v1/audit-events (list, or export as JSON lines / CSV), GET /v1/audit-events/verify and
 * GET /v1/audit-events/checkpoints.
 */
export async function auditRoutes(app: HttpServer, opts: AuditRouteDeps): Promise<void> {
  const { db } = opts;

  app.get(
    '/v1/audit-events',
    {
      config: { scope: 'audit:read' },
      schema: {
        tags: ['audit'],
        summary: "The organisation's audit trail, oldest first, filtered; or an export of it",
        description:
          'format=jsonl or csv exports every matching event: that needs the audit:export permission too, and from a session a sign-in in the last 10 minutes.',
        querystring: ListQuery,
        response: {
          200: {
            description: 'A page of events (json), or every matching event (jsonl, csv).',
            content: {
              'application/json': { schema: ListResponse },
              'application/x-ndjson': { schema: Type.String({ description: 'One event object per line.' }) },
              'text/csv': { schema: Type.String({ description: 'A header row, then one event per row.' }) },
            },
          },
          400: Problem,
        },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const filter: AuditFilter = {
        orgId: request.auth.orgId,
        from: q.from === undefined ? undefined : new Date(q.from),
        to: q.to === undefined ? undefined : new Date(q.to),
        actorId: q.actor_id,
        objectType: q.object_type,
        objectId: q.object_id,
        action: q.action,
      };
      const format = q.format ?? 'json';
      if (format === 'json') {
        const page = await listAuditEvents(db, filter, { limit: q.limit ?? 100, cursor: q.cursor });
        return reply
          .type('application/json; charset=utf-8')
          .send({ data: page.events.map(auditEventJson), next_cursor: page.nextCursor });
      }
      // An export takes the whole trail at once: its own permission and a recent sign-in.
      requirePermission(request, 'audit:export');
      requireRecentAuth(request);
      if (q.limit !== undefined || q.cursor !== undefined) {
        throw errors.badRequest(
          'limit and cursor page format=json; jsonl and csv export every matching event.',
        );
      }
      // The export itself is evidence: who took which part of the trail, and why. Chained before
      // the first line leaves, so an export that is cut short is still on the record.
      await appendAudit(db, {
        ...auditContext(request),
        action: 'audit.exported',
        objectType: 'audit_trail',
        objectId: request.auth.orgId,
        outcome: 'success',
        details: {
          format,
          reason: q.reason ?? null,
          from: q.from ?? null,
          to: q.to ?? null,
          actor_id: q.actor_id ?? null,
          object_type: q.object_type ?? null,
          object_id: q.object_id ?? null,
          action: q.action ?? null,
        },
      });
      const lines = exportAudit(db, filter, format);
      const { type, extension } = EXPORTS[format];
      // Fastify pipes a stream as it is; the type provider only knows the schema's string.
      const body = Readable.from(withNewlines(lines)) as unknown as string;
      return reply
        .type(type)
        .header('content-disposition', `attachment; filename="audit-events.${extension}"`)
        .send(body);
    },
  );

  app.get(
    '/v1/audit-events/verify',
    {
      config: { scope: 'audit:read' },
      schema: {
        tags: ['audit'],
        summary: "Verify the organisation's audit chain: intact, or the first broken event",
        description:
          'Also checks the chain against the signed checkpoints of its head kept by this server. Checking against checkpoints you exported earlier (GET /v1/audit-events/checkpoints) is done with `sealpost audit verify --checkpoints FILE`, or by hand as docs/audit.md shows.',
        response: { 200: VerifyResponse },
      },
    },
    async (request) =>
      auditVerifyJson(
        await verifyAudit(db, { orgId: request.auth.orgId, checkpointKeys: opts.checkpointKeys() }),
      ),
  );

  app.get(
    '/v1/audit-events/checkpoints',
    {
      config: { scope: 'audit:export' },
      schema: {
        tags: ['audit'],
        summary: "The signed checkpoints of the organisation's audit chain, as JSON lines",
        description:
          'Keep them outside Sealpost: whoever could rewrite the database could delete its checkpoints too, but not the copy you hold. Each line carries the public key that signed it; docs/audit.md gives the signed bytes and how to check them with openssl.',
        response: {
          200: {
            description: 'One checkpoint per line, oldest chain position first.',
            content: {
              'application/x-ndjson': {
                schema: Type.String({ description: 'One checkpoint object per line.' }),
              },
            },
          },
        },
      },
    },
    async (request, reply) => {
      // Taking the evidence out is itself on the record, as an export of the trail is.
      await appendAudit(db, {
        ...auditContext(request),
        action: 'audit.checkpoints_exported',
        objectType: 'audit_trail',
        objectId: request.auth.orgId,
        outcome: 'success',
      });
      const lines = exportCheckpoints(db, { orgId: request.auth.orgId });
      return reply
        .type('application/x-ndjson; charset=utf-8')
        .header('content-disposition', 'attachment; filename="audit-checkpoints.jsonl"')
        .send(Readable.from(withNewlines(lines)) as unknown as string);
    },
  );
}

async function* withNewlines(lines: AsyncIterable<string>): AsyncGenerator<string> {
  for await (const line of lines) yield `${line}\n`;
}
