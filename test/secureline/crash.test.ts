import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '../../src/db/index.ts';
import { openPglite } from '../../src/db/pglite.ts';
import { startServe } from '../support/cli.ts';
import { startTestServer } from '../support/app.ts';
import { createTestDb, postgresOrSkip, type TestDb } from '../support/db.ts';
import { type MailWorld, type Receiver, startMailWorld } from '../support/mail-world.ts';
import { verifiedDomain } from '../support/sending.ts';

// A worker process killed with SIGKILL while it delivers a backlog at full speed loses nothing
// and holds nothing for long. On the embedded database the restarted server hands back every
// claim at start; on PostgreSQL the surviving worker finds that the dead one's heartbeats stopped
// (15-20 s with the default settings) and takes its deliveries over. Mail the recipient's server
// accepted while its outcome was not yet committed is delivered again: such duplicates can only
// be among the deliveries the dead worker held when it died, and never more than they.

/** Messages in the backlog, and how many more the recipient's server takes before the kill. */
const MESSAGES = 400;
const KILLED_AFTER = 100;
/** The most a worker holds at once (SEALPOST_DELIVERY_CONCURRENCY's default). */
const CONCURRENCY = 50;
const TAKEOVER_LIMIT_MS = 30_000;

interface Backlog {
  world: MailWorld;
  receiver: Receiver;
  testDb: TestDb;
  /** What a `sealpost serve` over this database and mail world needs. */
  env: Record<string, string>;
  orgId: string;
}

/** A verified sending domain and MESSAGES accepted messages, one recipient each, none delivered. */
async function backlog(testDb: TestDb): Promise<Backlog> {
  const world = await startMailWorld();
  const receiver = await world.addReceiver('load');
  const env = {
    ...world.env(),
    SEALPOST_MAIL_HOSTNAME: 'mail.sealpost.test',
    SEALPOST_MODE: 'production',
    SEALPOST_LOG_LEVEL: 'warn',
  };
  const server = await startTestServer(testDb, env);
  try {
    const org = await server.createOrg('Crash Clinic');
    await verifiedDomain(server, world.dns, org.api_key, 'clinic.test');
    const messages = Array.from({ length: MESSAGES }, (_, i) => ({
      from: 'care@clinic.test',
      to: [`patient${i}@load.test`],
      subject: 'Results',
      text: 'Ready.',
    }));
    const sent = await server.request('POST', '/v1/messages/batch', {
      token: org.api_key,
      body: { messages },
    });
    assert.equal(sent.body.accepted, MESSAGES, sent.text);
    return {
      world,
      receiver,
      testDb,
      env: {
        ...env,
        // On PostgreSQL the folder holds nothing that matters (the master key comes in the environment).
        SEALPOST_DATA_DIR:
          testDb.kind === 'pglite' ? testDb.location : mkdtempSync(join(tmpdir(), 'sealpost-crash-')),
        SEALPOST_MASTER_KEY: server.config.masterKey!,
        ...(testDb.kind === 'postgres' ? { SEALPOST_DATABASE_URL: testDb.location } : {}),
      },
      orgId: org.org_id,
    };
  } finally {
    await server.close();
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** How many times the recipient's server received each address. */
function receivedCounts(receiver: Receiver): Map<string, number> {
  const counts = new Map<string, number>();
  for (const message of receiver.messages)
    for (const to of message.to) counts.set(to, (counts.get(to) ?? 0) + 1);
  return counts;
}

async function until(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The addresses of the recipients a dead worker held, as the database shows them after the kill. */
async function heldAddresses(db: Db, orgId: string, workerId?: string): Promise<Set<string>> {
  const { rows } = await db.query<{ address: string }>(
    `SELECT address FROM message_recipients WHERE org_id = $1 AND state = 'delivering'
       AND ($2::uuid IS NULL OR claimed_by = $2)`,
    [orgId, workerId ?? null],
  );
  return new Set(rows.map((r) => r.address));
}

/** Every recipient delivered once by the record; the duplicates only among those held at the kill. */
async function checkOutcome(t: TestContext, db: Db, b: Backlog, held: Set<string>, timing: string) {
  const { rows } = await db.query<{ state: string; attempts: number; n: number }>(
    'SELECT state, attempts, count(*)::int AS n FROM message_recipients WHERE org_id = $1 GROUP BY 1, 2',
    [b.orgId],
  );
  assert.deepEqual(rows, [{ state: 'delivered', attempts: 1, n: MESSAGES }]);
  const twice = [...receivedCounts(b.receiver)].filter(([, n]) => n > 1).map(([address]) => address);
  t.diagnostic(
    `${b.testDb.kind}: ${timing}; ${held.size} held by the killed worker, ${twice.length} delivered twice`,
  );
  assert.ok(held.size <= CONCURRENCY, `the dead worker held ${held.size}`);
  for (const address of twice)
    assert.ok(held.has(address), 'only a delivery in flight at the kill is repeated');
}

test('embedded database: a server killed under load is restarted and delivers everything at once', async (t) => {
  const b = await backlog(await createTestDb('pglite'));
  // The folder passes to the server processes.
  await b.testDb.db.close();
  try {
    const first = await startServe(b.env);
    // Killed as the message arrives (not when a poll notices), so it is delivering at full speed.
    await b.world.waitForMessages('load', KILLED_AFTER, 60_000);
    await first.stop('SIGKILL');

    // What the dead process held (its lock is stale, so the folder can be opened here).
    const db = await openPglite(join(b.testDb.location, 'db'));
    const held = await heldAddresses(db, b.orgId);
    await db.close();
    assert.ok(held.size > 0, 'the server was killed while it delivered');

    const restarted = Date.now();
    const second = await startServe(b.env);
    const readyMs = Date.now() - restarted;
    let takeoverMs: number;
    try {
      await until(
        'every recipient delivered',
        () => receivedCounts(b.receiver).size === MESSAGES,
        TAKEOVER_LIMIT_MS - readyMs,
      );
      takeoverMs = Date.now() - restarted;
    } finally {
      assert.equal(await second.stop(), 0);
    }
    const after = await openPglite(join(b.testDb.location, 'db'));
    try {
      const timing = `all ${MESSAGES} delivered ${seconds(takeoverMs)} after the restart (ready after ${seconds(readyMs)})`;
      await checkOutcome(t, after, b, held, timing);
    } finally {
      await after.close();
    }
  } finally {
    await b.world.close();
    await b.testDb.dispose();
  }
});

test('PostgreSQL: a worker killed under load is taken over by the surviving worker within 30 s', async (t) => {
  const testDb = await postgresOrSkip(t);
  if (!testDb) return;
  const b = await backlog(testDb);
  try {
    const [doomed, survivor] = await Promise.all([
      startServe(b.env, ['--only', 'worker']),
      startServe(b.env, ['--only', 'worker']),
    ]);
    try {
      const { rows } = await testDb.db.query<{ worker_id: string }>(
        'SELECT worker_id FROM delivery_workers WHERE pid = $1',
        [doomed.process.pid],
      );
      assert.equal(rows.length, 1, 'the worker is registered');
      await b.world.waitForMessages('load', b.receiver.messages.length + KILLED_AFTER, 60_000);
      await doomed.stop('SIGKILL');
      const killed = Date.now();
      const held = await heldAddresses(testDb.db, b.orgId, rows[0]!.worker_id);
      assert.ok(held.size > 0, 'the worker was killed while it delivered');

      await until(
        'every recipient delivered',
        () => receivedCounts(b.receiver).size === MESSAGES,
        TAKEOVER_LIMIT_MS,
      );
      const takeoverMs = Date.now() - killed;
      // The last outcomes are committed just after their messages arrive.
      for (let open = 1; open > 0;) {
        const { rows: left } = await testDb.db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM message_recipients WHERE org_id = $1 AND state <> 'delivered'",
          [b.orgId],
        );
        open = left[0]!.n;
        assert.ok(Date.now() - killed < TAKEOVER_LIMIT_MS + 5000, `${open} outcomes never recorded`);
        if (open > 0) await new Promise((r) => setTimeout(r, 50));
      }
      await checkOutcome(
        t,
        testDb.db,
        b,
        held,
        `all ${MESSAGES} delivered ${seconds(takeoverMs)} after the kill`,
      );
    } finally {
      await survivor.stop();
    }
  } finally {
    await b.world.close();
    await testDb.dispose();
  }
});
