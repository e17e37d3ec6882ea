import { join } from 'node:path';
import type { Config } from '../config/index.ts';
import { openPglite } from './pglite.ts';
import { openPostgres } from './postgres.ts';
import type { Db } from './types.ts';

export { BatchReader, BulkWriter, WriteBatcher } from './batcher.ts';
export { migrate, pendingMigrations } from './migrate.ts';
export { isTimestampText } from './timestamps.ts';
export type { PgliteDb } from './pglite.ts';
export type { PostgresDb } from './postgres.ts';
export type { Db, Queryable, QueryResult, Row, Transaction } from './types.ts';

/** The embedded database's folder inside the data directory. */
export function embeddedDbDir(config: Pick<Config, 'dataDir'>): string {
  return join(config.dataDir, 'db');
}

export async function openDb(
  config: Pick<Config, 'dataDir' | 'databaseUrl' | 'databasePoolSize'>,
): Promise<Db> {
  if (config.databaseUrl) return openPostgres(config.databaseUrl, config.databasePoolSize);
  return openPglite(embeddedDbDir(config));
}
