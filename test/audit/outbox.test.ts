import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import {
  appendAudit,
  type AuditInput,
  flushAuditOutbox,
  stageAudit,
  verifyAudit,
} from '../../src/audit/index.ts';
import type { Db } from '../../src/db/index.ts';
import { describeEachDb } from '../support/db.ts';

const event = (orgId: string, i: number): AuditInput => ({
  orgId,
  actor: { type: 'system', id: 'secureline', label: 'secureline' },
  action: 'message.delivered',
  objectType: 'message',
  objectId: `m${i}`,
  outcome: 'success',
  details: { attempt: i },
});

describeEachDb('audit outbox', (suite) => {
  test('staged events commit with their action, reach their chain in order on flush, and verify', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const at = new Date('2026-05-01T10:00:00.000Z');
    await suite.db.transaction(async (tx) => {
      for (let i = 1; i <= 3; i++) await stageAudit(tx, event(a, i), { clock: () => at });
      await stageAudit(tx, event(b, 1));
    });
    // A rolled-back action leaves no staged event.
    await assert.rejects(
      suite.db.transaction(async (tx) => {
        await stageAudit(tx, event(a, 99));
        throw new Error('the action failed');
      }),
    );
    const chained = async (org: string) =>
      (
        await suite.db.query<{ object_id: string; occurred_at: Date }>(
          'SELECT object_id, occurred_at FROM audit_events WHERE org_id = $1 ORDER BY seq',
          [org],
        )
      ).rows;
    assert.deepEqual(await chained(a), [], 'not chained before the flush');
    assert.equal(await flushAuditOutbox(suite.db), 4);
    assert.equal(await flushAuditOutbox(suite.db), 0);
    const rows = await chained(a);
    assert.deepEqual(
      rows.map((r) => r.object_id),
      ['m1', 'm2', 'm3'],
    );
    assert.equal(rows[0]!.occurred_at.toISOString(), at.toISOString(), 'the time of the action is kept');
    assert.equal((await chained(b)).length, 1);
    const verified = await verifyAudit(suite.db);
    assert.equal(verified.ok, true);
  });

  test('a flush extends a chain that direct appends started and continue, with two statements per organisation', async () => {
    const org = randomUUID();
    await appendAudit(suite.db, event(org, 1));
    await suite.db.transaction(async (tx) => {
      for (let i = 2; i <= 6; i++) await stageAudit(tx, event(org, i));
    });
    let statements = 0;
    const db = suite.db;
    const counting: Db = {
      kind: db.kind,
      query: (sql, params) => db.query(sql, params),
      exec: (sql) => db.exec(sql),
      listen: (channel, onNotify) => db.listen(channel, onNotify),
      close: () => db.close(),
      transaction: (fn) =>
        db.transaction((tx) =>
          fn({
            exec: (sql) => tx.exec(sql),
            query: (sql, params) => {
              statements++;
              return tx.query(sql, params);
            },
          }),
        ),
    };
    assert.equal(await flushAuditOutbox(counting, 500), 5);
    // The outbox read, the head's lock, one insert of all five, the outbox delete.
    assert.equal(statements, 4);
    await appendAudit(suite.db, event(org, 7));
    const { rows } = await suite.db.query<{ seq: string; object_id: string }>(
      'SELECT seq, object_id FROM audit_events WHERE org_id = $1 ORDER BY seq',
      [org],
    );
    assert.deepEqual(
      rows.map((r) => `${r.seq}:${r.object_id}`),
      ['1:m1', '2:m2', '3:m3', '4:m4', '5:m5', '6:m6', '7:m7'],
    );
    assert.equal((await verifyAudit(suite.db, { orgId: org })).ok, true);
  });

  test('an invalid event fails the action at once, not later in the flusher', async () => {
    await assert.rejects(
      stageAudit(suite.db, { ...event(randomUUID(), 1), action: 'Not An Action' }),
      /Invalid audit event/,
    );
  });

  test('concurrent flushers share the work without deadlock or duplicates', async () => {
    const orgs = [randomUUID(), randomUUID(), randomUUID()];
    await suite.db.transaction(async (tx) => {
      for (let i = 0; i < 60; i++) await stageAudit(tx, event(orgs[i % 3]!, i));
    });
    const moved = await Promise.all([1, 2, 3].map(() => flushAuditOutbox(suite.db, 7)));
    let total = moved.reduce((x, y) => x + y, 0);
    while (total < 60) total += await flushAuditOutbox(suite.db, 7);
    assert.equal(total, 60);
    const { rows } = await suite.db.query<{ n: string }>(
      'SELECT count(*) AS n FROM audit_events WHERE org_id = ANY($1::uuid[])',
      [orgs],
    );
    assert.equal(Number(rows[0]!.n), 60);
    assert.equal((await verifyAudit(suite.db)).ok, true);
  });
});
