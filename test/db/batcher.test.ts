import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WriteBatcher } from '../../src/db/index.ts';
import { describeEachDb } from '../support/db.ts';

describeEachDb('write batcher', (suite) => {
  test('concurrent writes share transactions; a failing write fails only its own caller', async () => {
    await suite.db.exec('CREATE TABLE batch_probe (id int PRIMARY KEY, txid bigint NOT NULL)');
    const batcher = new WriteBatcher(suite.db, { maxBatch: 50 });
    const write = (id: number) =>
      batcher.run(async (tx) => {
        await tx.query('INSERT INTO batch_probe (id, txid) VALUES ($1, txid_current())', [id]);
        return id;
      });
    const results = await Promise.allSettled([
      ...Array.from({ length: 120 }, (_, i) => write(i)),
      write(5), // a duplicate key: its own failure
    ]);
    assert.deepEqual(
      results.slice(0, 120).map((r) => r.status),
      Array(120).fill('fulfilled'),
    );
    assert.equal(results[120]!.status, 'rejected');
    const { rows } = await suite.db.query<{ n: string; txs: string }>(
      'SELECT count(*) AS n, count(DISTINCT txid) AS txs FROM batch_probe',
    );
    assert.equal(Number(rows[0]!.n), 120);
    assert.ok(Number(rows[0]!.txs) < 120, `120 writes in ${rows[0]!.txs} transactions`);
  });
});
