import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import {
  AddressRanges,
  FetchFailed,
  guardedFetch,
  type GuardedFetchOptions,
  HostRefused,
} from '../../src/net-guard/index.ts';
import { createTestCa } from '../support/test-ca.ts';

// The guarded fetch that single sign-on hands openid-client, against real servers on loopback:
// answers as fetch gives them, from the checked address under the name; refusals before any
// connection; the certificate verified for the name; time and size limits.

const LOOPBACK = { allowPrivate: AddressRanges.parse(['127.0.0.0/8']) };

interface Seen {
  method: string;
  url: string;
  host: string;
  contentType: string;
  body: string;
}

let plain: http.Server;
let secure: https.Server;
let plainPort: number;
let securePort: number;
let ca: string;
const seen: Seen[] = [];
let connections = 0;

function handler(req: http.IncomingMessage, res: http.ServerResponse) {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    seen.push({
      method: req.method!,
      url: req.url!,
      host: req.headers.host!,
      contentType: req.headers['content-type'] ?? '',
      body: Buffer.concat(chunks).toString(),
    });
    if (req.url === '/silent') return; // never answers
    if (req.url === '/large') return res.end('x'.repeat(4096));
    if (req.url === '/drip') {
      res.write('x'.repeat(800)); // no length announced: counted as it comes
      return setTimeout(() => res.end('x'.repeat(800)), 20);
    }
    if (req.url === '/empty') return res.writeHead(204).end();
    res.writeHead(201, [
      ['content-type', 'application/json'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ]);
    res.end(JSON.stringify({ ok: true }));
  });
}

before(async () => {
  const authority = await createTestCa();
  ca = authority.certPem;
  const { key, cert } = await authority.issue(['idp.example']);
  plain = http.createServer(handler);
  secure = https.createServer({ key, cert }, handler);
  for (const server of [plain, secure]) server.on('connection', () => connections++);
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
  plainPort = (plain.address() as AddressInfo).port;
  securePort = (secure.address() as AddressInfo).port;
});
after(() => {
  for (const server of [plain, secure]) server.closeAllConnections();
  plain.close();
  secure.close();
});

function fetchWith(options: Partial<GuardedFetchOptions> & { answers?: string[] } = {}) {
  let asked = 0;
  const fetch = guardedFetch({
    policy: LOOPBACK,
    resolve: async () => (asked++, options.answers ?? ['127.0.0.1']),
    httpToLoopback: true,
    timeoutMs: 2000,
    maxBytes: 1024,
    ...options,
  });
  return { fetch, asked: () => asked };
}

test('answers as fetch does, from the checked address, under the name: a form POST, status, headers, body', async () => {
  const { fetch, asked } = fetchWith();
  const res = await fetch(`http://idp.example:${plainPort}/token?x=1`, {
    method: 'POST',
    headers: { accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: 'c' }),
    redirect: 'manual',
  });
  assert.equal(asked(), 1, 'resolved once');
  assert.equal(res.status, 201);
  assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
  assert.deepEqual(await res.json(), { ok: true });
  assert.deepEqual(seen.at(-1), {
    method: 'POST',
    url: '/token?x=1',
    host: `idp.example:${plainPort}`,
    contentType: 'application/x-www-form-urlencoded;charset=UTF-8',
    body: 'grant_type=authorization_code&code=c',
  });
  const empty = await fetch(`http://127.0.0.1:${plainPort}/empty`);
  assert.equal(empty.status, 204);
  assert.equal(await empty.text(), '');
});

test('refused before any connection: a private address outside the ranges, a mixed answer, plain http beyond loopback', async () => {
  const before = connections;
  const refusals: [string, ReturnType<typeof fetchWith>, RegExp][] = [
    [
      `http://idp.example:${plainPort}/`,
      fetchWith({ policy: { allowPrivate: false } }),
      /127\.0\.0\.1, a private/,
    ],
    [`http://169.254.169.254:${plainPort}/`, fetchWith(), /169\.254\.169\.254 is a private/],
    [`https://idp.example:${securePort}/`, fetchWith({ answers: ['127.0.0.1', '10.0.0.7'] }), /10\.0\.0\.7/],
    [`http://idp.example:${plainPort}/`, fetchWith({ httpToLoopback: false }), /Plain http/],
    [`http://idp.example/`, fetchWith({ answers: ['93.184.215.14'] }), /Plain http/],
  ];
  for (const [url, { fetch }, message] of refusals) {
    const err = await fetch(url).catch((e: unknown) => e);
    assert.ok(err instanceof HostRefused, `${url}: ${String(err)}`);
    assert.equal(err.code, 'forbidden');
    assert.match(err.message, message);
  }
  assert.equal(connections, before, 'no connection was made');
});

test('https: the certificate is verified for the name', async () => {
  const trusted = tls.createSecureContext({ ca: [...tls.getCACertificates('default'), ca] });
  const ok = await fetchWith({ secureContext: trusted }).fetch(`https://idp.example:${securePort}/keys`);
  assert.equal(ok.status, 201);
  assert.equal(seen.at(-1)!.host, `idp.example:${securePort}`);
  // The same server and address under another name, or without the authority trusted: no answer.
  for (const [url, options, code] of [
    [`https://other.example:${securePort}/`, { secureContext: trusted }, 'ERR_TLS_CERT_ALTNAME_INVALID'],
    [`https://idp.example:${securePort}/`, {}, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  ] as const) {
    const err = await fetchWith(options)
      .fetch(url)
      .catch((e: unknown) => e);
    assert.ok(err instanceof FetchFailed, String(err));
    assert.equal((err.cause as NodeJS.ErrnoException).code, code);
  }
});

test('the exchange has a time limit and the answer a size limit', async () => {
  const { fetch } = fetchWith({ timeoutMs: 200 });
  const started = performance.now();
  const silent = await fetch(`http://127.0.0.1:${plainPort}/silent`).catch((e: unknown) => e);
  assert.ok(silent instanceof FetchFailed);
  assert.match(silent.message, /no full answer within 200 ms/);
  assert.ok(performance.now() - started < 1500);
  for (const path of ['/large', '/drip']) {
    const err = await fetch(`http://127.0.0.1:${plainPort}${path}`).catch((e: unknown) => e);
    assert.ok(err instanceof FetchFailed, `${path}: ${String(err)}`);
    assert.match(err.message, /over 1024 bytes/);
  }
  // The caller's own signal (openid-client's timeout) ends it too.
  const aborted = await fetch(`http://127.0.0.1:${plainPort}/silent`, {
    signal: AbortSignal.timeout(50),
  }).catch((e: unknown) => e);
  assert.ok(aborted instanceof FetchFailed);
  assert.match(aborted.message, /aborted/);
});
