import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { InitResult } from '../../src/identity/index.ts';
import { demoCommands, setUpDemo } from '../../src/sandbox/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { launchBrowser, newContext } from '../support/browser.ts';
import { describeEachDb } from '../support/db.ts';
import { checkPage, watchPage } from './pages.ts';

// The first run in the console (issue 8): in sandbox mode the first page shows the three commands
// `sealpost demo` prints and sends the demo message in one click; the message page then shows each
// demo recipient protected its own way, and the captures show what would have left.

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describeEachDb(
  'console first page in sandbox mode',
  (suite) => {
    let server: TestServer;
    let org: InitResult;
    let browser: Browser;
    let page: Page;
    let base: string;

    before(async () => {
      const launching = launchBrowser();
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      server = await startTestServer(
        suite.testDb,
        { SEALPOST_MODE: 'sandbox', SEALPOST_HTTP_PORT: String(port), SEALPOST_PUBLIC_URL: base },
        { roles: ['api', 'worker'] },
      );
      org = await server.createOrg('Sandbox Clinic');
      await setUpDemo(server.app, org.org_id, { type: 'system', id: 'test', label: 'test' });
      browser = await launching;
      page = await (await newContext(browser)).newPage();
      page.setDefaultTimeout(15_000);
    });
    after(async () => {
      await browser?.close();
      await server?.close();
    });

    test('try-it commands, one-click demo message, every method, the captures', async () => {
      const problems = watchPage(page);
      await page.goto(`${base}/console/app/`);
      await page.getByLabel('Email address').fill(org.admin_email);
      await page.getByLabel('Password').fill(org.admin_password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const tryIt = page.getByRole('region', { name: 'Try SecureLine in the sandbox' });
      await tryIt.waitFor();
      const shown = await tryIt.locator('ol.commands code').allInnerTexts();
      assert.deepEqual(shown, demoCommands(base, '$SEALPOST_API_KEY', '').slice(0, 3));
      await checkPage(page, 'first-page-sandbox');

      await tryIt.getByRole('button', { name: 'Send a demo message' }).click();
      await tryIt.getByRole('link', { name: 'See what happened to each' }).click();
      await page.getByRole('heading', { level: 1, name: 'Your lab results' }).waitFor();
      await page.getByTestId('message-status').filter({ hasText: 'done' }).waitFor({ timeout: 60_000 });
      const methods: Record<string, string> = {};
      for (const article of await page.getByRole('article').all()) {
        const address = (await article.getByRole('heading', { level: 3 }).innerText()).split(' ')[0]!;
        methods[address] = await article.getByTestId('method').innerText();
      }
      assert.deepEqual(methods, {
        'patient@tls.example.test': 'tls',
        'patient@notls.example.test': 'portal',
        'patient@badcert.example.test': 'portal',
        'pgp-patient@tls.example.test': 'pgp',
        'smime-patient@tls.example.test': 'smime',
      });
      await checkPage(page, 'first-page-demo-message');

      await page.getByRole('link', { name: 'see the captures' }).click();
      await page.getByRole('heading', { level: 1, name: 'Sandbox captures' }).waitFor();
      const rows = page.getByRole('row').filter({ has: page.getByRole('button') });
      await rows.nth(4).waitFor();
      assert.ok((await rows.count()) >= 5);
      await page.getByRole('button', { name: 'Source for pgp-patient@tls.example.test' }).first().click();
      await page.locator('pre.raw').filter({ hasText: '-----BEGIN PGP MESSAGE-----' }).waitFor();
      await checkPage(page, 'first-page-captures');
      assert.deepEqual(problems, []);
    });
  },
  // The pages use only the API, which runs on both databases in its own tests; here the database of
  // the embedded first run is enough.
  ['pglite'],
);
