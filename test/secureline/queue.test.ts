import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { App } from '../../src/app/index.ts';
import { loadMasterKeys } from '../../src/crypto/index.ts';
import { DELIVERY_CHANNEL } from '../../src/messages/index.ts';
import { claimDue, deliveryQueueStats } from '../../src/secureline/index.ts';
import { heartbeat } from '../../src/secureline/heartbeat.ts';
import { releaseClaim } from '../../src/secureline/queue.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';
import { settle, verifiedDomain } from '../support/sending.ts';

// The delivery queue is message_recipients itself: these tests claim from it directly (no worker
// runs in the API server) and check what a worker would be handed, and when.

describeEachDb('delivery queue', (suite) => {
  let world: MailWorld;
  let server: TestServer;
  let token: string;
  let orgId: string;
  const HOUR = 3_600_000;
  /** The worker these tests claim as (no worker process runs). */
  const WORKER = randomUUID();
  const claim = (options: Omit<Parameters<typeof claimDue>[1], 'workerId'>) =>
    claimDue(suite.db, { workerId: WORKER, ...options });

  before(async () => {
    world = await startMailWorld();
    server = await startTestServer(suite.testDb, world.env());
    const org = await server.createOrg('Queue Clinic');
    token = org.api_key;
    orgId = org.org_id;
    await verifiedDomain(server, world.dns, token, 'clinic.test');
  });
  after(async () => {
    await server.close();
    await world.close();
  });

  const send = async (to: string[], extra: Record<string, unknown> = {}) => {
    const res = await server.request('POST', '/v1/messages', {
      token,
      body: { from: 'care@clinic.test', to, subject: 'Results', text: 'Ready.', ...extra },
    });
    assert.equal(res.status, 202, res.text);
    return res.body as { id: string; recipients: { id: string }[] };
  };
  /** Each test starts from an empty queue: what earlier tests left is taken out of it. */
  const drain = () => suite.db.query('UPDATE message_recipients SET due_at = NULL, claimed_by = NULL');

  test('transactional recipients are claimed before bulk ones, each the longest waiting first', async () => {
    await drain();
    const bulk = await send(['b1@tls.test', 'b2@tls.test'], { priority: 'bulk' });
    const first = await send(['t1@tls.test']);
    const second = await send(['t2@tls.test']);
    const now = new Date(Date.now() + 1000);
    const one = await claim({ limit: 3, now, leaseSeconds: 60 });
    assert.deepEqual(
      one.map((c) => c.address),
      ['t1@tls.test', 't2@tls.test', 'b1@tls.test'],
    );
    assert.equal(one[0]!.recipient_id, first.recipients[0]!.id);
    assert.equal(one[1]!.recipient_id, second.recipients[0]!.id);
    assert.equal(one[0]!.state, 'delivering');
    assert.equal(one[0]!.claims, 1);
    assert.equal(one[0]!.message.message_id, first.id);
    assert.ok(one[0]!.message.content_sealed.length > 0, 'the sealed content comes with the claim');
    // Held ones are not handed out again while their lease runs.
    const two = await claim({ limit: 3, now, leaseSeconds: 60 });
    assert.deepEqual(
      two.map((c) => c.recipient_id),
      [bulk.recipients[1]!.id],
    );
    assert.equal((await claim({ limit: 3, now, leaseSeconds: 60 })).length, 0);
  });

  test('a lease that runs out makes the recipient due again, its claims counted', async () => {
    await drain();
    const sent = await send(['lease@tls.test']);
    const now = new Date(Date.now() + 1000);
    const [held] = await claim({ limit: 10, now, leaseSeconds: 30 });
    assert.equal(held!.recipient_id, sent.recipients[0]!.id);
    const stats = await deliveryQueueStats(suite.db, now);
    assert.equal(stats.active, 1);
    assert.equal(stats.queued, 0);
    assert.equal(
      (await claim({ limit: 10, now: new Date(now.getTime() + 29_000), leaseSeconds: 30 })).length,
      0,
    );
    const later = new Date(now.getTime() + 31_000);
    assert.equal((await deliveryQueueStats(suite.db, later)).queued, 1, 'an expired lease counts as queued');
    const [again] = await claim({ limit: 10, now: later, leaseSeconds: 30 });
    assert.equal(again!.recipient_id, held!.recipient_id);
    assert.equal(again!.claims, 2);
    assert.equal((await deliveryQueueStats(suite.db, later)).failed, 1, 'a second claim is a failed one');
  });

  test('a released claim is due again at the given time, in its state before the claim', async () => {
    await drain();
    const sent = await send(['release@tls.test']);
    const now = new Date(Date.now() + 1000);
    const [held] = await claim({ limit: 10, now, leaseSeconds: 300 });
    await releaseClaim(suite.db, WORKER, held!, new Date(now.getTime() + 15_000));
    const { rows } = await suite.db.query<{ state: string; due_at: Date }>(
      'SELECT state, due_at FROM message_recipients WHERE org_id = $1 AND recipient_id = $2',
      [orgId, sent.recipients[0]!.id],
    );
    assert.equal(rows[0]!.state, 'queued');
    assert.equal(rows[0]!.due_at.getTime(), now.getTime() + 15_000);
    assert.equal(
      (await claim({ limit: 10, now: new Date(now.getTime() + 14_000), leaseSeconds: 1 })).length,
      0,
    );
    assert.equal(
      (await claim({ limit: 10, now: new Date(now.getTime() + 15_000), leaseSeconds: 1 })).length,
      1,
    );
  });

  test("a worker's claims are handed back by another's heartbeat once its own heartbeats stop, not before", async () => {
    await drain();
    const [dead, live] = [randomUUID(), randomUUID()];
    const first = await heartbeat(suite.db, { workerId: dead, aliveSeconds: 15, now: new Date() });
    assert.deepEqual(first, { known: false, released: 0 }, 'a first heartbeat registers the worker');
    await heartbeat(suite.db, { workerId: live, aliveSeconds: 15, now: new Date() });
    await send(['held-by-dead@tls.test']);
    await send(['held-by-live@tls.test']);
    const now = new Date(Date.now() + 1000);
    const [ofDead] = await claimDue(suite.db, { workerId: dead, limit: 1, now, leaseSeconds: 300 });
    const [ofLive] = await claimDue(suite.db, { workerId: live, limit: 1, now, leaseSeconds: 300 });
    assert.deepEqual(await heartbeat(suite.db, { workerId: live, aliveSeconds: 15, now }), {
      known: true,
      released: 0,
    });

    // The first worker misses its heartbeats (its row expires, here set directly).
    await suite.db.query(
      "UPDATE delivery_workers SET expires_at = now() - interval '1 second' WHERE worker_id = $1",
      [dead],
    );
    assert.deepEqual(await heartbeat(suite.db, { workerId: live, aliveSeconds: 15, now }), {
      known: true,
      released: 1,
    });
    const { rows } = await suite.db.query<{ recipient_id: string; state: string; claimed_by: string | null }>(
      'SELECT recipient_id, state, claimed_by FROM message_recipients WHERE org_id = $1 AND recipient_id = ANY($2)',
      [orgId, [ofDead!.recipient_id, ofLive!.recipient_id]],
    );
    const byId = new Map(rows.map((r) => [r.recipient_id, r]));
    assert.deepEqual(byId.get(ofDead!.recipient_id), {
      recipient_id: ofDead!.recipient_id,
      state: 'queued',
      claimed_by: null,
    });
    assert.equal(byId.get(ofLive!.recipient_id)!.claimed_by, live, "a live worker's claim stays");
    const workers = await suite.db.query<{ worker_id: string }>(
      'SELECT worker_id FROM delivery_workers WHERE worker_id = ANY($1)',
      [[dead, live]],
    );
    assert.deepEqual(
      workers.rows.map((w) => w.worker_id),
      [live],
    );
    assert.equal((await heartbeat(suite.db, { workerId: live, aliveSeconds: 15, now })).released, 0);

    // Due at once: the next claim takes it, its claims counted.
    const [again] = await claimDue(suite.db, { workerId: live, limit: 10, now, leaseSeconds: 300 });
    assert.equal(again!.recipient_id, ofDead!.recipient_id);
    assert.equal(again!.claims, 2);
    // A worker taken for dead learns it from its next heartbeat.
    assert.equal((await heartbeat(suite.db, { workerId: dead, aliveSeconds: 15, now })).known, false);
  });

  test('a scheduled message is due at its send_at; a revoked one is never handed out', async () => {
    await drain();
    const sendAt = new Date(Date.now() + HOUR);
    const scheduled = await send(['later@tls.test'], { send_at: sendAt.toISOString() });
    const revoked = await send(['revoked@tls.test'], { send_at: sendAt.toISOString() });
    const res = await server.request('POST', `/v1/messages/${revoked.id}/revoke`, { token, body: {} });
    assert.equal(res.status, 200, res.text);
    assert.equal(
      (await claim({ limit: 10, now: new Date(sendAt.getTime() - 1000), leaseSeconds: 1 })).length,
      0,
    );
    const due = await claim({
      limit: 10,
      now: new Date(sendAt.getTime() + 1000),
      leaseSeconds: 1,
    });
    assert.deepEqual(
      due.map((c) => c.recipient_id),
      [scheduled.recipients[0]!.id],
    );
    // A final state reached behind the queue's back (here set directly) is cleared, not delivered.
    const stale = await send(['stale@tls.test']);
    await suite.db.query(
      "UPDATE message_recipients SET state = 'bounced' WHERE org_id = $1 AND recipient_id = $2",
      [orgId, stale.recipients[0]!.id],
    );
    assert.equal((await claim({ limit: 10, now: new Date(Date.now() + 1000), leaseSeconds: 1 })).length, 0);
    const { rows } = await suite.db.query<{ due_at: Date | null }>(
      'SELECT due_at FROM message_recipients WHERE org_id = $1 AND recipient_id = $2',
      [orgId, stale.recipients[0]!.id],
    );
    assert.equal(rows[0]!.due_at, null);
  });

  test('queueing a message notifies the delivery channel when it commits', async () => {
    let heard = 0;
    const unlisten = await suite.db.listen(DELIVERY_CHANNEL, () => heard++);
    try {
      await send(['notify@tls.test']);
      const until = Date.now() + 5000;
      while (heard === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.ok(heard > 0, 'no notification');
    } finally {
      await unlisten();
    }
  });

  test('a recipient whose deliveries never recorded an outcome in ten claims is failed, not retried forever', async () => {
    await drain();
    const sent = await send(['stuck@tls.test']);
    await suite.db.query(
      'UPDATE message_recipients SET claims = 10 WHERE org_id = $1 AND recipient_id = $2',
      [orgId, sent.recipients[0]!.id],
    );
    const worker = await App.create(server.config, suite.db, loadMasterKeys(server.config));
    await worker.start(['worker']);
    try {
      const [recipient] = await settle<{ state: string; method_reason: string; attempts: number }>(
        server,
        token,
        sent.id,
      );
      assert.equal(recipient!.state, 'failed');
      assert.match(recipient!.method_reason, /no outcome could be recorded in 10 tries/);
      assert.equal(recipient!.attempts, 0, 'nothing was sent');
    } finally {
      await worker.stopServices({ queueTimeoutMs: 2000 });
    }
    await server.app.flushAudit();
    const { rows } = await suite.db.query<{ details: { reason: string } }>(
      "SELECT details FROM audit_events WHERE org_id = $1 AND action = 'message.failed' AND object_id = $2",
      [orgId, sent.id],
    );
    assert.equal(rows[0]?.details.reason, 'no_outcome_recorded');
  });
});
