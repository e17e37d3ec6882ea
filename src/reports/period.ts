import type { Queryable } from '../db/index.ts';
import { errors, SealpostError } from '../errors/index.ts';

// The period a report covers: [from, to), in a time zone for day and week buckets and for dates
// given without a time.

export type Interval = 'hour' | 'day' | 'week';
export const INTERVALS: readonly Interval[] = ['hour', 'day', 'week'];

export type GroupBy = 'none' | 'domain' | 'tag' | 'sender';

export interface Period {
  /** Messages accepted at or after this instant. */
  from: Date;
  /** Messages accepted before this instant. */
  to: Date;
  /** An IANA time zone name, as PostgreSQL knows it; UTC by default. */
  tz: string;
}

export const DEFAULT_DAYS = 30;
export const MAX_DAYS = 366;
/** Hourly buckets only over a month at most: 744 rows per group. */
export const MAX_HOURLY_DAYS = 31;

const DAY_MS = 86_400_000;
// A daylight saving change inside a period given in local dates adds an hour.
const SLACK_MS = 3_600_000;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/i;
export const TIME_ZONE = /^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/;
// The years a period may reach. Outside them a period is a mistake, and at the far ends dates leave
// the calendar: 0001-01-01 at +14:00 is in year 0, which PostgreSQL prints as 1 BC, which no
// JavaScript date reads back (and PGlite reads year 1 as 2001). The written year is checked before
// the database sees it; the instant after, for periods that come back in a cursor.
const FIRST_YEAR = 1970;
const LAST_YEAR = 9999;
const EARLIEST = Date.UTC(FIRST_YEAR - 1, 11, 31);
const LATEST = Date.UTC(LAST_YEAR + 1, 0, 2);

const outOfRange = () =>
  new SealpostError('date_out_of_range', `from and to must fall in the years ${FIRST_YEAR} to ${LAST_YEAR}.`);

/** Refuses a period whose instants lie outside the years a report can cover. */
export function checkRange(period: { from: Date; to: Date }): void {
  for (const instant of [period.from, period.to])
    if (!(instant.getTime() >= EARLIEST && instant.getTime() < LATEST)) throw outOfRange();
}

export interface PeriodQuery {
  from?: string | undefined;
  to?: string | undefined;
  tz?: string | undefined;
}

/**
 * The period of a request: `to` defaults to now, `from` to 30 days before `to`. A date without a
 * time is midnight at its start in `tz`. The time zone is checked by PostgreSQL itself, which does
 * the bucketing: a name it does not know is a 400, not a failed query later.
 */
export async function resolvePeriod(q: Queryable, query: PeriodQuery, now: Date): Promise<Period> {
  const tz = query.tz ?? 'UTC';
  if (!TIME_ZONE.test(tz))
    throw errors.badRequest(`tz must be a time zone name such as UTC or America/New_York.`);
  for (const name of ['from', 'to'] as const) {
    const value = query[name];
    if (value === undefined) continue;
    if (!DATE.test(value) && !(DATE_TIME.test(value) && !Number.isNaN(Date.parse(value))))
      throw errors.badRequest(
        `${name} must be a date (2025-01-31) or a date and time (2025-01-31T08:00:00Z).`,
      );
    const year = Number(value.slice(0, 4));
    if (year < FIRST_YEAR || year > LAST_YEAR) throw outOfRange();
  }
  // The probe makes PostgreSQL check the time zone even when no date needs it.
  let rows: { from: Date | null; to: Date | null }[];
  try {
    ({ rows } = await q.query<{ from: Date | null; to: Date | null }>(
      `SELECT CASE WHEN $1::text IS NULL THEN NULL ELSE $1::timestamp AT TIME ZONE $3::text END AS "from",
              CASE WHEN $2::text IS NULL THEN NULL ELSE $2::timestamp AT TIME ZONE $3::text END AS "to",
              now() AT TIME ZONE $3::text AS probe`,
      [
        query.from !== undefined && DATE.test(query.from) ? query.from : null,
        query.to !== undefined && DATE.test(query.to) ? query.to : null,
        tz,
      ],
    ));
  } catch (err) {
    if (/time zone/i.test((err as Error).message))
      throw errors.badRequest(`The time zone "${tz}" is not known.`);
    if (/out of range|invalid/i.test((err as Error).message))
      throw errors.badRequest('from or to is not a valid date.');
    throw err;
  }
  const local = rows[0]!;
  const at = (value: string | undefined, fromDate: Date | null): Date | undefined =>
    value === undefined ? undefined : (fromDate ?? new Date(value));
  const to = at(query.to, local.to) ?? new Date(now.getTime());
  const from = at(query.from, local.from) ?? new Date(to.getTime() - DEFAULT_DAYS * DAY_MS);
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()))
    throw errors.badRequest('from or to is not a valid date.');
  checkRange({ from, to });
  if (from.getTime() >= to.getTime()) throw errors.badRequest('from must be before to.');
  if (to.getTime() - from.getTime() > MAX_DAYS * DAY_MS + SLACK_MS)
    throw errors.badRequest(`A report covers at most ${MAX_DAYS} days.`);
  return { from, to, tz };
}

export function checkInterval(period: Period, interval: Interval): void {
  if (!INTERVALS.includes(interval)) throw errors.badRequest('interval is hour, day or week.');
  if (
    interval === 'hour' &&
    period.to.getTime() - period.from.getTime() > MAX_HOURLY_DAYS * DAY_MS + SLACK_MS
  )
    throw errors.badRequest(`interval=hour covers at most ${MAX_HOURLY_DAYS} days; use day or week.`);
}

export function periodJson(period: Period) {
  return { from: period.from.toISOString(), to: period.to.toISOString(), tz: period.tz };
}
