import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { errorCodes } from '../../src/errors/index.ts';
import type { InitResult } from '../../src/identity/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { createTestDb, type TestDb } from '../support/db.ts';

/** Sends bytes as written, for requests no HTTP client would make; the answer's status, type and body. */
function rawHttp(url: string, bytes: string): Promise<{ status: number; type: string; body: any }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(bytes));
    let answer = '';
    socket.on('data', (d) => (answer += d));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
        type: /^content-type: *(.*)$/im.exec(head)?.[1]?.trim() ?? '',
        body: body ? JSON.parse(body) : null,
      });
    });
  });
}

describe('HTTP server', () => {
  let testDb: TestDb;
  let server: TestServer;
  let org: InitResult;
  const logLines: string[] = [];

  before(async () => {
    testDb = await createTestDb('pglite');
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logLines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    server = await startTestServer(
      testDb,
      {
        SEALPOST_HTTP_BODY_LIMIT: '2048',
        SEALPOST_RATE_LIMIT_PER_ADDRESS: '40',
        SEALPOST_METRICS_TOKEN: 'scraper-token-0123456789',
      },
      { log: createLogger('info', sink) },
    );
    org = await server.createOrg('Lab');
  });
  after(async () => {
    await server.close();
    await testDb.dispose();
  });

  test('health and readiness', async () => {
    assert.deepEqual((await server.request('GET', '/healthz')).body, { status: 'ok' });
    assert.deepEqual((await server.request('GET', '/readyz')).body, { status: 'ready' });
  });

  test('the OpenAPI 3.1 document describes every route, and the reference page is served under a CSP', async () => {
    const doc = await server.request('GET', '/openapi.json');
    assert.equal(doc.status, 200);
    assert.equal(doc.body.openapi, '3.1.0');
    for (const path of [
      '/v1/api-keys',
      '/v1/api-keys/{id}',
      '/v1/organization',
      '/v1/audit-events',
      '/healthz',
    ]) {
      assert.ok(doc.body.paths[path], `${path} is documented`);
    }
    assert.ok(doc.body.paths['/v1/api-keys'].post.requestBody, 'request bodies are described');
    const page = await server.request('GET', '/docs/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /script-src[^;]*unsafe-inline/);
  });

  test("the OpenAPI problem schema's code is an enum of the error catalogue", async () => {
    const doc = await server.request('GET', '/openapi.json');
    const enums = new Set<string>();
    JSON.stringify(doc.body, (key, value) => {
      // A response's description repeats the schema's; the schema is the one with properties.
      if (value?.description === 'RFC 9457 problem details' && value.properties)
        enums.add(JSON.stringify(value.properties.code.enum));
      return value;
    });
    assert.deepEqual([...enums], [JSON.stringify(errorCodes)]);
  });

  test('security headers and request ids on every answer', async () => {
    const res = await server.request('GET', '/v1/organization', {
      token: org.api_key,
      headers: { 'x-request-id': 'trace-42' },
    });
    assert.equal(res.headers.get('x-request-id'), 'trace-42');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const generated = await server.request('GET', '/healthz', {
      headers: { 'x-request-id': 'bad id\twith tab' },
    });
    assert.match(generated.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  test('unknown routes and oversized bodies are problems', async () => {
    const missing = await server.request('GET', '/v1/nothing-here', { token: org.api_key });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'not_found');
    const big = await server.request('POST', '/v1/api-keys', {
      token: org.api_key,
      body: { name: 'x'.repeat(4096), scopes: ['org:read'] },
    });
    assert.equal(big.status, 413);
    assert.equal(big.body.code, 'body_too_large');
  });

  test('requests refused before any route are problems with stable codes too', async () => {
    const expect = async (
      answer: Promise<{ status: number; headers?: Headers; type?: string; body: any }>,
      status: number,
      code: string,
    ) => {
      const res = await answer;
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.match(res.type ?? res.headers?.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(res.body.code, code);
      assert.equal(res.body.status, status);
    };
    const token = org.api_key;
    await expect(server.request('GET', '/v1/suppressions/%E0%A4%A', { token }), 400, 'invalid_url');
    await expect(server.request('GET', `/v1/domains/${'a'.repeat(2000)}`, { token }), 414, 'uri_too_long');
    // An address of 200 characters is a path parameter like any other.
    const long = `${'a'.repeat(60)}@${'b'.repeat(135)}.org`;
    await expect(
      server.request('DELETE', `/v1/suppressions/${encodeURIComponent(long)}`, { token }),
      404,
      'not_found',
    );
    await expect(
      server.request('GET', '/v1/organization', { token, headers: { 'x-padding': 'x'.repeat(20_000) } }),
      431,
      'headers_too_large',
    );
    await expect(
      server.request('POST', '/v1/api-keys', { token, headers: { 'content-type': 'text/plain' }, raw: 'x' }),
      415,
      'unsupported_media_type',
    );
    await expect(
      rawHttp(server.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: a-miracle\r\n\r\n'),
      417,
      'expectation_failed',
    );
    await expect(
      rawHttp(server.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n'),
      400,
      'malformed_request',
    );
    await expect(
      rawHttp(server.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Nul: a\0b\r\n\r\n'),
      400,
      'malformed_request',
    );
  });

  test('metrics in the Prometheus format, to the scraper holding the metrics token only', async () => {
    for (const token of [undefined, 'wrong-token', org.api_key]) {
      const refused = await server.request('GET', '/metrics', { token });
      assert.equal(refused.status, 401, `token ${token}`);
      assert.equal(refused.body.code, 'unauthorized');
    }
    const res = await server.request('GET', '/metrics', { token: 'scraper-token-0123456789' });
    assert.equal(res.status, 200);
    assert.match(res.text, /sealpost_http_request_duration_seconds_bucket\{.*route="\/v1\/organization"/);
    assert.match(res.text, /sealpost_audit_events_total/);
  });

  test('logs are JSON lines that hold neither the API key nor addresses', async () => {
    await server.request('GET', '/v1/organization?email=patient%40example.org', { token: org.api_key });
    // Addresses in the path, however encoded: the route's own, and any other.
    await server.request('DELETE', '/v1/suppressions/patient%40example.org', { token: org.api_key });
    await server.request('DELETE', '/v1/recipient-preferences/patient@example.org', { token: org.api_key });
    await server.request('GET', '/v1/nothing/other.patient%2540example.org/x', { token: org.api_key });
    assert.ok(logLines.length > 0);
    for (const line of logLines) JSON.parse(line);
    const all = logLines.join('\n');
    assert.ok(all.includes('"path":"/v1/organization"'));
    assert.ok(all.includes('"path":"/v1/suppressions/[address]"'));
    assert.ok(all.includes('"path":"/v1/nothing/[address]/x"'));
    assert.ok(!all.includes(org.api_key.slice(22)), 'no API key secret in logs');
    assert.ok(!all.includes('patient'), 'no address in logs, from the query string or the path');
  });

  test('requests without a key are limited per address', async () => {
    let limited = null;
    for (let i = 0; i < 60 && !limited; i++) {
      const res = await server.request('GET', '/healthz');
      if (res.status === 429) limited = res;
    }
    assert.ok(limited, 'the address limit was reached');
    assert.equal(limited.body.code, 'rate_limited');
    assert.ok(limited.headers.get('retry-after'));
    assert.equal(limited.headers.get('ratelimit-remaining'), '0');
    // Checked before any credential: a key from this address waits too (test/http/rate-limits.test.ts).
    assert.equal((await server.request('GET', '/v1/organization', { token: org.api_key })).status, 429);
  });
});
