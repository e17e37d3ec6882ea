// When failed webhook deliveries are tried again: a list of waits after each failed attempt,
// e.g. "5s,5m,30m,2h,5h,10h,10h,14h,20h,24h" (the default: 11 attempts over about 3 days and
// 14 hours). After the last wait's attempt fails, the delivery has failed for good.

export const DEFAULT_RETRY_SCHEDULE = '5s,5m,30m,2h,5h,10h,10h,14h,20h,24h';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** The waits in seconds; throws an Error naming the first bad entry. */
export function parseRetrySchedule(text: string): number[] {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length === 0 || parts.length > 50) throw new Error('must list 1 to 50 waits, e.g. 5s,5m,30m,2h');
  return parts.map((part) => {
    const match = /^(\d{1,6})([smhd])$/.exec(part);
    if (!match) throw new Error(`"${part}" is not a wait such as 30s, 5m, 2h or 1d`);
    const seconds = Number(match[1]) * UNIT_SECONDS[match[2]!]!;
    if (seconds < 1 || seconds > 7 * 86_400) throw new Error(`"${part}" must be between 1s and 7d`);
    return seconds;
  });
}

/** The wait after failed attempt number `attempt` (from 1), or null when no attempt remains. */
export function retryDelaySeconds(schedule: readonly number[], attempt: number): number | null {
  return schedule[attempt - 1] ?? null;
}

/** "3 days 14 hours": how long a delivery is retried in all, for people. */
export function describeSchedule(schedule: readonly number[]): string {
  const total = schedule.reduce((a, b) => a + b, 0);
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  return (
    [days && `${days} d`, hours && `${hours} h`, minutes && `${minutes} min`].filter(Boolean).join(' ') ||
    `${total} s`
  );
}
