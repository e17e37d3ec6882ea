import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Db } from '../../src/db/index.ts';
import { AUTH_CACHE_MS, AuthCache } from '../../src/identity/auth-cache.ts';
import type { InitResult } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';

// What authentication caches (keys, access policies, custom roles) and how long: a change made
// through the process applies to its next request; one made elsewhere within AUTH_CACHE_MS.

describe('the authentication cache', () => {
  let now = 0;
  const cache = () => new AuthCache({ ttlMs: 1000, now: () => now });

  test('keeps a value for its TTL, counted from the load', async () => {
    const c = cache();
    let loads = 0;
    const load = async () => ++loads;
    now = 0;
    assert.equal(await c.get('a', load), 1);
    now = 999;
    assert.equal(await c.get('a', load), 1);
    now = 1000;
    assert.equal(await c.get('a', load), 2);
  });

  test('keeps neither nothing (null) nor a failure', async () => {
    const c = cache();
    let loads = 0;
    now = 0;
    assert.equal(await c.get('none', async () => (loads++, null)), null);
    assert.equal(await c.get('none', async () => (loads++, null)), null);
    await assert.rejects(c.get('bad', async () => Promise.reject(new Error('down'))));
    assert.equal(await c.get('bad', async () => 'up'), 'up');
    assert.equal(loads, 2);
  });

  test('a change bypasses the cache while it runs and forgets it when it ends', async () => {
    const c = cache();
    now = 0;
    await c.get('a', async () => 'old');
    await c.during(async () => {
      assert.equal(await c.get('a', async () => 'inside'), 'inside');
      assert.equal(await c.get('a', async () => 'inside again'), 'inside again');
    });
    assert.equal(await c.get('a', async () => 'new'), 'new');
  });

  test('a load that began before a change ended is not used after it', async () => {
    const c = cache();
    now = 0;
    let release!: (value: string) => void;
    const slow = c.get('a', () => new Promise<string>((resolve) => (release = resolve)));
    await c.during(async () => {});
    release('read before the commit');
    assert.equal(await slow, 'read before the commit');
    assert.equal(await c.get('a', async () => 'read after'), 'read after');
  });

  test('a watched database forgets at the end of each transaction, not on a plain query', async () => {
    const c = cache();
    now = 0;
    const db = {
      kind: 'pglite',
      query: async () => ({ rows: [], rowCount: 0 }),
      exec: async () => {},
      close: async () => {},
      transaction: async <T>(fn: (tx: never) => Promise<T>) => fn(undefined as never),
    } as unknown as Db;
    const watched = c.watch(db);
    await c.get('a', async () => 1);
    await watched.query('SELECT 1');
    assert.equal(await c.get('a', async () => 2), 1);
    await watched.transaction(async () => {});
    assert.equal(await c.get('a', async () => 3), 3);
  });
});

describeEachDb('cached credentials over HTTP', (suite) => {
  let server: TestServer;
  /** A second process on the same database: its cache learns of changes only by time. */
  let other: TestServer;

  before(async () => {
    server = await startTestServer(suite.testDb);
    other = await startTestServer(suite.testDb);
  });
  after(async () => {
    await server.close();
    await other.close();
  });

  const get = (s: TestServer, token: string) => s.request('GET', '/v1/organization', { token });

  async function newKey(org: InitResult, scopes = ['org:read']): Promise<{ id: string; token: string }> {
    const res = await server.request('POST', '/v1/api-keys', {
      token: org.api_key,
      body: { name: 'cached', scopes },
    });
    assert.equal(res.status, 201, res.text);
    return { id: res.body.id, token: res.body.token };
  }

  test('a revoked key stops at once in the process that revoked it, within the bound in another', async () => {
    const org = await server.createOrg('Cache Clinic');
    const key = await newKey(org);
    // Both processes have the key in their caches.
    for (let i = 0; i < 3; i++) {
      assert.equal((await get(server, key.token)).status, 200);
      assert.equal((await get(other, key.token)).status, 200);
    }
    const revoked = await server.request('DELETE', `/v1/api-keys/${key.id}`, { token: org.api_key });
    assert.equal(revoked.status, 204);
    const at = Date.now();
    assert.equal((await get(server, key.token)).status, 401);
    // The other process refuses it once its cached record is older than AUTH_CACHE_MS.
    let status = 200;
    while (status === 200 && Date.now() - at < AUTH_CACHE_MS + 2000) {
      status = (await get(other, key.token)).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 401);
    assert.ok(Date.now() - at <= AUTH_CACHE_MS + 2000);
  });

  test('a narrowed network applies to the next request, for keys and for the caller', async () => {
    const org = await server.createOrg('Network Clinic');
    const key = await newKey(org);
    assert.equal((await get(server, key.token)).status, 200);
    assert.equal((await get(server, org.api_key)).status, 200);
    const changed = await server.request('PATCH', '/v1/policies/access', {
      token: org.api_key,
      body: { networks: ['192.0.2.0/24'], force: true },
    });
    assert.equal(changed.status, 200, changed.text);
    for (const token of [key.token, org.api_key]) {
      const refused = await get(server, token);
      assert.equal(refused.status, 403, refused.text);
      assert.equal(refused.body.code, 'network_not_allowed');
    }
  });

  test('a key whose scopes were used keeps no more than it has: another key of the organisation is unaffected', async () => {
    const org = await server.createOrg('Scope Clinic');
    const reader = await newKey(org, ['org:read']);
    const domains = await newKey(org, ['domains:read']);
    assert.equal((await get(server, reader.token)).status, 200);
    assert.equal((await server.request('GET', '/v1/domains', { token: domains.token })).status, 200);
    // Each cached record is its own key's: neither borrows the other's scopes.
    assert.equal((await server.request('GET', '/v1/domains', { token: reader.token })).status, 403);
    assert.equal((await get(server, domains.token)).status, 403);
    // A wrong secret for a cached key id is still refused.
    const forged = `${reader.token.slice(0, 22)}${'A'.repeat(43)}`;
    assert.equal((await get(server, forged)).status, 401);
  });
});
