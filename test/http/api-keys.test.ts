import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { InitResult } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';

describeEachDb('API keys over HTTP', (suite) => {
  let server: TestServer;
  let org: InitResult;

  before(async () => {
    server = await startTestServer(suite.testDb);
    org = await server.createOrg('Clinic');
  });
  after(() => server.close());

  const countKeys = async () =>
    (
      await suite.db.query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE org_id = $1', [
        org.org_id,
      ])
    ).rows[0]!.n;

  test('the first key reads its organisation; no key, a malformed or an unknown key is refused with 401', async () => {
    const ok = await server.request('GET', '/v1/organization', { token: org.api_key });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.id, org.org_id);
    assert.equal(ok.body.name, 'Clinic');

    for (const token of [undefined, 'nope', `spk_0123456789abcdef_${'A'.repeat(43)}`]) {
      const res = await server.request('GET', '/v1/organization', { token });
      assert.equal(res.status, 401, `token ${token}`);
      assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.equal(res.body.code, 'unauthorized');
    }
  });

  test('lifecycle: created with scopes and shown once, listed without secret, used, revoked', async () => {
    const created = await server.request('POST', '/v1/api-keys', {
      token: org.api_key,
      body: { name: 'EHR integration', scopes: ['org:read', 'messages:send'] },
    });
    assert.equal(created.status, 201);
    assert.match(created.body.token, /^spk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal(created.body.prefix, `spk_${created.body.id}`);
    assert.deepEqual(created.body.scopes, ['org:read', 'messages:send']);
    assert.equal(created.body.last_used_at, null);
    const token = created.body.token as string;

    // Stored hashed: the secret appears nowhere in the database row.
    const { rows } = await suite.db.query<{ secret_hash: Buffer }>(
      'SELECT secret_hash FROM api_keys WHERE org_id = $1 AND key_id = $2',
      [org.org_id, created.body.id],
    );
    assert.equal(rows[0]!.secret_hash.length, 32);
    assert.ok(!rows[0]!.secret_hash.toString('latin1').includes(token.slice(22)));

    const list = await server.request('GET', '/v1/api-keys', { token: org.api_key });
    assert.equal(list.status, 200);
    assert.ok(!list.text.includes(token.slice(22)), 'the secret is never listed');
    const listed = list.body.data.find((k: { id: string }) => k.id === created.body.id);
    assert.equal(listed.name, 'EHR integration');
    assert.ok(!('token' in listed));

    // The new key works within its scopes and nowhere else.
    assert.equal((await server.request('GET', '/v1/organization', { token })).status, 200);
    const denied = await server.request('GET', '/v1/api-keys', { token });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.code, 'forbidden');

    const used = await server.request('GET', `/v1/api-keys/${created.body.id}`, { token: org.api_key });
    assert.ok(used.body.last_used_at, 'last_used_at is set once the key was used');

    const revoke = await server.request('DELETE', `/v1/api-keys/${created.body.id}`, { token: org.api_key });
    assert.equal(revoke.status, 204);
    const after = await server.request('GET', '/v1/organization', { token });
    assert.equal(after.status, 401);
    assert.match(after.body.detail, /revoked/);
    const shown = await server.request('GET', `/v1/api-keys/${created.body.id}`, { token: org.api_key });
    assert.ok(shown.body.revoked_at);

    // Creation and revocation are in the audit trail, with no secret in it (the refused use is
    // tallied, and recorded when its window ends: test/http/rate-limits.test.ts).
    const audit = await suite.db.query<{ action: string; outcome: string; details: unknown }>(
      'SELECT action, outcome, details FROM audit_events WHERE org_id = $1 AND object_id = $2 ORDER BY seq',
      [org.org_id, created.body.id],
    );
    assert.deepEqual(
      audit.rows.map((r) => `${r.action}:${r.outcome}`),
      ['api_key.created:success', 'api_key.revoked:success'],
    );
    assert.ok(!JSON.stringify(audit.rows).includes(token.slice(22)));
  });

  test('a key cannot grant scopes its holder lacks', async () => {
    const limited = await server.request('POST', '/v1/api-keys', {
      token: org.api_key,
      body: { name: 'key admin', scopes: ['api_keys:manage'] },
    });
    const before = await countKeys();
    const res = await server.request('POST', '/v1/api-keys', {
      token: limited.body.token,
      body: { name: 'escalated', scopes: ['audit:read'] },
    });
    assert.equal(res.status, 403);
    assert.match(res.body.detail, /audit:read/);
    assert.equal(await countKeys(), before);
  });

  test('nobody revokes or changes a key holding scopes they do not hold', async () => {
    const narrow = await server.request('POST', '/v1/api-keys', {
      token: org.api_key,
      body: { name: 'key admin', scopes: ['api_keys:manage'] },
    });
    const token = narrow.body.token as string;
    const ownerKeyId = /^spk_([0-9a-f]{16})_/.exec(org.api_key)![1]!;

    const revoke = await server.request('DELETE', `/v1/api-keys/${ownerKeyId}`, { token });
    assert.equal(revoke.status, 403);
    assert.equal(revoke.body.code, 'forbidden');
    assert.match(revoke.body.detail, /cannot revoke a key holding scopes you do not hold: .*audit:read/);
    const change = await server.request('PATCH', `/v1/api-keys/${ownerKeyId}`, {
      token,
      body: { name: 'taken over', rate_limit_per_minute: 1 },
    });
    assert.equal(change.status, 403);
    assert.match(change.body.detail, /cannot change a key/);
    const owner = await server.request('GET', `/v1/api-keys/${ownerKeyId}`, { token: org.api_key });
    assert.deepEqual(
      [owner.status, owner.body.name, owner.body.rate_limit_per_minute, owner.body.revoked_at],
      [200, 'First API key', null, null],
    );

    // Within its own scopes it manages keys as before, itself included.
    const peer = await server.request('POST', '/v1/api-keys', {
      token,
      body: { name: 'peer', scopes: ['api_keys:manage'] },
    });
    assert.equal(peer.status, 201);
    assert.equal(
      (await server.request('PATCH', `/v1/api-keys/${peer.body.id}`, { token, body: { name: 'renamed' } }))
        .status,
      200,
    );
    assert.equal((await server.request('DELETE', `/v1/api-keys/${peer.body.id}`, { token })).status, 204);
    assert.equal((await server.request('DELETE', `/v1/api-keys/${'0'.repeat(16)}`, { token })).status, 404);
    assert.equal((await server.request('DELETE', `/v1/api-keys/${narrow.body.id}`, { token })).status, 204);
    assert.equal((await server.request('GET', '/v1/organization', { token: org.api_key })).status, 200);
  });

  test('bad input is a clear problem and stores nothing', async () => {
    const before = await countKeys();
    const cases: {
      body?: unknown;
      raw?: string;
      headers?: Record<string, string>;
      status: number;
      code: string;
    }[] = [
      { body: { name: 'x', scopes: ['org:read'], admin: true }, status: 400, code: 'invalid_request' },
      { body: { name: '', scopes: ['org:read'] }, status: 400, code: 'invalid_request' },
      { body: { name: 'x', scopes: ['root'] }, status: 400, code: 'invalid_request' },
      {
        body: { name: 'x', scopes: ['org:read'], expires_at: 'tomorrow' },
        status: 400,
        code: 'invalid_request',
      },
      {
        body: { name: 'x', scopes: ['org:read'], expires_at: '2001-01-01T00:00:00Z' },
        status: 422,
        code: 'validation_failed',
      },
      {
        raw: '{"name": "x", ',
        headers: { 'content-type': 'application/json' },
        status: 400,
        code: 'invalid_json',
      },
      {
        raw: 'name=x',
        headers: { 'content-type': 'text/plain' },
        status: 415,
        code: 'unsupported_media_type',
      },
    ];
    for (const c of cases) {
      const res = await server.request('POST', '/v1/api-keys', { token: org.api_key, ...c });
      assert.equal(res.status, c.status, JSON.stringify(c));
      assert.equal(res.body.code, c.code, JSON.stringify(res.body));
      assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    }
    const unknownField = await server.request('POST', '/v1/api-keys', {
      token: org.api_key,
      body: { name: 'x', scopes: ['org:read'], admin: true },
    });
    assert.deepEqual(unknownField.body.errors, [{ path: 'body', message: 'unknown field "admin"' }]);
    assert.equal(await countKeys(), before);
  });
});
