import { finished } from 'node:stream/promises';
import { Splitter, type SplitterChunk } from '@zone-eu/mailsplit';
import { Type } from 'typebox';
import type { AuditInput } from '../audit/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { auditContext, ProblemSchema, type HttpServer } from '../http/index.ts';
import { suppress } from '../suppressions/index.ts';
import { diagnosticCode, type ParsedReport, parseReport } from './reports.ts';

// POST /v1/inbound/reports: a bounce that arrived after delivery (a DSN) or a complaint (an ARF
// report), handed in raw by whatever receives the organisation's bounce mail. A hard bounce marks
// the recipient bounced and suppresses the address; a complaint suppresses it too.

export interface FeedbackDeps {
  db: Db;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  stageAudit(q: Queryable, records: AuditInput | AuditInput[]): Promise<unknown>;
}

const MAX_REPORT_BYTES = 2_000_000;

const Outcome = Type.Object({
  kind: Type.String({ description: 'dsn, arf or unknown' }),
  recipients: Type.Array(
    Type.Object({
      recipient_id: Type.String(),
      message_id: Type.String(),
      outcome: Type.String({ description: 'bounced, complained, delayed or ignored' }),
    }),
  ),
});

interface Target {
  recipient_id: string;
  message_id: string;
  address: string;
}

export function feedbackRoutes(deps: FeedbackDeps) {
  return async (app: HttpServer) => {
    app.post(
      '/v1/inbound/reports',
      {
        config: { scope: 'messages:send' },
        schema: {
          tags: ['messages'],
          summary: 'Hand in a delivery status notification (RFC 3464) or an abuse report (ARF, RFC 5965)',
          description:
            'For bounces and complaints that arrive after delivery. The recipient is found by the VERP return path Sealpost sends with (bounces+<recipient id>@your domain), else by the quoted Message-ID and address. Only this organisation’s recipients are touched.',
          body: Type.Object(
            { raw: Type.String({ description: 'The report as received (RFC 5322), base64-encoded' }) },
            { additionalProperties: false },
          ),
          response: { 200: Outcome, 422: ProblemSchema },
        },
      },
      async (request) => {
        const raw = Buffer.from(request.body.raw, 'base64');
        if (raw.length === 0 || raw.length > MAX_REPORT_BYTES)
          throw errors.validation(`The report must be 1 to ${MAX_REPORT_BYTES} bytes.`);
        const report = await readReport(raw);
        if (report.kind === 'unknown')
          throw errors.validation('This is neither a delivery status notification nor an ARF report.');
        const orgId = request.auth.orgId;
        const targets = await findTargets(deps.db, orgId, report);
        const results: { recipient_id: string; message_id: string; outcome: string }[] = [];
        await deps.db.transaction(async (tx) => {
          for (const target of targets) {
            const outcome = await apply(deps, tx, orgId, target, report, auditContext(request));
            results.push({ recipient_id: target.recipient_id, message_id: target.message_id, outcome });
          }
        });
        return { kind: report.kind, recipients: results };
      },
    );
  };
}

/** The report's parts, by MIME type, with mailsplit (mailparser folds delivery-status into text). */
async function readReport(raw: Buffer): Promise<ParsedReport> {
  const parts: { contentType: string; body: Buffer[] }[] = [];
  let to: string[] = [];
  const splitter = new Splitter();
  splitter.on('data', (data: SplitterChunk) => {
    if (data.type === 'node') {
      if (data.root) to = [String(data.getHeaders())];
      parts.push({ contentType: (data.contentType || '').toLowerCase(), body: [] });
    } else if (data.type === 'body' && parts.length > 0) parts.at(-1)!.body.push(data.value);
  });
  splitter.end(raw);
  await finished(splitter);
  const text = (p: (typeof parts)[number]) => Buffer.concat(p.body).toString('utf8');
  const status = parts.find((p) => /^message\/(delivery-status|feedback-report)$/.test(p.contentType));
  const original = parts.find((p) => /^(message\/rfc822|text\/rfc822-headers)$/.test(p.contentType));
  // Only the header block of a returned message: its body is the original mail, maybe PHI.
  const originalHeaders = original ? text(original).split(/\r?\n\r?\n/)[0]! : null;
  // The report's own To (and other header fields) are searched for the VERP address.
  const toHeader = (to[0] ?? '')
    .split(/\r?\n(?=\S)/)
    .filter((line) => /^(to|delivered-to|x-original-to):/i.test(line));
  return parseReport({
    to: toHeader,
    statusPart: status ? { contentType: status.contentType, text: text(status) } : null,
    originalHeaders,
  });
}

async function findTargets(db: Db, orgId: string, report: ParsedReport): Promise<Target[]> {
  if (report.recipientIds.length > 0) {
    const { rows } = await db.query<Target & { [k: string]: unknown }>(
      `SELECT recipient_id, message_id, address FROM message_recipients
       WHERE org_id = $1 AND recipient_id = ANY($2::uuid[])`,
      [orgId, report.recipientIds],
    );
    return rows;
  }
  const addresses = report.kind === 'dsn' ? report.dsn.map((d) => d.address) : [report.complainant];
  if (!report.originalMessageId || addresses.every((a) => !a)) return [];
  const { rows } = await db.query<Target & { [k: string]: unknown }>(
    `SELECT r.recipient_id, r.message_id, r.address FROM message_recipients r
     JOIN messages m ON m.org_id = r.org_id AND m.message_id = r.message_id
     WHERE r.org_id = $1 AND m.rfc_message_id = $2 AND r.address = ANY($3::text[])`,
    [orgId, report.originalMessageId, addresses.filter(Boolean)],
  );
  return rows;
}

async function apply(
  deps: FeedbackDeps,
  tx: Queryable,
  orgId: string,
  target: Target,
  report: ParsedReport,
  context: ReturnType<typeof auditContext>,
): Promise<string> {
  const event = {
    ...context,
    objectType: 'message',
    objectId: target.message_id,
    outcome: 'success' as const,
  };
  if (report.kind === 'arf') {
    await suppress(tx, orgId, {
      address: target.address,
      reason: 'complaint',
      detail: `ARF ${report.feedbackType ?? 'abuse'}`,
      messageId: target.message_id,
    });
    await deps.audit(tx, {
      ...event,
      action: 'message.complained',
      details: { recipient_id: target.recipient_id, feedback_type: report.feedbackType ?? 'abuse' },
    });
    return 'complained';
  }
  // A DSN names recipients by address; with a VERP id and one recipient block, that block is ours.
  const entry =
    report.dsn.find((d) => d.address === target.address) ??
    (report.dsn.length === 1 ? report.dsn[0] : undefined);
  if (!entry) return 'ignored';
  if (entry.action === 'delayed') {
    await deps.stageAudit(tx, {
      ...event,
      action: 'message.delayed_report',
      details: { recipient_id: target.recipient_id, status: entry.status },
    });
    return 'delayed';
  }
  if (entry.action !== 'failed' || !entry.status.startsWith('5')) return 'ignored';
  const code = diagnosticCode(entry.diagnostic) ?? 550;
  const response = (entry.diagnostic ?? entry.status).replace(/^smtp;\s*/i, '').slice(0, 300);
  await tx.query(
    `UPDATE message_recipients SET state = 'bounced', smtp_code = $3, smtp_response = $4, updated_at = now(),
       finished_at = coalesce(finished_at, now()), next_attempt_at = NULL, due_at = NULL
     WHERE org_id = $1 AND recipient_id = $2 AND state NOT IN ('revoked', 'expired')`,
    [orgId, target.recipient_id, code, response],
  );
  await suppress(tx, orgId, {
    address: target.address,
    reason: 'hard_bounce',
    detail: `${code} ${response}`.slice(0, 300),
    messageId: target.message_id,
  });
  await deps.audit(tx, {
    ...event,
    action: 'message.bounced',
    details: { recipient_id: target.recipient_id, smtp_code: code, status: entry.status, asynchronous: true },
  });
  return 'bounced';
}
