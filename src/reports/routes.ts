import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type TSchema, Type } from 'typebox';
import type { AuditDetails, AuditInput } from '../audit/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { auditContext, Nullable, ProblemSchema, type HttpServer } from '../http/index.ts';
import { type AggregateReport, aggregateReport, FIGURES } from './aggregates.ts';
import { csvFilename, csvPreamble, csvRow } from './csv.ts';
import {
  checkInterval,
  checkRange,
  DEFAULT_DAYS,
  type GroupBy,
  type Interval,
  MAX_DAYS,
  MAX_HOURLY_DAYS,
  type Period,
  periodJson,
  resolvePeriod,
} from './period.ts';
import {
  decodeCursor,
  PROTECTION_COLUMNS,
  protectionPage,
  protectionRows,
  protectionSummary,
} from './protection.ts';

export interface ReportDeps {
  db: Db;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  clock: () => Date;
}

// Reports read what the messages API already shows a messages:read caller (addresses, states,
// methods), in aggregate or per recipient; never a subject or a body.
const SCOPE = 'reports:read';

const PeriodQuery = {
  from: Type.Optional(
    Type.String({
      maxLength: 40,
      description: `Messages accepted at or after this time: a date (midnight in tz) or an RFC 3339 date and time. Default: ${DEFAULT_DAYS} days before to.`,
    }),
  ),
  to: Type.Optional(
    Type.String({
      maxLength: 40,
      description: `Messages accepted before this time (a date or a date and time). Default: now. At most ${MAX_DAYS} days after from.`,
    }),
  ),
  tz: Type.Optional(
    Type.String({
      maxLength: 64,
      description: 'Time zone of the buckets and of dates given without a time (IANA name). Default: UTC.',
    }),
  ),
};

const Format = Type.Optional(
  Type.Union([Type.Literal('json'), Type.Literal('csv')], {
    description:
      'json (default), or csv: a download (Content-Disposition: attachment) with "#" lines saying what it is, then a header row; recorded in the audit trail as report.exported.',
  }),
);

const AggregateQuery = Type.Object(
  {
    ...PeriodQuery,
    interval: Type.Optional(
      Type.Union([Type.Literal('hour'), Type.Literal('day'), Type.Literal('week')], {
        description: `Time bucket (default day); hour for periods of ${MAX_HOURLY_DAYS} days at most.`,
      }),
    ),
    group_by: Type.Optional(
      Type.Union(
        [Type.Literal('none'), Type.Literal('domain'), Type.Literal('tag'), Type.Literal('sender')],
        {
          description:
            'Also group by sending domain, tag (a message with several tags counts in each) or sender (the from address). Default none.',
        },
      ),
    ),
    format: Format,
  },
  { additionalProperties: false },
);

const PeriodSchema = Type.Object({
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  tz: Type.String(),
});

function figureSchema(name: string): TSchema {
  return /rate|seconds/.test(name) ? Nullable(Type.Number()) : Type.Integer();
}

function aggregateResponse(report: AggregateReport) {
  const figures = Object.fromEntries(FIGURES[report].map((name) => [name, figureSchema(name)]));
  return Type.Object({
    report: Type.Literal(report),
    period: PeriodSchema,
    interval: Type.String(),
    group_by: Type.String(),
    columns: Type.Array(Type.String(), { description: 'The columns of the CSV download, in order.' }),
    data: Type.Array(
      Type.Object({
        bucket: Type.String({ format: 'date-time', description: 'Start of the bucket.' }),
        group: Nullable(Type.String({ description: 'The domain, tag or sender; null when not grouped.' })),
        ...figures,
      }),
      {
        description: 'One row per bucket (and group) with at least one message; empty buckets are left out.',
      },
    ),
    totals: Type.Object(figures, { description: 'The whole period, each message counted once.' }),
  });
}

const csvContent = (description: string) => ({ schema: Type.String({ description }) });

const AGGREGATES: { report: AggregateReport; summary: string; description: string }[] = [
  {
    report: 'messages',
    summary: 'Recipients by state and by protection method over time; per domain, tag or sender',
    description:
      'Over the messages accepted in the period: messages and recipients per time bucket, each recipient counted in its current state and under the method that carried it (method_none: not chosen yet, or never sent).',
  },
  {
    report: 'portal',
    summary: 'Portal engagement: notified, verified, viewed, replied, and time to first view',
    description:
      'Over the portal recipients of messages accepted in the period. notified: the notice was accepted by the recipient’s server. Time to first view: from the portal delivery’s creation (when the notice went out) to the first view, in seconds; median and 90th percentile, interpolated.',
  },
  {
    report: 'deliverability',
    summary: 'Bounce and complaint rates over time',
    description:
      'accepted: recipients whose message or portal notice a server accepted and who did not bounce since. bounce_rate = bounced / (accepted + bounced). complaints: complaint suppressions received in the bucket (grouped by the message they name); complaint_rate = complaints / accepted.',
  },
];

const SummarySchema = Type.Object(
  {
    messages: Type.Integer(),
    phi_messages: Type.Integer(),
    recipients: Type.Integer(),
    phi_recipients: Type.Integer(),
    method_pgp: Type.Integer(),
    method_smime: Type.Integer(),
    method_tls: Type.Integer(),
    method_portal: Type.Integer(),
    method_none: Type.Integer(),
    protected: Type.Integer(),
    in_flight: Type.Integer(),
    not_delivered: Type.Integer(),
    unprotected: Type.Integer({
      description: 'Recipients of messages with PHI delivered without protection. By design: 0.',
    }),
    unprotected_without_phi: Type.Integer({
      description:
        'Recipients of messages without PHI delivered without TLS 1.2+ (opportunistic TLS, when policy allows it).',
    }),
    statement: Type.String(),
  },
  { description: 'The whole period; on the first page only.' },
);

const Str = Nullable(Type.String());
const ProtectionRowSchema = Type.Object({
  message_id: Type.String(),
  message_created_at: Type.String({ format: 'date-time' }),
  from: Type.String(),
  phi: Type.Boolean({ description: 'DLP found PHI in the message (or it came from the portal).' }),
  requested_protection: Type.String({ description: 'auto, portal or e2e, as the sender asked.' }),
  sandbox: Type.Boolean({ description: 'Accepted in sandbox mode: captured, never sent.' }),
  reply_of: Str,
  recipient_id: Type.String(),
  address: Type.String(),
  kind: Type.String(),
  state: Type.String(),
  method: Str,
  method_reason: Str,
  tls_version: Str,
  tls_cipher: Str,
  mx: Str,
  smtp_code: Nullable(Type.Integer()),
  finished_at: Nullable(Type.String({ format: 'date-time' })),
  protected: Type.String({ description: 'yes, no, pending (in flight) or not_delivered.' }),
});

const ProtectionQuery = Type.Object(
  {
    ...PeriodQuery,
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, description: 'Rows per page (default 100); json only.' }),
    ),
    cursor: Type.Optional(
      Type.String({
        maxLength: 600,
        description: 'next_cursor of the previous page (it carries the period); json only.',
      }),
    ),
    format: Format,
  },
  { additionalProperties: false },
);

export function reportRoutes(deps: ReportDeps) {
  const { db } = deps;

  /** Fail closed: the download is on the record before a byte of it leaves. */
  async function recordExport(
    request: FastifyRequest,
    report: string,
    period: Period,
    details: AuditDetails,
  ) {
    await deps.audit(db, {
      ...auditContext(request),
      action: 'report.exported',
      objectType: 'report',
      objectId: report,
      outcome: 'success',
      details: { report, format: 'csv', ...periodJson(period), ...details },
    });
  }

  function download(reply: FastifyReply, report: string, period: Period) {
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${csvFilename(report, period)}"`);
  }

  return async (app: HttpServer) => {
    for (const { report, summary, description } of AGGREGATES) {
      app.get(
        `/v1/reports/${report}`,
        {
          config: { scope: SCOPE },
          schema: {
            tags: ['reports'],
            summary,
            description,
            querystring: AggregateQuery,
            response: {
              200: {
                description: 'The report (json), or the same rows as a CSV download.',
                content: {
                  'application/json': { schema: aggregateResponse(report) },
                  'text/csv': csvContent(
                    '"#" lines, a header row, one row per bucket and group, then a total row.',
                  ),
                },
              },
              400: ProblemSchema,
            },
          },
        },
        async (request, reply) => {
          const q = request.query;
          const now = deps.clock();
          const period = await resolvePeriod(db, q, now);
          const interval: Interval = q.interval ?? 'day';
          const groupBy: GroupBy = q.group_by ?? 'none';
          checkInterval(period, interval);
          const result = await aggregateReport(db, report, {
            orgId: request.auth.orgId,
            period,
            interval,
            groupBy,
          });
          if ((q.format ?? 'json') === 'json')
            return reply.type('application/json; charset=utf-8').send({
              report,
              period: periodJson(period),
              interval,
              group_by: groupBy,
              columns: [...result.columns],
              data: result.rows as { bucket: string; group: string | null }[],
              totals: result.totals,
            });
          await recordExport(request, report, period, {
            interval,
            group_by: groupBy,
            rows: result.rows.length,
          });
          const body =
            csvPreamble(report, period, now, [`interval: ${interval}`, `group_by: ${groupBy}`]) +
            csvRow(result.columns) +
            result.rows.map((row) => csvRow(result.columns.map((c) => row[c]))).join('') +
            csvRow(['total', null, ...FIGURES[report].map((c) => result.totals[c])]);
          return download(reply, report, period).send(body);
        },
      );
    }

    app.get(
      '/v1/reports/protection',
      {
        config: { scope: SCOPE },
        schema: {
          tags: ['reports'],
          summary:
            'The protection report: every message and recipient of the period with the method that protected it',
          description:
            'One row per recipient of every message accepted in the period, oldest first: its state, the method (pgp, smime, tls with TLS version and cipher, portal) and why, the MX, and whether it was protected. The summary says whether any recipient of a message with PHI left unprotected (unprotected, 0 by design) and how many are still in flight. No subject, no body.',
          querystring: ProtectionQuery,
          response: {
            200: {
              description: 'A page of rows (json), or every row streamed as a CSV download.',
              content: {
                'application/json': {
                  schema: Type.Object({
                    report: Type.Literal('protection'),
                    period: PeriodSchema,
                    summary: Nullable(SummarySchema),
                    columns: Type.Array(Type.String()),
                    data: Type.Array(ProtectionRowSchema),
                    next_cursor: Nullable(Type.String()),
                  }),
                },
                'text/csv': csvContent(
                  '"#" lines with the period and the summary, a header row, one row per recipient.',
                ),
              },
            },
            400: ProblemSchema,
          },
        },
      },
      async (request, reply) => {
        const q = request.query;
        const orgId = request.auth.orgId;
        const now = deps.clock();
        const format = q.format ?? 'json';
        if (format === 'csv' && (q.limit !== undefined || q.cursor !== undefined))
          throw errors.badRequest('limit and cursor page format=json; csv has every row of the period.');
        const cursor = q.cursor === undefined ? null : decodeCursor(q.cursor);
        const period = cursor ? await cursorPeriod(db, q, cursor, now) : await resolvePeriod(db, q, now);
        if (format === 'json') {
          const page = await protectionPage(db, orgId, period, { limit: q.limit ?? 100, after: cursor });
          return reply.type('application/json; charset=utf-8').send({
            report: 'protection',
            period: periodJson(period),
            summary: cursor ? null : await protectionSummary(db, orgId, period),
            columns: [...PROTECTION_COLUMNS],
            data: page.rows,
            next_cursor: page.nextCursor,
          });
        }
        const summary = await protectionSummary(db, orgId, period);
        await recordExport(request, 'protection', period, {
          rows: summary.recipients,
          unprotected: summary.unprotected,
          in_flight: summary.in_flight,
        });
        const { statement, ...figures } = summary;
        async function* lines(): AsyncGenerator<string> {
          yield csvPreamble('protection', period, now, [
            statement,
            ...Object.entries(figures).map(([k, v]) => `${k}: ${v}`),
          ]);
          yield csvRow(PROTECTION_COLUMNS);
          // A page at a time: a month of a busy organisation never sits in memory.
          let chunk = '';
          for await (const row of protectionRows(db, orgId, period)) {
            chunk += csvRow(PROTECTION_COLUMNS.map((c) => row[c]));
            if (chunk.length > 64_000) {
              yield chunk;
              chunk = '';
            }
          }
          if (chunk) yield chunk;
        }
        // Fastify pipes a stream as it is; the type provider only knows the schema's string.
        return download(reply, 'protection', period).send(Readable.from(lines()) as unknown as string);
      },
    );
  };
}

/** With a cursor, the period is the cursor's; from, to and tz, if given again, must agree with it. */
async function cursorPeriod(
  db: Queryable,
  q: { from?: string | undefined; to?: string | undefined; tz?: string | undefined },
  cursor: { from: string; to: string; tz: string },
  now: Date,
): Promise<Period> {
  const period: Period = { from: new Date(cursor.from), to: new Date(cursor.to), tz: cursor.tz };
  checkRange(period);
  if (q.from !== undefined || q.to !== undefined || q.tz !== undefined) {
    const given = await resolvePeriod(db, { ...q, tz: q.tz ?? cursor.tz }, now);
    if (
      (q.from !== undefined && given.from.getTime() !== period.from.getTime()) ||
      (q.to !== undefined && given.to.getTime() !== period.to.getTime()) ||
      given.tz !== period.tz
    )
      throw errors.badRequest(
        'The cursor belongs to another period: leave from, to and tz out, or give the same.',
      );
  }
  return period;
}
