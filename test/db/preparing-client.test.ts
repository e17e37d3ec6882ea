import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeEachDb } from '../support/db.ts';

// The PostgreSQL pool prepares each statement with parameters once per connection.
describeEachDb(
  'prepared statements',
  (suite) => {
    test('a statement with parameters is prepared once on its connection and reused', async () => {
      const text = 'SELECT $1::int + $2::int AS sum';
      const prepared = await suite.db.transaction(async (tx) => {
        for (let i = 0; i < 3; i++) {
          const { rows } = await tx.query<{ sum: number }>(text, [i, 1]);
          assert.equal(rows[0]!.sum, i + 1);
        }
        const { rows } = await tx.query<{ statement: string }>(
          'SELECT statement FROM pg_prepared_statements ORDER BY prepare_time',
        );
        return rows.map((r) => r.statement);
      });
      assert.deepEqual(
        prepared.filter((s) => s === text),
        [text],
      );
      assert.ok(!prepared.some((s) => s.includes('pg_prepared_statements')), 'no parameters: not prepared');
    });

    test('statements without parameters still run as given, several in one string', async () => {
      await suite.db.exec('CREATE TABLE prepared_probe (id int); INSERT INTO prepared_probe VALUES (1), (2)');
      const { rows } = await suite.db.query<{ n: number }>('SELECT count(*)::int AS n FROM prepared_probe');
      assert.equal(rows[0]!.n, 2);
    });

    test('a prepared statement that fails leaves its connection usable', async () => {
      await assert.rejects(suite.db.query('SELECT 1 / $1::int', [0]), /division by zero/);
      const { rows } = await suite.db.query<{ v: number }>('SELECT 10 / $1::int AS v', [5]);
      assert.equal(rows[0]!.v, 2);
    });
  },
  ['postgres'],
);
