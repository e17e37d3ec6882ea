import { performance } from 'node:perf_hooks';
import type { Db } from '../db/index.ts';

// What every authenticated request used to read from the database, kept for a few seconds: an API
// key's record (with what its owner may do now), an organisation's access policy, a custom role's
// permissions. Every change to those is made by the identity module in a transaction with its
// audit event, and `watch` makes each identity transaction forget the whole cache once it has
// ended, so a change made through this process applies to the next request. A change made by
// another process (another `serve --only api`, a SQL console) applies within AUTH_CACHE_MS.
// See docs/staff-accounts.md, "How soon a change applies".

/** The longest a change made elsewhere goes unseen by this process. */
export const AUTH_CACHE_MS = 5_000;
/** Enough for every key and role of a large installation; the oldest entries go first. */
const MAX_ENTRIES = 10_000;

interface Entry {
  value: Promise<unknown>;
  loadedAt: number;
  generation: number;
}

export class AuthCache {
  private readonly entries = new Map<string, Entry>();
  /** Bumped when a change starts and when it ends: an entry from another generation is stale. */
  private generation = 0;
  /** Identity transactions in flight: while any runs, nothing is read from or kept in the cache. */
  private changing = 0;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: { ttlMs?: number; now?: () => number } = {}) {
    this.ttlMs = options.ttlMs ?? AUTH_CACHE_MS;
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * The value cached under `name`, else `load()`'s (kept unless it is null or fails). The entry is
   * timed from when its load started, so it is never older than the TTL counted from the read.
   */
  get<T>(name: string, load: () => Promise<T>): Promise<T> {
    if (this.ttlMs <= 0 || this.changing > 0) return load();
    const now = this.now();
    const hit = this.entries.get(name);
    if (hit && hit.generation === this.generation && now - hit.loadedAt < this.ttlMs)
      return hit.value as Promise<T>;
    const entry: Entry = { value: load(), loadedAt: now, generation: this.generation };
    this.entries.delete(name);
    this.entries.set(name, entry);
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    const drop = () => {
      if (this.entries.get(name) === entry) this.entries.delete(name);
    };
    entry.value.then((value) => value === null && drop(), drop);
    return entry.value as Promise<T>;
  }

  /** Forgets everything now (a change was made outside a watched transaction). */
  clear(): void {
    this.generation++;
    this.entries.clear();
  }

  /** Runs a change: the cache is bypassed while it runs and forgotten when it ends. */
  async during<T>(change: () => Promise<T>): Promise<T> {
    this.changing++;
    this.clear();
    try {
      return await change();
    } finally {
      this.changing--;
      // After the commit (or rollback): a load that read the old state before it is not used.
      this.clear();
    }
  }

  /** The database, with every transaction run as a change. */
  watch(db: Db): Db {
    return {
      kind: db.kind,
      query: (sql, params) => db.query(sql, params),
      exec: (sql) => db.exec(sql),
      listen: (channel, onNotify) => db.listen(channel, onNotify),
      close: () => db.close(),
      transaction: (fn) => this.during(() => db.transaction(fn)),
    };
  }
}
