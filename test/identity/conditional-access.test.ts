import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { allowedFrom, checkNetworks, inNetworks } from '../../src/identity/access.ts';
import { createUser, hashPassword, type InitResult } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';

// Conditional access through HTTP. The server trusts X-Forwarded-For here (SEALPOST_TRUST_PROXY,
// as behind a reverse proxy), so each request can come from any address; a second server with the
// default setting shows the header is then ignored. Then the devices and addresses staff sign in
// from, and auth.new_device.

const PASSWORD = 'quiet lighthouse before dawn';

describe('allowed networks (node:net BlockList)', () => {
  test('IPv4, IPv6, IPv4-mapped IPv6, bare addresses; malformed ranges refused', () => {
    assert.ok(inNetworks('10.1.2.3', ['10.0.0.0/8']));
    assert.ok(!inNetworks('11.1.2.3', ['10.0.0.0/8']));
    assert.ok(inNetworks('::ffff:10.1.2.3', ['10.0.0.0/8']));
    assert.ok(inNetworks('2001:db8::1', ['2001:db8::/32']));
    assert.ok(!inNetworks('2001:db9::1', ['2001:db8::/32', '10.0.0.0/8']));
    assert.ok(inNetworks('192.0.2.7', ['192.0.2.7']));
    assert.ok(!inNetworks('192.0.2.8', ['192.0.2.7']));
    assert.ok(inNetworks('anything', []));
    assert.ok(!inNetworks(null, ['10.0.0.0/8']));
    assert.ok(
      allowedFrom(
        { networks: ['10.0.0.0/8'], role_networks: { sender: ['10.9.0.0/16'] } },
        'sender',
        '10.9.0.1',
      ),
    );
    assert.ok(
      !allowedFrom(
        { networks: ['10.0.0.0/8'], role_networks: { sender: ['10.9.0.0/16'] } },
        'sender',
        '10.8.0.1',
      ),
    );
    assert.ok(
      allowedFrom({ networks: ['10.0.0.0/8'], role_networks: { sender: ['10.9.0.0/16'] } }, null, '10.8.0.1'),
    );
    for (const bad of [
      '10.0.0.0/33',
      '10.0.0/8',
      '2001:db8::/129',
      'example.com/8',
      '10.0.0.0/8/1',
      '10.0.0.0/-1',
    ])
      assert.throws(() => checkNetworks([bad], 'networks'), /CIDR/, bad);
  });
});

describeEachDb('conditional access and new devices over HTTP', (suite) => {
  let server: TestServer;
  let org: InitResult;
  let origin: string;
  let hash: string;

  type Session = Record<string, string>;

  async function signIn(email: string, ip: string, device?: string) {
    const res = await server.request('POST', '/v1/auth/sign-in', {
      body: { email, password: PASSWORD },
      headers: { 'x-forwarded-for': ip, ...(device ? { cookie: device } : {}) },
    });
    const cookies = res.headers.getSetCookie();
    const session = cookies.find((c) => c.startsWith('sealpost_staff='))?.split(';')[0];
    const deviceCookie = cookies.find((c) => c.startsWith('sealpost_device='))?.split(';')[0];
    return {
      res,
      device: deviceCookie,
      session: session
        ? ({ cookie: session, 'x-csrf-token': res.body.csrf_token, origin, 'x-forwarded-for': ip } as Session)
        : null,
    };
  }

  async function newUser(email: string, role: string) {
    const user = await createUser(suite.db, org.org_id, { email, role });
    await suite.db.query('UPDATE users SET password_hash = $3 WHERE org_id = $1 AND user_id = $2', [
      org.org_id,
      user.id,
      hash,
    ]);
    return user;
  }

  async function events(action: string) {
    await server.app.flushAudit();
    return (
      await suite.db.query<{
        object_id: string;
        actor_id: string;
        ip: string;
        details: Record<string, unknown>;
      }>(
        'SELECT object_id, actor_id, ip, details FROM audit_events WHERE org_id = $1 AND action = $2 ORDER BY seq',
        [org.org_id, action],
      )
    ).rows;
  }

  /**
   * Changes the policy with SQL, as another process would. A running process sees such a change
   * within AUTH_CACHE_MS (auth-cache.ts); the test makes it forget its cache instead of waiting.
   */
  async function policyBySql(sql: string, params: unknown[], servers = [server]) {
    await suite.db.query(sql, params);
    for (const s of servers) s.app.identity.deps.authCache.clear();
  }

  const asKey = (method: string, path: string, ip: string, body?: unknown) =>
    server.request(method, path, { token: org.api_key, body, headers: { 'x-forwarded-for': ip } });

  before(async () => {
    server = await startTestServer(suite.testDb, { SEALPOST_TRUST_PROXY: 'true' });
    org = await server.createOrg('Access Clinic');
    origin = new URL(server.config.publicUrl).origin;
    hash = await hashPassword(PASSWORD);
    await newUser('admin@access.example', 'administrator');
  });
  after(() => server.close());
  beforeEach(async () => {
    await policyBySql('DELETE FROM access_policies WHERE org_id = $1', [org.org_id]);
    await suite.db.query('DELETE FROM auth_throttle');
  });

  test("a change that would lock out the caller's own address is refused unless forced", async () => {
    const { session } = await signIn('admin@access.example', '10.0.0.5');
    assert.ok(session);
    const refused = await server.request('PATCH', '/v1/policies/access', {
      headers: session,
      body: { networks: ['192.0.2.0/24'] },
    });
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.body.code, 'would_lock_out');
    assert.match(refused.headers.get('content-type') ?? '', /problem\+json/);
    assert.deepEqual((await server.request('GET', '/v1/policies/access', { headers: session })).body, {
      networks: [],
      role_networks: {},
      notify_new_device: true,
    });
    const bad = await server.request('PATCH', '/v1/policies/access', {
      headers: session,
      body: { networks: ['10.0.0.0/40'] },
    });
    assert.equal(bad.status, 422, bad.text);
    const unknownRole = await server.request('PATCH', '/v1/policies/access', {
      headers: session,
      body: { role_networks: { wizard: ['10.0.0.0/8'] } },
    });
    assert.equal(unknownRole.status, 422, unknownRole.text);

    const ok = await server.request('PATCH', '/v1/policies/access', {
      headers: session,
      body: { networks: ['10.0.0.0/8', '2001:db8::/32'] },
    });
    assert.equal(ok.status, 200, ok.text);
    const forced = await server.request('PATCH', '/v1/policies/access', {
      headers: session,
      body: { networks: ['192.0.2.0/24'], force: true },
    });
    assert.equal(forced.status, 200, forced.text);
    // Forced out: this very session is refused from now on.
    const after = await server.request('GET', '/v1/organization', { headers: session });
    assert.equal(after.status, 403, after.text);
    assert.equal(after.body.code, 'network_not_allowed');
    const changes = await events('policy.access_changed');
    assert.deepEqual(
      changes.map((e) => [e.details.networks, e.details.locks_out_caller]),
      [
        ['10.0.0.0/8 2001:db8::/32', false],
        ['192.0.2.0/24', true],
      ],
    );
  });

  test('API keys and sessions from outside the networks: 403 problem+json and access.denied', async () => {
    await policyBySql(
      `INSERT INTO access_policies (org_id, networks) VALUES ($1, '{10.0.0.0/8,2001:db8::/32}')`,
      [org.org_id],
    );
    for (const ip of ['10.1.2.3', '2001:db8::1', '::ffff:10.4.4.4'])
      assert.equal((await asKey('GET', '/v1/organization', ip)).status, 200, ip);
    for (const ip of ['192.0.2.7', '2001:db9::1', '127.0.0.1']) {
      const res = await asKey('GET', '/v1/organization', ip);
      assert.equal(res.status, 403, `${ip}: ${res.text}`);
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(res.body.code, 'network_not_allowed');
    }
    // Refused before anything is done: no message is accepted.
    const send = await asKey('POST', '/v1/domains', '192.0.2.7', { domain: 'refused.example' });
    assert.equal(send.status, 403);
    const { rows } = await suite.db.query('SELECT 1 FROM sending_domains WHERE org_id = $1', [org.org_id]);
    assert.equal(rows.length, 0);
    const denied = (await events('access.denied')).filter((e) => e.details.kind === 'api');
    assert.deepEqual(
      denied.slice(-4).map((e) => e.ip),
      ['192.0.2.7', '2001:db9::1', '127.0.0.1', '192.0.2.7'],
    );
    assert.equal(denied.at(-1)!.details.reason, 'network');
  });

  test("sign-in by the organisation's and the role's networks; the session is held to them too", async () => {
    await newUser('sender@access.example', 'sender');
    await policyBySql(
      `INSERT INTO access_policies (org_id, networks, role_networks) VALUES ($1, '{10.0.0.0/8}', $2)`,
      [org.org_id, JSON.stringify({ sender: ['10.9.0.0/16'] })],
    );
    const outside = await signIn('sender@access.example', '192.0.2.7');
    assert.equal(outside.res.status, 403, outside.res.text);
    assert.equal(outside.res.body.code, 'network_not_allowed');
    assert.equal(outside.session, null);
    const wrongForRole = await signIn('sender@access.example', '10.1.1.1');
    assert.equal(wrongForRole.res.status, 403, wrongForRole.res.text);
    // The administrator's role has no range of its own: the organisation's is enough.
    assert.equal((await signIn('admin@access.example', '10.1.1.1')).res.status, 200);
    // A wrong password from outside is the usual 401: the network says nothing about accounts.
    const wrong = await server.request('POST', '/v1/auth/sign-in', {
      body: { email: 'sender@access.example', password: 'not the password at all' },
      headers: { 'x-forwarded-for': '192.0.2.7' },
    });
    assert.equal(wrong.status, 401);

    const inside = await signIn('sender@access.example', '10.9.1.1');
    assert.equal(inside.res.status, 200, inside.res.text);
    const s = inside.session!;
    assert.equal((await server.request('GET', '/v1/organization', { headers: s })).status, 200);
    const moved = { ...s, 'x-forwarded-for': '10.1.1.1' };
    assert.equal((await server.request('GET', '/v1/organization', { headers: moved })).status, 403);
    assert.equal((await server.request('GET', '/v1/auth/session', { headers: moved })).status, 403);

    const denied = (await events('access.denied')).filter((e) => e.details.kind === 'sign_in');
    assert.ok(denied.length >= 3);
    assert.deepEqual(
      denied.slice(0, 2).map((e) => e.ip),
      ['192.0.2.7', '10.1.1.1'],
    );
  });

  test('without SEALPOST_TRUST_PROXY, X-Forwarded-For is ignored: the socket address counts', async () => {
    const plain = await startTestServer(suite.testDb);
    try {
      await policyBySql(
        `INSERT INTO access_policies (org_id, networks) VALUES ($1, '{127.0.0.0/8,::1/128}')`,
        [org.org_id],
        [server, plain],
      );
      const res = await plain.request('GET', '/v1/organization', {
        token: org.api_key,
        headers: { 'x-forwarded-for': '192.0.2.7' },
      });
      assert.equal(res.status, 200, res.text);
      await policyBySql(
        `UPDATE access_policies SET networks = '{10.0.0.0/8}' WHERE org_id = $1`,
        [org.org_id],
        [server, plain],
      );
      const spoofed = await plain.request('GET', '/v1/organization', {
        token: org.api_key,
        headers: { 'x-forwarded-for': '10.1.2.3' },
      });
      assert.equal(spoofed.status, 403, spoofed.text);
    } finally {
      await plain.close();
    }
  });

  test('a sign-in from a new device or a new address is recorded as auth.new_device', async () => {
    const user = await newUser('nurse@access.example', 'sender');
    const first = await signIn(user.email, '10.2.0.1');
    assert.equal(first.res.status, 200, first.res.text);
    assert.ok(first.device, 'a device cookie is given');
    assert.match(
      first.res.headers.getSetCookie().find((c) => c.startsWith('sealpost_device='))!,
      /HttpOnly; SameSite=Strict/,
    );
    // The same device from the same address: nothing new.
    assert.equal((await signIn(user.email, '10.2.0.1', first.device)).res.status, 200);
    // The same device from another address, then a new device from a known address.
    assert.equal((await signIn(user.email, '10.2.0.99', first.device)).res.status, 200);
    assert.equal((await signIn(user.email, '10.2.0.1')).res.status, 200);
    const seen = (await events('auth.new_device')).filter((e) => e.actor_id === user.id);
    assert.deepEqual(
      seen.map((e) => [e.ip, e.details]),
      [
        ['10.2.0.1', { new_device: true, new_address: true, first_sign_in: true }],
        ['10.2.0.99', { new_device: false, new_address: true, first_sign_in: false }],
        ['10.2.0.1', { new_device: true, new_address: false, first_sign_in: false }],
      ],
    );
    // Only hashes are kept.
    const { rows } = await suite.db.query<{ value_hash: Buffer }>(
      'SELECT value_hash FROM staff_sign_in_origins WHERE org_id = $1 AND user_id = $2',
      [org.org_id, user.id],
    );
    assert.equal(rows.length, 4);
    const stored = JSON.stringify(rows);
    assert.ok(!stored.includes('10.2.0') && !stored.includes(first.device!.split('=')[1]!));
  });
});
