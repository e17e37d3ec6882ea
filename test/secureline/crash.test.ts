import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { postgresOrSkip } from '../support/db.ts';
import { startServe } from '../support/cli.ts';
import { startTestServer } from '../support/app.ts';
import { startMailWorld } from '../support/mail-world.ts';
import { verifiedDomain } from '../support/sending.ts';

// A worker killed with SIGKILL in the middle of a delivery loses nothing: the job's lease runs
// out, another worker process takes it and delivers. PostgreSQL only: worker processes share it.

test('a worker killed mid-delivery loses nothing: another worker delivers once the lease runs out', async (t) => {
  const testDb = await postgresOrSkip(t);
  if (!testDb) return;
  const world = await startMailWorld();
  // The recipient's server first answers nothing at all: the worker hangs in the conversation.
  const address = '127.0.0.40';
  const held: Socket[] = [];
  const tarpit = createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => tarpit.listen(world.port, address, resolve));
  world.dns.setMx('crash.test', [{ exchange: 'mx.crash.test', priority: 10 }]);
  world.dns.setA('mx.crash.test', [address]);

  const env = {
    SEALPOST_DNS_SERVERS: world.dnsServer,
    SEALPOST_DELIVERY_PORT: String(world.port),
    SEALPOST_EXTRA_CA_FILE: world.writeCaFile(),
    SEALPOST_MAIL_HOSTNAME: 'mail.sealpost.test',
    SEALPOST_DELIVERY_LEASE_SECONDS: '5',
    SEALPOST_QUEUE_SUPERVISE_SECONDS: '1',
  };
  const server = await startTestServer(testDb, env);
  const workerEnv = {
    ...env,
    SEALPOST_DATABASE_URL: testDb.location,
    SEALPOST_MASTER_KEY: server.config.masterKey!,
    SEALPOST_DATA_DIR: server.config.dataDir,
  };
  try {
    const org = await server.createOrg('Crash Clinic');
    await verifiedDomain(server, world.dns, org.api_key, 'clinic.test');
    const sent = await server.request('POST', '/v1/messages', {
      token: org.api_key,
      body: { from: 'care@clinic.test', to: ['pat@crash.test'], subject: 'Results', text: 'Ready.' },
    });
    assert.equal(sent.status, 202, sent.text);

    const first = await startServe(workerEnv, ['--only', 'worker']);
    const until = Date.now() + 20_000;
    while (held.length === 0) {
      assert.ok(Date.now() < until, 'the first worker never reached the recipient server');
      await new Promise((r) => setTimeout(r, 50));
    }
    await first.stop('SIGKILL');
    const state = await testDb.db.query<{ state: string }>(
      'SELECT state FROM message_recipients WHERE org_id = $1',
      [org.org_id],
    );
    assert.equal(state.rows[0]!.state, 'delivering', 'the killed worker recorded nothing');

    // The server comes back to life; a second worker takes the abandoned job over.
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => tarpit.close(() => resolve()));
    await world.addReceiver('crash', { address });
    const second = await startServe(workerEnv, ['--only', 'worker']);
    try {
      const received = await world.waitForMessages('crash', 1, 60_000);
      assert.equal(received.length, 1);
      let recipient: { state: string; attempts: number } | undefined;
      for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
        const res = await server.request('GET', `/v1/messages/${sent.body.id}`, { token: org.api_key });
        recipient = res.body.recipients[0];
        if (recipient!.state === 'delivered') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(recipient!.state, 'delivered');
      assert.equal(recipient!.attempts, 1);
    } finally {
      await second.stop();
    }
  } finally {
    await server.close();
    await world.close();
    await testDb.dispose();
  }
});
