import { mkdirSync } from 'node:fs';
import { PGlite, types } from '@electric-sql/pglite';
import { lockDataDir } from './lock.ts';
import type { Db, QueryResult, Row, Transaction } from './types.ts';
import { WalFlusher } from './wal-flusher.ts';

// Statements that cannot change data need no flush; anything else (WITH included, since a CTE may
// write) is flushed before the caller hears it succeeded.
const READ_ONLY = /^\s*(select|show|explain|values)\b/i;

/**
 * The embedded database: PostgreSQL compiled to WebAssembly, one connection, data in a folder.
 *
 * PGlite runs with fsync off and never flushes to disk itself, so an OS crash or power loss could
 * lose commits it already reported. Every committed write therefore waits for WalFlusher to
 * fdatasync the write-ahead log before it returns.
 */
export async function openPglite(dir: string, options: { durable?: boolean } = {}): Promise<PgliteDb> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const unlock = lockDataDir(dir);
  try {
    const pglite = await PGlite.create(dir, {
      // bytea both ways through Buffer's hex codec: PGlite's own maps every byte through a string
      // of its own, far slower (docs/benchmarks.md, the third pass).
      parsers: { [types.BYTEA]: (x: string) => Buffer.from(x.slice(2), 'hex') },
      serializers: {
        [types.BYTEA]: (x: Uint8Array) =>
          `\\x${Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex')}`,
      },
    });
    return new PgliteDb(pglite, options.durable === false ? null : new WalFlusher(dir), unlock);
  } catch (err) {
    unlock();
    throw err;
  }
}

export class PgliteDb implements Db {
  readonly kind = 'pglite' as const;
  readonly pglite: PGlite;
  readonly flusher: WalFlusher | null;

  private readonly unlock: () => void;
  private readonly listeners = new Map<string, Set<() => void>>();

  constructor(pglite: PGlite, flusher: WalFlusher | null, unlock: () => void) {
    this.pglite = pglite;
    this.flusher = flusher;
    this.unlock = unlock;
  }

  async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
    const result = await this.pglite.query<T>(sql, params as unknown[]);
    if (!READ_ONLY.test(sql)) await this.flush();
    return { rows: result.rows, rowCount: result.rows.length || (result.affectedRows ?? 0) };
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const value = await this.pglite.transaction(async (tx) => {
      const q: Transaction = {
        async exec(sql: string) {
          await tx.exec(sql);
        },
        async query<R extends Row = Row>(sql: string, params: readonly unknown[] = []) {
          const result = await tx.query<R>(sql, params as unknown[]);
          return { rows: result.rows, rowCount: result.rows.length || (result.affectedRows ?? 0) };
        },
      };
      return fn(q);
    });
    await this.flush();
    return value;
  }

  async exec(sql: string): Promise<void> {
    await this.pglite.exec(sql);
    await this.flush();
  }

  async listen(channel: string, onNotify: () => void): Promise<() => Promise<void>> {
    // One LISTEN per channel for the life of the database; listeners come and go on our side only.
    // (PGlite's own unlisten could wait for ever on its query lock when called while stopping.)
    let listeners = this.listeners.get(channel);
    if (!listeners) {
      const set = new Set<() => void>();
      this.listeners.set(channel, set);
      await this.pglite.listen(channel, () => {
        for (const listener of set) listener();
      });
      listeners = set;
    }
    const own = () => onNotify();
    listeners.add(own);
    return async () => {
      listeners.delete(own);
    };
  }

  async flush(): Promise<void> {
    if (this.flusher) await this.flusher.flush();
  }

  async close(): Promise<void> {
    if (this.pglite.closed) return;
    await this.pglite.close();
    // Closing runs a checkpoint: make the data files and pg_control durable too.
    if (this.flusher) {
      await this.flusher.flushAll();
      await this.flusher.close();
    }
    this.unlock();
  }
}
