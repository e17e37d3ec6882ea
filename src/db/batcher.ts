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

/**
 * Items handed in while a batch runs wait for the next one; `run` answers a whole batch (at most
 * maxBatch items). BatchReader and BulkWriter differ only in how they run a batch.
 */
class Coalescer<I, R> {
  private queue: PendingItem<I, R>[] = [];
  private running = false;

  private readonly run: (batch: PendingItem<I, R>[]) => Promise<void>;
  private readonly maxBatch: number;

  constructor(run: (batch: PendingItem<I, R>[]) => Promise<void>, maxBatch: number) {
    this.run = run;
    this.maxBatch = maxBatch;
  }

  push(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) setImmediate(() => void this.drain());
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) await this.run(this.queue.splice(0, this.maxBatch));
    } finally {
      this.running = false;
    }
  }
}

interface PendingItem<I, R> {
  item: I;
  resolve(value: R): void;
  reject(err: unknown): void;
}

/**
 * Many small reads of one kind made as one statement: items asked for while a read runs wait,
 * then `read` answers them all (one result per item, in order), outside any transaction. A failed
 * read fails every item of its batch.
 */
export class BatchReader<I, R> {
  private readonly pending: Coalescer<I, R>;

  constructor(
    db: Queryable,
    read: (q: Queryable, items: I[]) => Promise<R[]>,
    options: { maxBatch?: number } = {},
  ) {
    this.pending = new Coalescer(async (batch) => {
      try {
        const results = await read(
          db,
          batch.map((p) => p.item),
        );
        batch.forEach((p, i) => p.resolve(results[i]!));
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }, options.maxBatch ?? 200);
  }

  get(item: I): Promise<R> {
    return this.pending.push(item);
  }
}

/**
 * Group commit for many writes of one kind, made as one set of statements: items handed in while
 * a batch commits wait, then `write` stores them all in one transaction and answers one result per
 * item, in order. Where WriteBatcher saves commits, this also saves statements (one multi-row
 * statement instead of one per item). If a batch fails, each of its items is written again in a
 * transaction of its own, so one bad item fails only its own caller.
 */
export class BulkWriter<I, R> {
  private readonly db: Db;
  private readonly write: (tx: Queryable, items: I[]) => Promise<R[]>;
  private readonly pending: Coalescer<I, R>;

  constructor(
    db: Db,
    write: (tx: Queryable, items: I[]) => Promise<R[]>,
    options: { maxBatch?: number } = {},
  ) {
    this.db = db;
    this.write = write;
    this.pending = new Coalescer((batch) => this.commit(batch), options.maxBatch ?? 200);
  }

  add(item: I): Promise<R> {
    return this.pending.push(item);
  }

  private async commit(batch: PendingItem<I, R>[]): Promise<void> {
    try {
      const results = await this.db.transaction((tx) =>
        this.write(
          tx,
          batch.map((p) => p.item),
        ),
      );
      batch.forEach((p, i) => p.resolve(results[i]!));
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const p of batch) {
        try {
          const [result] = await this.db.transaction((tx) => this.write(tx, [p.item]));
          p.resolve(result!);
        } catch (own) {
          p.reject(own);
        }
      }
    }
  }
}
