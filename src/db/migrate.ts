import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from './types.ts';

const MIGRATIONS_DIR = join(import.meta.dirname, 'migrations');
// Any fixed number: every process that migrates takes this lock, so two starting together queue.
const MIGRATION_LOCK = 7_406_153_021;

export interface Migration {
  version: string;
  name: string;
  sql: string;
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: file.slice(0, 4),
      name: file.slice(5, -4),
      sql: readFileSync(join(dir, file), 'utf8'),
    }));
}

export async function pendingMigrations(db: Db): Promise<Migration[]> {
  await db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
  );
  const { rows } = await db.query<{ version: string }>('SELECT version FROM schema_migrations');
  const applied = new Set(rows.map((r) => r.version));
  return loadMigrations().filter((m) => !applied.has(m.version));
}

/**
 * Applies every pending migration in one transaction under an advisory lock, so processes that
 * start together never apply one twice, and a failed migration leaves the schema as it was.
 */
export async function migrate(db: Db, onProgress: (line: string) => void = () => {}): Promise<Migration[]> {
  if ((await pendingMigrations(db)).length === 0) return [];
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    const { rows } = await tx.query<{ version: string }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => r.version));
    const done: Migration[] = [];
    for (const migration of loadMigrations()) {
      if (applied.has(migration.version)) continue;
      onProgress(`applying migration ${migration.version} ${migration.name}`);
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      done.push(migration);
    }
    return done;
  });
}
