import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadMigrations, migrate, pendingMigrations } from '../../src/db/migrate.ts';
import { describeEachDb } from '../support/db.ts';

describeEachDb('migrations', (suite) => {
  test('a fresh database has every migration applied and none pending', async () => {
    const { rows } = await suite.db.query<{ version: string }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    assert.deepEqual(
      rows.map((r) => r.version),
      loadMigrations().map((m) => m.version),
    );
    assert.equal((await pendingMigrations(suite.db)).length, 0);
    assert.deepEqual(await migrate(suite.db), []);
  });

  test('every tenant-owned table has org_id first in its primary key', async () => {
    const { rows } = await suite.db.query<{ table_name: string; first: string }>(`
      SELECT c.relname AS table_name, a.attname AS first
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
      WHERE i.indisprimary AND n.nspname = 'public' AND c.relname <> 'schema_migrations'`);
    assert.ok(rows.length > 0);
    for (const row of rows)
      assert.equal(row.first, 'org_id', `${row.table_name} must start its primary key with org_id`);
  });
});
