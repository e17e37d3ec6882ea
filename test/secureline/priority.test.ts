import assert from 'node:assert/strict';
import { test } from 'node:test';
import { App } from '../../src/app/index.ts';
import { loadMasterKeys } from '../../src/crypto/index.ts';
import { startTestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { startMailWorld } from '../support/mail-world.ts';
import { verifiedDomain } from '../support/sending.ts';

describeEachDb('delivery priority', (suite) => {
  test('transactional mail passes bulk mail waiting in the queue', async () => {
    const world = await startMailWorld();
    // The API alone first: the queue fills while no worker runs.
    const server = await startTestServer(suite.testDb, {
      ...world.env(),
      SEALPOST_DELIVERY_CONCURRENCY: '1',
    });
    let worker: App | undefined;
    try {
      const org = await server.createOrg('Priority Clinic');
      await verifiedDomain(server, world.dns, org.api_key, 'clinic.test');
      const send = (to: string, priority: string) =>
        server.request('POST', '/v1/messages', {
          token: org.api_key,
          body: { from: 'care@clinic.test', to: [to], subject: 'x', text: 'y', priority },
        });
      for (let i = 0; i < 5; i++) assert.equal((await send(`bulk${i}@tls.test`, 'bulk')).status, 202);
      assert.equal((await send('urgent@tls.test', 'transactional')).status, 202);

      // One worker taking one job at a time.
      worker = await App.create(server.config, suite.db, loadMasterKeys(server.config));
      await worker.start(['worker']);
      const received = await world.waitForMessages('tls', 6, 30_000);
      assert.deepEqual(received[0]!.to, ['urgent@tls.test']);
      assert.deepEqual(
        received.slice(1).map((m) => m.to[0]),
        ['bulk0@tls.test', 'bulk1@tls.test', 'bulk2@tls.test', 'bulk3@tls.test', 'bulk4@tls.test'],
      );
    } finally {
      await worker?.stopServices({ queueTimeoutMs: 2000 });
      await server.close();
      await world.close();
    }
  });
});
