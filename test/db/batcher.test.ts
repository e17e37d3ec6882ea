import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { BatchReader, BulkWriter, WriteBatcher } from '../../src/db/index.ts';
import { suppressedAmongMany } from '../../src/suppressions/index.ts';
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

  test('bulk writes: one statement per batch, results in order, a bad item fails only its caller', async () => {
    await suite.db.exec('CREATE TABLE bulk_probe (id int PRIMARY KEY, txid bigint NOT NULL)');
    let statements = 0;
    const writer = new BulkWriter<number, number>(
      suite.db,
      async (tx, ids) => {
        statements += 1;
        const { rows } = await tx.query<{ id: number }>(
          'INSERT INTO bulk_probe (id, txid) SELECT id, txid_current() FROM unnest($1::int[]) AS id RETURNING id',
          [ids],
        );
        // Each caller gets its own answer, matched by id rather than by row order.
        return ids.map((id) => rows.find((r) => r.id === id)!.id * 10);
      },
      { maxBatch: 40 },
    );
    const results = await Promise.allSettled([
      ...Array.from({ length: 100 }, (_, i) => writer.add(i)),
      writer.add(7), // a duplicate key: its own failure
    ]);
    assert.deepEqual(
      results.slice(0, 100).map((r) => (r.status === 'fulfilled' ? r.value : r.reason)),
      Array.from({ length: 100 }, (_, i) => i * 10),
    );
    assert.equal(results[100]!.status, 'rejected');
    const { rows } = await suite.db.query<{ n: string; txs: string }>(
      'SELECT count(*) AS n, count(DISTINCT txid) AS txs FROM bulk_probe',
    );
    assert.equal(Number(rows[0]!.n), 100);
    // Batches of 40, 40 and 21; the duplicate fails the last, whose items are then written one by
    // one: 3 + 21 statements for 101 items.
    assert.ok(statements <= 24, `${statements} statements for 101 items`);
    assert.ok(Number(rows[0]!.txs) < 100, `100 writes in ${rows[0]!.txs} transactions`);
  });

  test('batched reads: concurrent look-ups in one statement, each answered its own', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    for (const org of [a, b])
      await suite.db.query("INSERT INTO organizations (org_id, name) VALUES ($1, 'Reader')", [org]);
    await suite.db.query(
      `INSERT INTO suppressions (org_id, address, reason) VALUES
         ($1, 'x@one.test', 'hard_bounce'), ($1, 'y@one.test', 'manual'), ($2, 'x@one.test', 'complaint')`,
      [a, b],
    );
    let statements = 0;
    const reader = new BatchReader(suite.db, (q, lookups: { orgId: string; addresses: string[] }[]) => {
      statements++;
      return suppressedAmongMany(q, lookups);
    });
    const answers = await Promise.all([
      reader.get({ orgId: a, addresses: ['x@one.test', 'z@one.test'] }),
      reader.get({ orgId: b, addresses: ['x@one.test', 'y@one.test'] }),
      reader.get({ orgId: a, addresses: ['x@one.test', 'y@one.test'] }),
      reader.get({ orgId: b, addresses: [] }),
    ]);
    assert.equal(statements, 1);
    const summary = answers.map((list) => list.map((s) => `${s.address}:${s.reason}`).sort());
    assert.deepEqual(summary, [
      ['x@one.test:hard_bounce'],
      ['x@one.test:complaint'],
      ['x@one.test:hard_bounce', 'y@one.test:manual'],
      [],
    ]);
    const failing = new BatchReader(suite.db, async () => Promise.reject(new Error('down')));
    await assert.rejects(failing.get(1), /down/);
  });
});
