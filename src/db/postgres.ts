import pg from 'pg';
import { PreparingClient } from './preparing-client.ts';
import type { Db, QueryResult, Row, Transaction } from './types.ts';

// Same shapes as the embedded database returns: int8 as a number (counts and sequence numbers stay
// far below 2^53), bytea as a Buffer, timestamps as Date.
const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

export function openPostgres(url: string, poolSize = 10): PostgresDb {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    types: typeParsers,
    Client: PreparingClient,
  });
  // An idle client that loses its connection emits 'error'; the pool replaces it.
  pool.on('error', () => {});
  return new PostgresDb(pool, url);
}

export class PostgresDb implements Db {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  /** For components that open their own connections (the job queue's LISTEN, for one). */
  readonly url: string;

  constructor(pool: pg.Pool, url: string) {
    this.pool = pool;
    this.url = url;
  }

  async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
    const result = await this.pool.query<T>(sql, params as unknown[]);
    return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const tx: Transaction = {
        async exec(sql: string) {
          await client.query(sql);
        },
        async query<R extends Row = Row>(sql: string, params: readonly unknown[] = []) {
          const result = await client.query<R>(sql, params as unknown[]);
          return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
        },
      };
      const value = await fn(tx);
      await client.query('COMMIT');
      return value;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async listen(channel: string, onNotify: () => void): Promise<() => Promise<void>> {
    let client: pg.Client | null = null;
    let stopped = false;
    let retry: NodeJS.Timeout | undefined;
    // A lost connection is replaced a second later (and again until it works); the listener's own
    // polling covers the gap.
    const reconnect = () => {
      if (!stopped) retry = setTimeout(() => connect().catch(reconnect), 1000);
    };
    const connect = async () => {
      const c = new pg.Client({ connectionString: this.url });
      c.on('notification', (n) => n.channel === channel && onNotify());
      c.on('error', () => {
        c.end().catch(() => {});
        if (client !== c) return;
        client = null;
        reconnect();
      });
      try {
        await c.connect();
        await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      } catch (err) {
        await c.end().catch(() => {});
        throw err;
      }
      if (stopped) await c.end();
      else client = c;
    };
    await connect();
    return async () => {
      stopped = true;
      clearTimeout(retry);
      await client?.end().catch(() => {});
      client = null;
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
