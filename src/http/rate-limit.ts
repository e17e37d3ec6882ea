// Request budgets counted in this process: a fixed window per budget that starts with its first
// request. What is counted against which budget, and in what order, is the HTTP server's business
// (server.ts); this only counts.
//
// Memory is bounded: past MAX_BUDGETS live budgets (many addresses at once, as a distributed
// attack brings), a budget not seen yet shares one overflow budget of its size with every other
// newcomer, while those already counting keep their own.

const MAX_BUDGETS = 100_000;

/** A budget as the RateLimit-* answer headers describe it, after counting a request. */
export interface Budget {
  limit: number;
  windowSeconds: number;
  remaining: number;
  /** Seconds until the window ends and the budget is whole again. */
  resetSeconds: number;
  /** This request went beyond the limit. */
  exceeded: boolean;
}

interface Window {
  hits: number;
  endsAt: number;
}

export class RateLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly now: () => number;
  private readonly maxBudgets: number;
  private nextSweep = 0;

  constructor(options: { now?: () => number; maxBudgets?: number } = {}) {
    this.now = options.now ?? Date.now;
    this.maxBudgets = options.maxBudgets ?? MAX_BUDGETS;
  }

  /** Counts one request against the budget `name` (at most `limit` per `windowMs`). */
  take(name: string, limit: number, windowMs: number): Budget {
    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    let window = this.live(name, now);
    if (!window) {
      if (this.windows.size >= this.maxBudgets) this.sweep(now, true);
      // Still full: the newcomer shares the overflow budget (kept beyond the bound, one per size).
      if (this.windows.size >= this.maxBudgets) name = `overflow:${limit}/${windowMs}`;
      window = this.live(name, now) ?? { hits: 0, endsAt: now + windowMs };
      this.windows.set(name, window);
    }
    window.hits++;
    return {
      limit,
      windowSeconds: Math.round(windowMs / 1000),
      remaining: Math.max(0, limit - window.hits),
      resetSeconds: Math.max(0, Math.ceil((window.endsAt - now) / 1000)),
      exceeded: window.hits > limit,
    };
  }

  /** Takes back one request counted against `name` (it is now counted against another budget). */
  give(name: string): void {
    const window = this.live(name, this.now());
    if (window && window.hits > 0) window.hits--;
  }

  private live(name: string, now: number): Window | undefined {
    const window = this.windows.get(name);
    return window && window.endsAt > now ? window : undefined;
  }

  /** Forgets ended windows: every ten seconds, and at once when the bound is reached. */
  private sweep(now: number, force = false): void {
    if (!force && now < this.nextSweep) return;
    this.nextSweep = now + 10_000;
    for (const [name, window] of this.windows) if (window.endsAt <= now) this.windows.delete(name);
  }
}
