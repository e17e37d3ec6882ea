// Timestamps that come back from clients inside paging cursors. PostgreSQL refuses what JavaScript's
// Date.parse lets through (2024-02-30 is read as 1 March, year 0000 as 2000), so a forged cursor
// would fail in the query; it is checked field by field before it gets there.

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?(?:Z|[+-](\d{2})(?::?(\d{2}))?)?$/i;

type Fields = [number, number, number, number, number, number, number, number];

/**
 * Whether text is a timestamp as PostgreSQL prints it (`created_at::text`) or as toISOString()
 * writes it, with every field inside the calendar: a year from 1, a day its month has, a time of
 * day, an offset of at most 15:59.
 */
export function isTimestampText(text: string): boolean {
  const match = TIMESTAMP.exec(text);
  if (!match) return false;
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = match
    .slice(1)
    .map((field) => Number(field ?? 0)) as Fields;
  const lastDay = new Date(0);
  lastDay.setUTCFullYear(year, month, 0);
  return (
    year >= 1 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= lastDay.getUTCDate() &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHours <= 15 &&
    offsetMinutes <= 59
  );
}
