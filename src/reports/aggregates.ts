import type { Queryable } from '../db/index.ts';
import type { GroupBy, Interval, Period } from './period.ts';

// The three aggregate reports (messages, portal engagement, deliverability), each one SQL
// statement over the organisation's messages accepted in the period, bucketed by time in the
// period's time zone and optionally grouped. The totals are the same statement without buckets or
// groups, so a message with several tags is counted once in them.

export type AggregateReport = 'messages' | 'portal' | 'deliverability';

export interface AggregateOptions {
  orgId: string;
  period: Period;
  interval: Interval;
  groupBy: GroupBy;
}

export type AggregateRow = Record<string, string | number | null>;

export interface AggregateResult {
  columns: readonly string[];
  rows: AggregateRow[];
  totals: AggregateRow;
}

const IN_FLIGHT = `('queued', 'delivering', 'deferred')`;

/** The figures of each report, in column order (after bucket and group). */
export const FIGURES: Record<AggregateReport, readonly string[]> = {
  messages: [
    'messages',
    'recipients',
    'queued',
    'delivering',
    'deferred',
    'delivered',
    'bounced',
    'failed',
    'portal_notified',
    'expired',
    'revoked',
    'method_pgp',
    'method_smime',
    'method_tls',
    'method_portal',
    'method_none',
  ],
  portal: [
    'portal_recipients',
    'notified',
    'verified',
    'viewed',
    'downloaded',
    'replied',
    'replies',
    'expired',
    'revoked',
    'median_seconds_to_first_view',
    'p90_seconds_to_first_view',
  ],
  deliverability: [
    'recipients',
    'in_flight',
    'accepted',
    'bounced',
    'failed',
    'complaints',
    'bounce_rate',
    'complaint_rate',
  ],
};

interface Shape {
  /** Bucket by the interval (else one row). */
  bucketed: boolean;
  groupBy: GroupBy;
  interval: Interval;
}

// Parameters: $1 org, $2 from, $3 to, $4 time zone (only when bucketed).
function bucketOf(shape: Shape, column: string): string {
  // The interval is one of three literals, checked before it reaches here.
  return shape.bucketed ? `date_trunc('${shape.interval}', ${column}, $4::text)` : 'NULL::timestamptz';
}

function groupOf(shape: Shape, alias: string): string {
  switch (shape.groupBy) {
    case 'domain':
      return `${alias}.from_domain`;
    case 'sender':
      return `${alias}.from_address`;
    case 'tag':
      return `${alias}_tag.tag`;
    case 'none':
      return 'NULL::text';
  }
}

function tagJoin(shape: Shape, alias: string): string {
  // A message with no tags still counts, in the group null.
  return shape.groupBy === 'tag'
    ? `LEFT JOIN LATERAL unnest(${alias}.tags) AS ${alias}_tag(tag) ON true`
    : '';
}

/** The organisation's messages accepted in the period, with their bucket and group. */
function periodMessages(shape: Shape): string {
  return `SELECT m.org_id, m.message_id, ${bucketOf(shape, 'm.created_at')} AS bucket, ${groupOf(shape, 'm')} AS grp
    FROM messages m ${tagJoin(shape, 'm')}
    WHERE m.org_id = $1 AND m.created_at >= $2 AND m.created_at < $3`;
}

const count = (condition: string, name: string) => `count(*) FILTER (WHERE ${condition})::int AS ${name}`;

function messagesSql(shape: Shape): string {
  return `WITH pm AS (${periodMessages(shape)})
    SELECT pm.bucket, pm.grp,
      count(DISTINCT pm.message_id)::int AS messages,
      count(*)::int AS recipients,
      ${FIGURES.messages
        .slice(2, 11)
        .map((state) => count(`r.state = '${state}'`, state))
        .join(',\n      ')},
      ${['pgp', 'smime', 'tls', 'portal'].map((m) => count(`r.method = '${m}'`, `method_${m}`)).join(', ')},
      ${count('r.method IS NULL', 'method_none')}
    FROM pm JOIN message_recipients r ON r.org_id = pm.org_id AND r.message_id = pm.message_id
    GROUP BY pm.bucket, pm.grp
    ORDER BY pm.bucket, pm.grp COLLATE "C" NULLS FIRST`;
}

// Notified: the notice was accepted by the recipient's server (a delivered portal attempt).
// Time to first view: from the portal delivery's creation (when the portal was chosen and the
// notice sent; it never changes, unlike the recipient's finished_at, which a revocation rewrites)
// to the first view. Viewing needs the notice's link, so this is at least the notice's transit.
function portalSql(shape: Shape): string {
  // greatest() ignores a null: without the CASE, a recipient who never looked would count as 0 seconds.
  const toView = `CASE WHEN d.first_viewed_at IS NOT NULL
    THEN greatest(0, extract(epoch FROM d.first_viewed_at - d.created_at))::float8 END`;
  return `WITH pm AS (${periodMessages(shape)})
    SELECT pm.bucket, pm.grp,
      count(*)::int AS portal_recipients,
      ${count(
        `EXISTS (SELECT 1 FROM delivery_attempts a WHERE a.org_id = r.org_id AND a.recipient_id = r.recipient_id
           AND a.method = 'portal' AND a.outcome = 'delivered')`,
        'notified',
      )},
      ${count('d.verified_at IS NOT NULL', 'verified')},
      ${count('d.first_viewed_at IS NOT NULL', 'viewed')},
      ${count('d.downloads > 0', 'downloaded')},
      ${count('d.replies > 0', 'replied')},
      coalesce(sum(d.replies), 0)::int AS replies,
      ${count(`r.state = 'expired'`, 'expired')},
      ${count(`r.state = 'revoked'`, 'revoked')},
      percentile_cont(0.5) WITHIN GROUP (ORDER BY ${toView}) AS median_seconds_to_first_view,
      percentile_cont(0.9) WITHIN GROUP (ORDER BY ${toView}) AS p90_seconds_to_first_view
    FROM pm JOIN message_recipients r ON r.org_id = pm.org_id AND r.message_id = pm.message_id
      JOIN portal_deliveries d ON d.org_id = r.org_id AND d.recipient_id = r.recipient_id
    GROUP BY pm.bucket, pm.grp
    ORDER BY pm.bucket, pm.grp COLLATE "C" NULLS FIRST`;
}

// Accepted: some attempt was accepted by the recipient's server (the message, or the portal
// notice) and the recipient did not bounce since (a later bounce report moves it to bounced).
// Bounce rate: bounced / (accepted + bounced). Complaints are counted when they arrived (the
// suppression's time) and grouped by the message they name, if any; complaint rate: complaints /
// accepted.
function deliverabilitySql(shape: Shape): string {
  return `WITH pm AS (${periodMessages(shape)}),
    rcp AS (
      SELECT pm.bucket, pm.grp,
        count(*)::int AS recipients,
        ${count(`r.state IN ${IN_FLIGHT}`, 'in_flight')},
        ${count(
          `r.state <> 'bounced' AND EXISTS (SELECT 1 FROM delivery_attempts a
             WHERE a.org_id = r.org_id AND a.recipient_id = r.recipient_id AND a.outcome = 'delivered')`,
          'accepted',
        )},
        ${count(`r.state = 'bounced'`, 'bounced')},
        ${count(`r.state = 'failed'`, 'failed')},
        0 AS complaints
      FROM pm JOIN message_recipients r ON r.org_id = pm.org_id AND r.message_id = pm.message_id
      GROUP BY pm.bucket, pm.grp),
    cmp AS (
      SELECT ${bucketOf(shape, 's.created_at')} AS bucket, ${groupOf(shape, 'sm')} AS grp,
        0 AS recipients, 0 AS in_flight, 0 AS accepted, 0 AS bounced, 0 AS failed, count(*)::int AS complaints
      FROM suppressions s
        LEFT JOIN messages sm ON sm.org_id = s.org_id AND sm.message_id = s.message_id ${tagJoin(shape, 'sm')}
      WHERE s.org_id = $1 AND s.reason = 'complaint' AND s.created_at >= $2 AND s.created_at < $3
      GROUP BY 1, 2)
    SELECT bucket, grp,
      sum(recipients)::int AS recipients, sum(in_flight)::int AS in_flight, sum(accepted)::int AS accepted,
      sum(bounced)::int AS bounced, sum(failed)::int AS failed, sum(complaints)::int AS complaints,
      sum(bounced)::float8 / nullif(sum(accepted) + sum(bounced), 0) AS bounce_rate,
      sum(complaints)::float8 / nullif(sum(accepted), 0) AS complaint_rate
    FROM (SELECT * FROM rcp UNION ALL SELECT * FROM cmp) x
    GROUP BY bucket, grp
    ORDER BY bucket, grp COLLATE "C" NULLS FIRST`;
}

const SQL: Record<AggregateReport, (shape: Shape) => string> = {
  messages: messagesSql,
  portal: portalSql,
  deliverability: deliverabilitySql,
};

interface RawRow {
  [k: string]: unknown;
  bucket: Date | null;
  grp: string | null;
}

function figures(report: AggregateReport, row: RawRow | undefined): AggregateRow {
  const out: AggregateRow = {};
  for (const name of FIGURES[report]) {
    const value = row?.[name];
    out[name] =
      value === null || value === undefined ? (name.match(/rate|seconds/) ? null : 0) : Number(value);
  }
  return out;
}

export async function aggregateReport(
  q: Queryable,
  report: AggregateReport,
  options: AggregateOptions,
): Promise<AggregateResult> {
  const { orgId, period, interval, groupBy } = options;
  const base = [orgId, period.from, period.to];
  const grouped = await q.query<RawRow>(SQL[report]({ bucketed: true, groupBy, interval }), [
    ...base,
    period.tz,
  ]);
  const total = await q.query<RawRow>(SQL[report]({ bucketed: false, groupBy: 'none', interval }), base);
  return {
    columns: ['bucket', 'group', ...FIGURES[report]],
    rows: grouped.rows.map((row) => ({
      bucket: row.bucket ? new Date(row.bucket).toISOString() : null,
      group: row.grp,
      ...figures(report, row),
    })),
    totals: figures(report, total.rows[0]),
  };
}
