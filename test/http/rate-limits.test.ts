import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SYSTEM_ORG_ID, TALLY_WINDOW_MS } from '../../src/audit/index.ts';
import { clientSource } from '../../src/http/client-source.ts';
import { RateLimiter } from '../../src/http/rate-limit.ts';
import type { InitResult } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';

// Rate limits and refusals as an attacker meets them, over HTTP. The server trusts
// X-Forwarded-For (as behind a reverse proxy), so each request can come from any address; its
// clock can be moved forward to end a tally window.

const PER_ADDRESS = 20;

describe('client sources', () => {
  test('IPv4 as is (IPv4-mapped IPv6 too); IPv6 by its /64, however written', () => {
    assert.equal(clientSource('192.0.2.7'), '192.0.2.7');
    assert.equal(clientSource('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(clientSource('2001:db8:1:2::1'), '2001:db8:1:2::/64');
    assert.equal(clientSource('2001:0DB8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64');
    assert.equal(clientSource('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(clientSource('::1'), '0:0:0:0::/64');
    assert.equal(clientSource('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(clientSource('64:ff9b::192.0.2.7'), '64:ff9b:0:0::/64');
  });
});

describe('rate limiter', () => {
  test('a window starts with its first request; a request given back no longer counts', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter({ now: () => now });
    assert.deepEqual(limiter.take('a', 2, 60_000), {
      limit: 2,
      windowSeconds: 60,
      remaining: 1,
      resetSeconds: 60,
      exceeded: false,
    });
    limiter.give('a');
    limiter.take('a', 2, 60_000);
    now += 30_500;
    assert.deepEqual(limiter.take('a', 2, 60_000), {
      limit: 2,
      windowSeconds: 60,
      remaining: 0,
      resetSeconds: 30,
      exceeded: false,
    });
    assert.equal(limiter.take('a', 2, 60_000).exceeded, true);
    now += 29_500;
    assert.equal(limiter.take('a', 2, 60_000).remaining, 1, 'a new window');
  });

  test('past its bound, newcomers share one overflow budget while known budgets keep theirs', () => {
    let now = 0;
    const limiter = new RateLimiter({ now: () => now, maxBudgets: 2 });
    limiter.take('a', 3, 60_000);
    limiter.take('b', 3, 60_000);
    assert.equal(limiter.take('c', 3, 60_000).remaining, 2);
    assert.equal(limiter.take('d', 3, 60_000).remaining, 1, 'c and d share the overflow');
    assert.equal(limiter.take('a', 3, 60_000).remaining, 1, 'a keeps its own');
    now = 60_000;
    assert.equal(limiter.take('e', 3, 60_000).remaining, 2, 'ended windows are forgotten');
  });
});

describeEachDb('rate limits and tallied refusals over HTTP', (suite) => {
  let server: TestServer;
  let org: InitResult;
  let keyId: string;
  let ahead = 0;

  before(async () => {
    server = await startTestServer(
      suite.testDb,
      { SEALPOST_TRUST_PROXY: 'true', SEALPOST_RATE_LIMIT_PER_ADDRESS: String(PER_ADDRESS) },
      { clock: () => new Date(Date.now() + ahead) },
    );
    org = await server.createOrg('Limits Clinic');
    keyId = /^spk_([0-9a-f]{16})_/.exec(org.api_key)![1]!;
  });
  after(() => server.close());

  const from = (ip: string, options: { token?: string; body?: unknown } = {}) => ({
    ...options,
    headers: { 'x-forwarded-for': ip },
  });
  const limitHeaders = (res: { headers: Headers }) => ({
    limit: res.headers.get('ratelimit-limit'),
    remaining: res.headers.get('ratelimit-remaining'),
    reset: res.headers.get('ratelimit-reset'),
  });
  const madeUpKey = () => `spk_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;

  /** Moves the clock to the start of the next tally window, and a little past, like the closing. */
  const toNextWindow = () => {
    const now = Date.now() + ahead;
    ahead += (Math.floor(now / TALLY_WINDOW_MS) + 1) * TALLY_WINDOW_MS + 10_000 - now;
  };
  const refusals = async (orgId: string, action: string, objectId: string) =>
    (
      await suite.db.query<{ ip: string | null; request_id: string | null; details: Record<string, any> }>(
        `SELECT ip, request_id, details FROM audit_events
         WHERE org_id = $1 AND action = $2 AND object_id = $3 ORDER BY ip`,
        [orgId, action, objectId],
      )
    ).rows;

  test('until a credential is verified every request counts against its address: made-up keys do not escape it', async () => {
    const ip = '198.51.100.1';
    for (let i = 0; i < PER_ADDRESS; i++) {
      const token = i % 2 === 0 ? madeUpKey() : `spk_${randomBytes(8).toString('hex')}_x`;
      const res = await server.request('GET', '/v1/organization', from(ip, { token }));
      assert.equal(res.status, 401);
      assert.deepEqual(
        { limit: limitHeaders(res).limit, remaining: limitHeaders(res).remaining },
        { limit: String(PER_ADDRESS), remaining: String(PER_ADDRESS - 1 - i) },
      );
    }
    const refused = await server.request('GET', '/v1/organization', from(ip, { token: madeUpKey() }));
    assert.equal(refused.status, 429);
    assert.equal(refused.body.code, 'rate_limited');
    assert.equal(refused.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(limitHeaders(refused).remaining, '0');
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal(refused.headers.get('retry-after'), limitHeaders(refused).reset);
    // The same budget for anything else from there, a real key included: it is checked before
    // any credential is, so the address pays for what came from it.
    assert.equal((await server.request('GET', '/healthz', from(ip))).status, 429);
    assert.equal(
      (await server.request('GET', '/v1/organization', from(ip, { token: org.api_key }))).status,
      429,
    );
    // Another address has its own.
    assert.equal((await server.request('GET', '/healthz', from('198.51.100.99'))).status, 200);
  });

  test('a verified key is counted against its own budget, never its address', async () => {
    const ip = '198.51.100.2';
    for (let i = 0; i < 3 * PER_ADDRESS; i++) {
      const res = await server.request('GET', '/v1/organization', from(ip, { token: org.api_key }));
      assert.equal(res.status, 200);
      assert.equal(limitHeaders(res).limit, '60000', 'the default per-key limit');
    }
    const health = await server.request('GET', '/healthz', from(ip));
    assert.equal(health.status, 200);
    assert.deepEqual(
      [limitHeaders(health).limit, limitHeaders(health).remaining],
      [String(PER_ADDRESS), String(PER_ADDRESS - 1)],
    );
  });

  test('IPv6 clients count by their /64', async () => {
    for (let i = 0; i < PER_ADDRESS; i++) {
      const ip = `2001:db8:77:1:${randomBytes(2).toString('hex')}::${i + 1}`;
      assert.equal((await server.request('GET', '/healthz', from(ip))).status, 200);
    }
    assert.equal((await server.request('GET', '/healthz', from('2001:db8:77:1::abcd'))).status, 429);
    assert.equal((await server.request('GET', '/healthz', from('2001:db8:77:2::1'))).status, 200);
  });

  test("a route's own limit counts by address whatever credentials the request carries", async () => {
    const ip = '198.51.100.3';
    const body = { reason: 'an emergency', second_factor: { method: 'totp', code: '000000' } };
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++)
      statuses.push(
        (await server.request('POST', '/v1/break-glass/activate', from(ip, { token: madeUpKey(), body })))
          .status,
      );
    assert.ok(
      statuses.slice(0, 10).every((s) => s !== 429),
      statuses.join(' '),
    );
    assert.equal(statuses[10], 429);
  });

  test("an administrator sets a key's own limit; every answer says where it stands", async () => {
    const ip = '198.51.100.4';
    const api = (method: string, path: string, body?: unknown) =>
      server.request(method, path, from(ip, { token: org.api_key, body }));
    const created = await api('POST', '/v1/api-keys', {
      name: 'slow integration',
      scopes: ['org:read'],
      rate_limit_per_minute: 5,
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.rate_limit_per_minute, 5);
    const { token, id } = created.body as { token: string; id: string };
    assert.equal((await api('GET', `/v1/api-keys/${id}`)).body.rate_limit_per_minute, 5);

    for (let i = 0; i < 5; i++) {
      const res = await server.request('GET', '/v1/organization', from(ip, { token }));
      assert.equal(res.status, 200);
      assert.deepEqual([limitHeaders(res).limit, limitHeaders(res).remaining], ['5', String(4 - i)]);
    }
    const refused = await server.request('GET', '/v1/organization', from(ip, { token }));
    assert.equal(refused.status, 429);
    assert.equal(refused.body.code, 'rate_limited');
    assert.match(refused.body.detail, /at most 5 requests a minute/);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal(limitHeaders(refused).limit, '5');
    // The organisation's other key, from the same address, is not held back.
    assert.equal((await api('GET', '/v1/organization')).status, 200);

    const raised = await api('PATCH', `/v1/api-keys/${id}`, { rate_limit_per_minute: 1000 });
    assert.equal(raised.status, 200);
    assert.equal(raised.body.rate_limit_per_minute, 1000);
    assert.equal(raised.body.name, 'slow integration');
    const after = await server.request('GET', '/v1/organization', from(ip, { token }));
    assert.equal(after.status, 200);
    assert.equal(limitHeaders(after).limit, '1000');
    const reset = await api('PATCH', `/v1/api-keys/${id}`, { rate_limit_per_minute: null, name: 'default' });
    assert.deepEqual([reset.body.rate_limit_per_minute, reset.body.name], [null, 'default']);
    const listed = (await api('GET', '/v1/api-keys')).body.data.find((k: { id: string }) => k.id === id);
    assert.equal(listed.rate_limit_per_minute, null);
    assert.equal(
      limitHeaders(await server.request('GET', '/v1/organization', from(ip, { token }))).limit,
      '60000',
    );

    for (const raw of ['0', '-1', '10000001', '1.5', '1e309', '{}', '[]']) {
      for (const [method, path, rest] of [
        ['PATCH', `/v1/api-keys/${id}`, ''],
        ['POST', '/v1/api-keys', '"name": "x", "scopes": ["org:read"], '],
      ] as const) {
        const res = await server.request(method, path, {
          token: org.api_key,
          raw: `{${rest}"rate_limit_per_minute": ${raw}}`,
          headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
        });
        assert.equal(res.status, 400, `${method} ${raw}`);
        assert.equal(res.body.code, 'invalid_request');
      }
    }
    const audit = await suite.db.query<{ action: string; details: Record<string, unknown> }>(
      'SELECT action, details FROM audit_events WHERE org_id = $1 AND object_id = $2 ORDER BY seq',
      [org.org_id, id],
    );
    assert.deepEqual(
      audit.rows.map((r) => [r.action, r.details.rate_limit_per_minute]),
      [
        ['api_key.created', 5],
        ['api_key.updated', 1000],
        ['api_key.updated', null],
      ],
    );
  });

  test('wrong secrets for a real key are tallied: one event per source and window, with the count', async () => {
    toNextWindow();
    const wrong = `spk_${keyId}_${'A'.repeat(43)}`;
    const sources: [string, number][] = [
      ['203.0.113.7', 12],
      ['2001:db8:9:9::5', 5],
      ['2001:db8:9:9::6', 3],
    ];
    for (const [ip, times] of sources)
      for (let i = 0; i < times; i++)
        assert.equal(
          (await server.request('GET', '/v1/organization', from(ip, { token: wrong }))).status,
          401,
        );
    // Over a hundred more sources, each once: named up to a hundred, the rest folded into one event.
    for (let i = 0; i < 105; i++)
      await server.request('GET', '/v1/organization', from(`10.7.${i >> 8}.${i & 255}`, { token: wrong }));
    // Another API process on the same database, refusing the same source: their counts meet.
    const other = await startTestServer(
      suite.testDb,
      { SEALPOST_TRUST_PROXY: 'true' },
      { clock: () => new Date(Date.now() + ahead) },
    );
    try {
      for (let i = 0; i < 4; i++)
        assert.equal(
          (await other.request('GET', '/v1/organization', from('203.0.113.7', { token: wrong }))).status,
          401,
        );
    } finally {
      await other.close();
    }

    await server.app.flushAudit();
    assert.deepEqual(
      await refusals(org.org_id, 'auth.api_key_rejected', keyId),
      [],
      'nothing before the window ends',
    );

    ahead += TALLY_WINDOW_MS;
    await server.app.flushAudit();
    const events = await refusals(org.org_id, 'auth.api_key_rejected', keyId);
    assert.equal(events.length, 100 + 1, 'a hundred sources named, one event for the rest');
    const bySource = new Map(events.map((e) => [e.ip, e]));
    const first = bySource.get('203.0.113.7')!;
    assert.equal(first.details.count, 12 + 4, 'one event for the source, counted by both processes');
    assert.equal(first.details.reason, 'wrong_secret');
    assert.equal(first.request_id, null);
    assert.equal(
      Date.parse(first.details.window_end) - Date.parse(first.details.window_start),
      TALLY_WINDOW_MS,
    );
    assert.ok(first.details.first_at <= first.details.last_at);
    assert.equal(bySource.get('2001:db8:9:9::/64')!.details.count, 8);
    const folded = bySource.get(null)!;
    assert.deepEqual([folded.details.other_sources, folded.details.count], [true, 7]);
    assert.ok(!JSON.stringify(events).includes('A'.repeat(43)), 'no secret recorded');

    // The chain the events went into still verifies.
    assert.equal((await server.app.verifyAuditTrail()).ok, true);
  });

  test('invalid portal links are tallied the same way, on the system chain', async () => {
    toNextWindow();
    const ip = '198.51.100.5';
    const guess = () => server.request('GET', `/secure/${randomBytes(32).toString('base64url')}`, from(ip));
    for (let i = 0; i < PER_ADDRESS; i++) {
      const res = await guess();
      assert.equal(res.status, 404);
      assert.equal(limitHeaders(res).limit, String(PER_ADDRESS), 'portal pages carry the headers too');
    }
    // Then a page that says so, not an error; the refused guesses are not even looked up.
    const refused = await guess();
    assert.equal(refused.status, 429);
    assert.match(refused.headers.get('content-type') ?? '', /^text\/html/);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    ahead += TALLY_WINDOW_MS;
    await server.app.flushAudit();
    const events = (await refusals(SYSTEM_ORG_ID, 'portal.link_invalid', 'unknown')).filter(
      (e) => e.ip === ip,
    );
    assert.equal(events.length, 1);
    assert.equal(events[0]!.details.count, PER_ADDRESS);
  });
});
