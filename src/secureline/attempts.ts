import type { Method } from '../messages/index.ts';
import type { TlsInfo } from '../outbound/index.ts';

/** One delivery attempt, as it ended: what delivery_attempts records. */
export interface Attempt {
  number: number;
  startedAt: Date;
  method: Method;
  outcome: 'delivered' | 'deferred' | 'bounced' | 'tls_failed' | 'failed';
  mx?: string | null;
  code?: number | null;
  response?: string | null;
  tls?: TlsInfo | null;
  detail?: string | null;
}

/** Growing intervals: base, 2×, 4×, … capped at an hour (or 64× base, when the base is small). */
export function backoffSeconds(attempt: number, base: number): number {
  const cap = Math.min(3600, base * 64);
  return Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
}
