// Test databases: every suite that touches the database runs once on the embedded database
// (PGlite) and once on the PostgreSQL server, each in a fresh database that is removed afterwards.
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import pg from 'pg';
import { type Db, migrate } from '../../src/db/index.ts';
import { loadMigrations } from '../../src/db/migrate.ts';
import { openPglite } from '../../src/db/pglite.ts';
import { openPostgres } from '../../src/db/postgres.ts';

export type DbKind = 'pglite' | 'postgres';

/** Where the PostgreSQL server is; tests create and drop their own databases on it. */
export const postgresAdminUrl =
  process.env.SEALPOST_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function probePostgres(): Promise<string | null> {
  const client = new pg.Client({ connectionString: postgresAdminUrl, connectionTimeoutMillis: 15_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

const postgresProblem = await probePostgres();
if (postgresProblem && process.env.CI) {
  throw new Error(`PostgreSQL at ${postgresAdminUrl} is required in CI: ${postgresProblem}`);
}

export interface TestDb {
  kind: DbKind;
  db: Db;
  /** For PGlite the data folder, for PostgreSQL the connection URL: what a child process needs. */
  location: string;
  dispose(): Promise<void>;
}

/** A migrated PGlite folder, made once per migration set and copied for each test database. */
async function pgliteTemplate(): Promise<string> {
  const hash = createHash('sha256');
  for (const m of loadMigrations()) hash.update(m.version).update(m.sql);
  const dir = join(tmpdir(), `sealpost-pglite-template-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(dir)) return dir;
  const building = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const db = await openPglite(building, { durable: false });
  await migrate(db);
  await db.close();
  try {
    renameSync(building, dir);
  } catch {
    rmSync(building, { recursive: true, force: true }); // another test process won the race
  }
  return dir;
}

export async function createTestDb(kind: DbKind): Promise<TestDb> {
  if (kind === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-test-'));
    cpSync(await pgliteTemplate(), join(dir, 'db'), { recursive: true });
    const db = await openPglite(join(dir, 'db'));
    await migrate(db);
    return {
      kind,
      db,
      location: dir,
      async dispose() {
        await db.close().catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `sealpost_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresAdminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(postgresAdminUrl);
  url.pathname = `/${name}`;
  const db = openPostgres(url.toString(), 5);
  await migrate(db);
  return {
    kind,
    db,
    location: url.toString(),
    async dispose() {
      await db.close().catch(() => {});
      const client = new pg.Client({ connectionString: postgresAdminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export interface DbSuite {
  kind: DbKind;
  /** The suite's database, ready after the suite's `before` hooks run. */
  readonly db: Db;
  readonly testDb: TestDb;
}

/**
 * Declares the suite twice, on PGlite and on PostgreSQL, each with its own fresh database (or on
 * the `kinds` named: browser tests of pages over the API, which add nothing on a second database).
 * Outside CI, a machine without a reachable PostgreSQL skips the PostgreSQL half and says why.
 */
export function describeEachDb(
  title: string,
  fn: (suite: DbSuite) => void,
  kinds: readonly DbKind[] = ['pglite', 'postgres'],
): void {
  for (const kind of kinds) {
    const skip =
      kind === 'postgres' && postgresProblem ? `PostgreSQL unreachable: ${postgresProblem}` : false;
    describe(`${title} [${kind}]`, { skip }, () => {
      let handle: TestDb | undefined;
      const suite: DbSuite = {
        kind,
        get db() {
          if (!handle) throw new Error('test database not ready');
          return handle.db;
        },
        get testDb() {
          if (!handle) throw new Error('test database not ready');
          return handle;
        },
      };
      before(async () => {
        handle = await createTestDb(kind);
      });
      after(async () => {
        await handle?.dispose();
      });
      fn(suite);
    });
  }
}

/**
 * A fresh PostgreSQL database for a test that needs processes to share one, or null after
 * skipping the test where no server is reachable (never in CI, where PostgreSQL is required).
 */
export async function postgresOrSkip(t: { skip(message: string): void }): Promise<TestDb | null> {
  try {
    return await createTestDb('postgres');
  } catch (err) {
    if (process.env.CI) throw err;
    t.skip(`PostgreSQL unreachable: ${(err as Error).message}`);
    return null;
  }
}
