import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import {
  type AuditInput,
  appendAudit,
  eventHash,
  GENESIS_HASH,
  SYSTEM_ORG_ID,
  verifyAudit,
} from '../../src/audit/index.ts';
import type { Db, Transaction } from '../../src/db/index.ts';
import { SealpostError } from '../../src/errors/index.ts';
import { describeEachDb } from '../support/db.ts';

const T0 = Date.parse('2026-03-01T09:00:00.000Z');
/** No signed checkpoints in these chains (test/audit/checkpoints.test.ts has them). */
const NO_CHECKPOINTS = { checked: 0, unverifiable: 0, keyIds: [], latest: null };

/** A pinned clock: one second per reading. */
function steppingClock(start = T0) {
  let t = start;
  return () => {
    const now = new Date(t);
    t += 1000;
    return now;
  };
}

function event(orgId: string, i: number, extra: Partial<AuditInput> = {}): AuditInput {
  return {
    orgId,
    actor: { type: 'api_key', id: `key${i % 3}`, label: `spk_key${i % 3}` },
    action: 'api_key.created',
    objectType: 'api_key',
    objectId: `obj${i}`,
    outcome: 'success',
    ip: '192.0.2.10',
    requestId: `req-${i}`,
    details: { n: i, scopes: 'org:read' },
    ...extra,
  };
}

/** A chain of `n` events in a new organisation. */
async function chain(db: Db, n: number): Promise<{ orgId: string; ids: string[] }> {
  const orgId = randomUUID();
  const clock = steppingClock();
  const ids: string[] = [];
  for (let i = 1; i <= n; i++) ids.push((await appendAudit(db, event(orgId, i), { clock })).eventId);
  return { orgId, ids };
}

/**
 * What an attacker with database superuser (or table owner) rights can do: switch the triggers off,
 * change rows, switch them back on. Exactly what the hash chain and its head are there to catch.
 */
async function tamper(db: Db, fn: (tx: Transaction) => Promise<unknown>): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
    await tx.query('ALTER TABLE audit_heads DISABLE TRIGGER USER');
    await fn(tx);
    await tx.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
    await tx.query('ALTER TABLE audit_heads ENABLE TRIGGER USER');
  });
}

async function refused(db: Db, sql: string, params: unknown[] = []): Promise<string> {
  const err = await db.query(sql, params).then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(err, `the database accepted: ${sql}`);
  return err.message;
}

describeEachDb('audit chain', (suite) => {
  test('appends a chain from seq 1, each event linked to the one before; verify finds it intact', async () => {
    const orgId = randomUUID();
    const clock = steppingClock();
    // Details that a careless serialisation would not round-trip through jsonb.
    const details = {
      z: 'last key first',
      a: [1, 0.1, 1e21, -2.5e-7, true, null, 'é日本🙂'],
      nested: { b: { c: 'x' }, a: [] },
      quote: 'a "quoted", comma',
    };
    const first = await appendAudit(suite.db, event(orgId, 1, { details, orgId: orgId.toUpperCase() }), {
      clock,
    });
    assert.equal(first.orgId, orgId, 'org ids are stored in lower case');
    assert.equal(first.seq, 1);
    assert.deepEqual(first.prevHash, GENESIS_HASH);
    assert.equal(first.occurredAt.toISOString(), '2026-03-01T09:00:00.000Z');
    const second = await appendAudit(suite.db, event(orgId, 2, { ip: null, requestId: undefined }), {
      clock,
    });
    assert.equal(second.seq, 2);
    assert.deepEqual(second.prevHash, first.hash);
    assert.deepEqual(eventHash(second.prevHash, second), second.hash);

    const { rows } = await suite.db.query<{
      seq: number;
      details: unknown;
      occurred_at: Date;
      ip: string | null;
    }>('SELECT seq, details, occurred_at, ip FROM audit_events WHERE org_id = $1 ORDER BY seq', [orgId]);
    assert.deepEqual(
      rows.map((r) => r.seq),
      [1, 2],
    );
    assert.deepEqual(rows[0]!.details, details);
    assert.equal(rows[1]!.ip, null);

    const result = await verifyAudit(suite.db, { orgId });
    assert.deepEqual(result, {
      ok: true,
      chains: 1,
      events: 2,
      head: { seq: 2, hash: second.hash.toString('hex') },
      checkpoints: NO_CHECKPOINTS,
    });
  });

  test('system-wide events have a chain of their own under the all-zero organisation id', async () => {
    const e = await appendAudit(suite.db, {
      orgId: SYSTEM_ORG_ID,
      actor: { type: 'cli', id: 'root', label: 'cli:root' },
      action: 'master_key.rotated',
      objectType: 'master_key',
      objectId: 'v2',
      outcome: 'success',
    });
    assert.equal(e.seq, 1);
    assert.deepEqual(e.details, {});
    assert.equal((await verifyAudit(suite.db, { orgId: SYSTEM_ORG_ID })).ok, true);
  });

  test('verify over every chain counts chains and events and reports progress', async () => {
    await chain(suite.db, 5);
    await chain(suite.db, 7);
    const lines: string[] = [];
    const result = await verifyAudit(suite.db, {
      onProgress: (l) => lines.push(l),
      progressEvery: 4,
      pageSize: 3,
    });
    assert.equal(result.ok, true);
    // The two chains above plus those of the earlier tests: 2 + 1 + 5 + 7 events in 4 chains.
    assert.deepEqual(result, { ok: true, chains: 4, events: 15, checkpoints: NO_CHECKPOINTS });
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /verified 4 audit events/);
  });

  test("an event commits with its action's transaction, or not at all, and leaves no gap", async () => {
    const { orgId } = await chain(suite.db, 2);
    await assert.rejects(
      suite.db.transaction(async (tx) => {
        await appendAudit(tx, event(orgId, 3));
        throw new Error('the action failed after its audit event');
      }),
      /the action failed/,
    );
    const next = await appendAudit(suite.db, event(orgId, 4));
    assert.equal(next.seq, 3);
    assert.equal((await verifyAudit(suite.db, { orgId })).ok, true);
  });

  test('an invalid event is refused and nothing is written', async () => {
    const orgId = randomUUID();
    const bad: Partial<AuditInput>[] = [
      { orgId: 'not-a-uuid' },
      { action: 'Created' },
      { action: 'api_key' },
      { objectType: 'API key' },
      { outcome: 'maybe' as 'success' },
      { actor: { type: 'user', id: '', label: '' } },
      { details: { when: new Date() as unknown as string } },
      { details: { n: Number.NaN } },
      { details: { s: 'nul\u0000byte' } },
      { details: { a: { b: { c: { d: { e: 1 } } } } } },
      {
        details: {
          big: 'x'.repeat(1999),
          more: 'y'.repeat(1999),
          again: 'z'.repeat(1999),
          last: 'w'.repeat(1999),
          l: 'v'.repeat(1999),
        },
      },
      { details: [1, 2] as unknown as Record<string, number> },
    ];
    for (const extra of bad) {
      await assert.rejects(
        appendAudit(suite.db, event(orgId, 1, extra)),
        (err: unknown) =>
          err instanceof SealpostError && err.code === 'audit_event_invalid' && err.status === 500,
        JSON.stringify(extra),
      );
    }
    const { rows } = await suite.db.query('SELECT 1 FROM audit_events WHERE org_id = $1', [orgId]);
    assert.equal(rows.length, 0);
  });

  test('the database refuses to update, delete or truncate events, or to move a head by hand', async () => {
    const { orgId } = await chain(suite.db, 3);
    assert.match(
      await refused(suite.db, "UPDATE audit_events SET action = 'x.y' WHERE org_id = $1 AND seq = 2", [
        orgId,
      ]),
      /append-only: UPDATE on audit_events refused/,
    );
    assert.match(
      await refused(suite.db, 'DELETE FROM audit_events WHERE org_id = $1 AND seq = 2', [orgId]),
      /append-only: DELETE on audit_events refused/,
    );
    assert.match(
      await refused(suite.db, 'TRUNCATE audit_events'),
      /append-only: TRUNCATE on audit_events refused/,
    );
    assert.match(
      await refused(suite.db, 'DELETE FROM audit_heads WHERE org_id = $1', [orgId]),
      /append-only: DELETE on audit_heads refused/,
    );
    assert.match(
      await refused(suite.db, 'TRUNCATE audit_heads'),
      /append-only: TRUNCATE on audit_heads refused/,
    );
    assert.match(
      await refused(suite.db, 'UPDATE audit_heads SET seq = seq + 1 WHERE org_id = $1', [orgId]),
      /head moves only when an event is appended/,
    );
    assert.match(
      await refused(suite.db, "INSERT INTO audit_heads (org_id, seq, hash) VALUES ($1, 5, '\\x00'::bytea)", [
        randomUUID(),
      ]),
      /must be empty|violates check constraint/,
    );
    // An event written by hand must still extend the head: seq and prev_hash are checked.
    assert.match(
      await refused(
        suite.db,
        `INSERT INTO audit_events (org_id, seq, event_id, occurred_at, actor_type, actor_id, actor_label, action,
           object_type, object_id, outcome, prev_hash, hash)
         SELECT org_id, 9, gen_random_uuid(), now(), 'user', 'u', 'u', 'x.y', 'x', 'x', 'success', hash, hash
         FROM audit_heads WHERE org_id = $1`,
        [orgId],
      ),
      /does not extend the chain head/,
    );
    assert.equal((await verifyAudit(suite.db, { orgId })).ok, true);
  });

  test('one statement may extend several chains, each link checked; the heads move to its last events', async () => {
    const a = await chain(suite.db, 2);
    const b = await chain(suite.db, 3);
    // Rows for hand-written inserts: (org, seq offset from its head, prev_hash, hash); the hashes
    // are not the events' real ones (verify would catch that), only the links are checked here.
    const insert = (rows: [string, number, string, string][]) => `
      INSERT INTO audit_events (org_id, seq, event_id, occurred_at, actor_type, actor_id, actor_label, action,
        object_type, object_id, outcome, prev_hash, hash)
      SELECT h.org_id, h.seq + r.d, gen_random_uuid(), now(), 'user', 'u', 'u', 'x.y', 'x', 'x', 'success',
        CASE WHEN r.prev = 'head' THEN h.hash ELSE decode(repeat(r.prev, 32), 'hex') END, decode(repeat(r.hash, 32), 'hex')
      FROM (VALUES ${rows.map(([org, d, prev, h]) => `('${org}'::uuid, ${d}, '${prev}', '${h}')`).join(', ')})
        AS r (org, d, prev, hash)
      JOIN audit_heads h ON h.org_id = r.org`;
    const refusedInserts: [string, [string, number, string, string][]][] = [
      [
        "the second event does not name the first one's hash",
        [
          [a.orgId, 1, 'head', 'aa'],
          [a.orgId, 2, 'ab', 'ac'],
        ],
      ],
      [
        'a gap in the sequence',
        [
          [a.orgId, 1, 'head', 'aa'],
          [a.orgId, 3, 'aa', 'ac'],
        ],
      ],
      [
        'one chain right, the other starting past its head',
        [
          [a.orgId, 1, 'head', 'aa'],
          [b.orgId, 2, 'head', 'bb'],
        ],
      ],
    ];
    for (const [why, rows] of refusedInserts)
      assert.match(await refused(suite.db, insert(rows)), /does not extend the chain head/, why);
    // Refused as a whole: nothing moved.
    for (const c of [a, b]) assert.equal((await verifyAudit(suite.db, { orgId: c.orgId })).ok, true);

    // Both chains extended correctly in one statement: accepted, and each head is its chain's
    // last new event (looked at inside the transaction, which is then rolled back).
    const heads = await suite.db
      .transaction(async (tx) => {
        await tx.query(
          insert([
            [a.orgId, 1, 'head', 'aa'],
            [a.orgId, 2, 'aa', 'ab'],
            [b.orgId, 1, 'head', 'bb'],
          ]),
        );
        const { rows } = await tx.query<{ org_id: string; seq: string; hash: Uint8Array }>(
          'SELECT org_id, seq, hash FROM audit_heads WHERE org_id = ANY($1::uuid[])',
          [[a.orgId, b.orgId]],
        );
        throw Object.assign(new Error('roll back'), { rows });
      })
      .catch((e: Error & { rows?: { org_id: string; seq: string; hash: Uint8Array }[] }) => {
        if (!e.rows) throw e;
        return e.rows;
      });
    const headOf = (orgId: string) => heads.find((h) => h.org_id === orgId)!;
    assert.equal(Number(headOf(a.orgId).seq), 4);
    assert.equal(Buffer.from(headOf(a.orgId).hash).toString('hex'), 'ab'.repeat(32));
    assert.equal(Number(headOf(b.orgId).seq), 4);
    assert.equal(Buffer.from(headOf(b.orgId).hash).toString('hex'), 'bb'.repeat(32));
    for (const c of [a, b]) assert.equal((await verifyAudit(suite.db, { orgId: c.orgId })).ok, true);
  });

  test('an edited event is named: hash_mismatch', async () => {
    for (const change of [
      "action = 'api_key.revoked'",
      `details = '{"n": 3, "scopes": "*"}'::jsonb`,
      "occurred_at = occurred_at + interval '1 millisecond'",
      "actor_id = 'someone-else'",
    ]) {
      const { orgId, ids } = await chain(suite.db, 5);
      await tamper(suite.db, (tx) =>
        tx.query(`UPDATE audit_events SET ${change} WHERE org_id = $1 AND seq = 3`, [orgId]),
      );
      const result = await verifyAudit(suite.db, { orgId });
      assert.equal(result.ok, false, change);
      assert.ok(!result.ok);
      assert.equal(result.reason, 'hash_mismatch', change);
      assert.equal(result.seq, 3);
      assert.equal(result.eventId, ids[2]);
      assert.equal(result.orgId, orgId);
    }
  });

  test('an edited event whose hash was recomputed breaks the next link: link_broken', async () => {
    const { orgId, ids } = await chain(suite.db, 5);
    const { rows } = await suite.db.query<{ occurred_at: Date; prev_hash: Buffer; event_id: string }>(
      'SELECT occurred_at, prev_hash, event_id FROM audit_events WHERE org_id = $1 AND seq = 3',
      [orgId],
    );
    const row = rows[0]!;
    const forged = {
      ...event(orgId, 3, { action: 'api_key.revoked' }),
      seq: 3,
      eventId: row.event_id,
      occurredAt: row.occurred_at,
    };
    const forgedHash = eventHash(row.prev_hash, {
      ...forged,
      ip: forged.ip ?? null,
      requestId: forged.requestId ?? null,
      details: forged.details ?? {},
    });
    await tamper(suite.db, (tx) =>
      tx.query(
        "UPDATE audit_events SET action = 'api_key.revoked', hash = $2 WHERE org_id = $1 AND seq = 3",
        [orgId, forgedHash],
      ),
    );
    const result = await verifyAudit(suite.db, { orgId });
    assert.ok(!result.ok);
    assert.equal(result.reason, 'link_broken');
    assert.equal(result.seq, 4);
    assert.equal(result.eventId, ids[3]);
  });

  test('a deleted event is named by the event after it: missing_event', async () => {
    const { orgId, ids } = await chain(suite.db, 6);
    await tamper(suite.db, (tx) =>
      tx.query('DELETE FROM audit_events WHERE org_id = $1 AND seq = 3', [orgId]),
    );
    const result = await verifyAudit(suite.db, { orgId });
    assert.ok(!result.ok);
    assert.equal(result.reason, 'missing_event');
    assert.equal(result.seq, 4);
    assert.equal(result.eventId, ids[3]);
    assert.match(result.detail, /event 3 is missing/);

    const first = await chain(suite.db, 3);
    await tamper(suite.db, (tx) =>
      tx.query('DELETE FROM audit_events WHERE org_id = $1 AND seq = 1', [first.orgId]),
    );
    const r2 = await verifyAudit(suite.db, { orgId: first.orgId });
    assert.ok(!r2.ok);
    assert.deepEqual([r2.reason, r2.seq], ['missing_event', 2]);
  });

  test('reordered events are named: link_broken', async () => {
    const { orgId, ids } = await chain(suite.db, 6);
    // Swap events 3 and 4 (through a free seq: the primary key holds at every step).
    await tamper(suite.db, async (tx) => {
      await tx.query('UPDATE audit_events SET seq = 1000 WHERE org_id = $1 AND seq = 3', [orgId]);
      await tx.query('UPDATE audit_events SET seq = 3 WHERE org_id = $1 AND seq = 4', [orgId]);
      await tx.query('UPDATE audit_events SET seq = 4 WHERE org_id = $1 AND seq = 1000', [orgId]);
    });
    const result = await verifyAudit(suite.db, { orgId });
    assert.ok(!result.ok);
    assert.equal(result.reason, 'link_broken');
    assert.equal(result.seq, 3);
    assert.equal(result.eventId, ids[3], 'the event now at seq 3 is the former event 4');

    // Swapping the timestamps instead changes the events themselves.
    const other = await chain(suite.db, 4);
    await tamper(suite.db, (tx) =>
      tx.query(
        `UPDATE audit_events a SET occurred_at = b.occurred_at FROM audit_events b
         WHERE a.org_id = $1 AND b.org_id = $1 AND a.seq + b.seq = 5 AND a.seq IN (2, 3)`,
        [other.orgId],
      ),
    );
    const r2 = await verifyAudit(suite.db, { orgId: other.orgId });
    assert.ok(!r2.ok);
    assert.deepEqual([r2.reason, r2.seq], ['hash_mismatch', 2]);
  });

  test('a deleted tail is caught by the head: head_mismatch', async () => {
    const { orgId } = await chain(suite.db, 6);
    await tamper(suite.db, (tx) =>
      tx.query('DELETE FROM audit_events WHERE org_id = $1 AND seq >= 5', [orgId]),
    );
    const result = await verifyAudit(suite.db, { orgId });
    assert.ok(!result.ok);
    assert.equal(result.reason, 'head_mismatch');
    assert.equal(result.seq, 5, 'the first missing event');
    assert.equal(result.eventId, null);
    assert.equal(result.events, 4);

    // Deleting the head as well leaves events without a head.
    const other = await chain(suite.db, 3);
    await tamper(suite.db, (tx) => tx.query('DELETE FROM audit_heads WHERE org_id = $1', [other.orgId]));
    const r2 = await verifyAudit(suite.db, { orgId: other.orgId });
    assert.ok(!r2.ok);
    assert.deepEqual([r2.reason, r2.seq], ['head_mismatch', 3]);

    // An event slipped in after the head.
    const third = await chain(suite.db, 2);
    await tamper(suite.db, (tx) =>
      tx.query(
        `INSERT INTO audit_events (org_id, seq, event_id, occurred_at, actor_type, actor_id, actor_label, action,
           object_type, object_id, outcome, prev_hash, hash)
         SELECT org_id, 3, gen_random_uuid(), now(), 'user', 'u', 'u', 'x.y', 'x', 'x', 'success', hash, hash
         FROM audit_heads WHERE org_id = $1`,
        [third.orgId],
      ),
    );
    const r3 = await verifyAudit(suite.db, { orgId: third.orgId });
    assert.ok(!r3.ok);
    assert.equal(r3.reason, 'hash_mismatch', 'its hash cannot be right without the chain code');
  });

  test('verify over every chain names each broken chain at its first broken event', async () => {
    const result = await verifyAudit(suite.db);
    assert.ok(!result.ok);
    // The chains broken by the tests above (4 edited, 1 re-hashed, 2 with a deleted event, 2
    // reordered, 3 cut or extended), in org id order; the first is also named at the top.
    assert.equal(result.breaks.length, 12);
    assert.deepEqual(
      [result.orgId, result.seq, result.reason],
      [result.breaks[0]!.orgId, result.breaks[0]!.seq, result.breaks[0]!.reason],
    );
    const orgIds = result.breaks.map((b) => b.orgId);
    assert.deepEqual(orgIds, [...orgIds].sort());
    for (const b of result.breaks) {
      const alone = await verifyAudit(suite.db, { orgId: b.orgId });
      assert.ok(!alone.ok);
      assert.deepEqual([alone.reason, alone.seq, alone.eventId], [b.reason, b.seq, b.eventId]);
    }
    // Every other chain was verified intact and counted.
    const { rows } = await suite.db.query<{ org_id: string }>(
      'SELECT org_id FROM audit_heads UNION SELECT org_id FROM audit_events',
    );
    assert.equal(result.chains, rows.length - result.breaks.length);
  });

  test('concurrent appends to one organisation stay one chain, and verify meanwhile sees no break', async () => {
    const orgId = randomUUID();
    const otherOrg = randomUUID();
    const appends = Array.from({ length: 50 }, (_, i) =>
      suite.db.transaction(async (tx) => {
        await tx.query('SELECT 1'); // some work of the action first
        return appendAudit(tx, event(i % 10 === 0 ? otherOrg : orgId, i));
      }),
    );
    const verifies = Array.from({ length: 5 }, () => verifyAudit(suite.db, { orgId, pageSize: 4 }));
    const [events, results] = await Promise.all([Promise.all(appends), Promise.all(verifies)]);
    for (const r of results) assert.equal(r.ok, true, JSON.stringify(r));
    const seqs = events.filter((e) => e.orgId === orgId).map((e) => e.seq);
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      Array.from({ length: 45 }, (_, i) => i + 1),
    );
    assert.deepEqual(await verifyAudit(suite.db, { orgId }), {
      ok: true,
      chains: 1,
      events: 45,
      head: { seq: 45, hash: events.find((e) => e.orgId === orgId && e.seq === 45)!.hash.toString('hex') },
      checkpoints: NO_CHECKPOINTS,
    });
    assert.equal((await verifyAudit(suite.db, { orgId: otherOrg })).ok, true);
  });
});
