import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DEFAULT_BUILD_DIR } from '../../src/console-app/index.ts';
import { CONTENT_SECURITY_POLICY } from '../../src/http/index.ts';
import { demoCommands } from '../../src/sandbox/index.ts';
import { demoCommands as consoleDemoCommands } from '../../web/src/demo.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';

// The console's production build as Sealpost serves it: the app's paths answer index.html (never
// cached), hashed assets are cached for a year and gzipped, a missing asset is a 404, and every
// answer carries the strict CSP. The first load stays under the JavaScript budget.

const BUDGET_GZIP_BYTES = 300 * 1024;

function builtIndex(): string {
  const index = join(DEFAULT_BUILD_DIR, 'index.html');
  assert.ok(existsSync(index), 'web/dist is missing: run `npm run build` (npm test does it first)');
  return readFileSync(index, 'utf8');
}

test('the first load stays under 300 KB of gzipped JavaScript, with no inline script or style', () => {
  const html = builtIndex();
  assert.doesNotMatch(
    html,
    /<script(?![^>]*\bsrc=)[^>]*>/,
    'no inline script (the modulepreload polyfill is off)',
  );
  assert.doesNotMatch(html, /<style|\sstyle=/, 'no inline style');
  const entry = [...html.matchAll(/(?:src|href)="\/console\/app\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]!);
  assert.ok(entry.length >= 1, html);
  const firstLoad = entry.reduce(
    (sum, file) => sum + gzipSync(readFileSync(join(DEFAULT_BUILD_DIR, file)), { level: 9 }).length,
    0,
  );
  const all = readdirSync(join(DEFAULT_BUILD_DIR, 'assets'))
    .filter((f) => f.endsWith('.js'))
    .reduce(
      (sum, f) => sum + gzipSync(readFileSync(join(DEFAULT_BUILD_DIR, 'assets', f)), { level: 9 }).length,
      0,
    );
  console.log(`console JavaScript, gzip: first load ${firstLoad} bytes; all chunks ${all} bytes`);
  assert.ok(firstLoad < BUDGET_GZIP_BYTES, `first load ${firstLoad} bytes`);
  assert.ok(all < BUDGET_GZIP_BYTES, `all chunks ${all} bytes`);
});

test('the console shows the same try-it commands as `sealpost demo`', () => {
  const url = 'http://127.0.0.1:8080';
  assert.deepEqual(
    consoleDemoCommands(url, '$SEALPOST_API_KEY'),
    demoCommands(url, '$SEALPOST_API_KEY', '/x').slice(0, 3),
  );
});

describeEachDb('console app serving', (suite) => {
  let server: TestServer;
  before(async () => {
    builtIndex();
    server = await startTestServer(suite.testDb);
  });
  after(() => server?.close());

  test('app routes answer index.html, not cached; assets cached and gzipped; all with the CSP', async () => {
    const redirect = await fetch(`${server.url}/console/app`, { redirect: 'manual' });
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers.get('location'), '/console/app/');
    assert.equal(redirect.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);

    const html = builtIndex();
    for (const path of ['/console/app/', '/console/app/messages/0b6c', '/console/app/settings/domains?x=1']) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.equal(res.headers.get('cache-control'), 'no-cache');
      assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
      assert.equal(await res.text(), html);
    }

    const assets = [...html.matchAll(/(?:src|href)="(\/console\/app\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), html);
    for (const asset of assets) {
      const res = await fetch(`${server.url}${asset}`, { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(res.status, 200, asset);
      assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      assert.equal(res.headers.get('content-encoding'), 'gzip');
      assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.match(
        res.headers.get('content-type')!,
        asset.endsWith('.js') ? /^text\/javascript/ : /^text\/css/,
      );
      const disk = readFileSync(join(DEFAULT_BUILD_DIR, asset.slice('/console/app/'.length)));
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), disk, 'fetch decodes the gzip to the file');
      const again = await fetch(`${server.url}${asset}`, {
        headers: { 'if-none-match': res.headers.get('etag')! },
      });
      assert.equal(again.status, 304);
    }

    for (const path of ['/console/app/assets/gone-1234.js', '/console/app/assets/../../package.json']) {
      const missing = await fetch(`${server.url}${path}`);
      assert.equal(missing.status, 404, path);
      assert.match(missing.headers.get('content-type')!, /application\/problem\+json/);
      assert.equal(missing.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    }
    const state = await server.request('POST', '/console/app/');
    assert.equal(state.status, 404, 'only GET and HEAD');
  });
});
