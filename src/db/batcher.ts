import type { Db, Queryable } from './types.ts';

interface Pending {
  work: (tx: Queryable) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/**
 * Group commit for many small independent writes: work handed in while a batch transaction is
 * committing waits, then runs together in the next one. One commit (one fsync) then carries many
 * writes. If a batch fails, each of its pieces is run again in a transaction of its own, so one
 * bad write fails only its own caller.
 */
export class WriteBatcher {
  private readonly db: Db;
  private readonly maxBatch: number;
  private queue: Pending[] = [];
  private running = false;

  constructor(db: Db, options: { maxBatch?: number } = {}) {
    this.db = db;
    this.maxBatch = options.maxBatch ?? 200;
  }

  run<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.running) setImmediate(() => void this.drain());
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        await this.commit(batch);
      }
    } finally {
      this.running = false;
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    const results: unknown[] = [];
    try {
      await this.db.transaction(async (tx) => {
        results.length = 0;
        for (const p of batch) results.push(await p.work(tx));
      });
      batch.forEach((p, i) => p.resolve(results[i]));
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const p of batch) {
        try {
          p.resolve(await this.db.transaction((tx) => p.work(tx)));
        } catch (own) {
          p.reject(own);
        }
      }
    }
  }
}
