import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { totpCode, type InitResult } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { addVirtualAuthenticator, launchBrowser, newContext } from '../support/browser.ts';
import { describeEachDb } from '../support/db.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';
import { checkPage, watchPage } from './pages.ts';

// The console end to end in Debian's Chromium, as an administrator uses it: sign in, enrol an
// authenticator app, sign in again with it; add a passkey (a virtual authenticator) and sign in
// with it, then with a recovery code; add a sending domain and verify it against the test
// DNS; compose a message with attachments (one dropped, one chosen) to a TLS recipient and a
// portal recipient, preview how each is protected, send, watch both reach their final state, revoke
// the portal one; export the audit log and find those actions in it; lose the session and land on
// sign-in with a message. axe-core on every page, no CSP violation anywhere, screenshots kept.

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
  'console',
  (suite) => {
    let world: MailWorld;
    let server: TestServer;
    let org: InitResult;
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    let problems: string[];
    let base: string;
    let secret = '';
    let recoveryCodes: string[] = [];
    let messageUrl = '';

    before(async () => {
      const launching = launchBrowser();
      world = await startMailWorld();
      const port = await freePort();
      // A passkey's relying party is a domain name, never an IP address: localhost it is.
      base = `http://localhost:${port}`;
      server = await startTestServer(
        suite.testDb,
        { ...world.env(), SEALPOST_HTTP_PORT: String(port), SEALPOST_PUBLIC_URL: base },
        { roles: ['api', 'worker'] },
      );
      org = await server.createOrg('Console Clinic');
      browser = await launching;
      context = await newContext(browser, { width: 1024 });
      page = await context.newPage();
      await addVirtualAuthenticator(context, page);
      page.setDefaultTimeout(15_000);
      page.on('dialog', (dialog) => void dialog.accept());
      problems = watchPage(page);
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      await world?.close();
    });

    const heading = (name: string | RegExp) => page.getByRole('heading', { level: 1, name });
    const nav = (name: string) =>
      page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name, exact: true });

    async function signIn() {
      await page.goto(`${base}/console/app/`);
      await heading('Sign in to Sealpost').waitFor();
      await page.getByLabel('Email address').fill(org.admin_email);
      await page.getByLabel('Password').fill(org.admin_password);
      await page.getByRole('button', { name: 'Sign in' }).click();
    }

    test('sign in, enrol an authenticator app, sign in again with it', async () => {
      await page.goto(`${base}/console/app/messages`);
      await heading('Sign in to Sealpost').waitFor();
      assert.equal(new URL(page.url()).pathname, '/console/app/sign-in');
      await checkPage(page, 'sign-in');
      await page.getByLabel('Email address').fill(org.admin_email);
      await page.getByLabel('Password').fill('not the password at all');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'email address or password is not right' }).waitFor();

      await signIn();
      await heading('Welcome to Sealpost').waitFor();
      await checkPage(page, 'home');

      await nav('Account').click();
      await heading('Account security').waitFor();
      await page
        .getByRole('cell', { name: /HeadlessChrome|Chrome/ })
        .first()
        .waitFor();
      await checkPage(page, 'account');
      await page.getByRole('link', { name: 'Add a second factor' }).click();
      await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
      secret = (await page.getByTestId('totp-secret').textContent())!;
      assert.match(secret, /^[A-Z2-7]{32}$/);
      await page.getByRole('img', { name: /QR code/ }).waitFor();
      await checkPage(page, 'enrol-totp');
      // The previous 30-second step (one step of drift is accepted), so the next sign-in has a fresh one.
      await page
        .getByLabel('The 6-digit code the app shows now')
        .fill(totpCode(secret, new Date(Date.now() - 30_000)));
      await page.getByRole('button', { name: 'Confirm' }).click();
      await heading('Second factor added').waitFor();
      recoveryCodes = await page.locator('.codes li').allInnerTexts();
      assert.equal(recoveryCodes.length, 10, 'ten recovery codes, shown once');
      await checkPage(page, 'recovery-codes');

      await page.getByRole('button', { name: 'Sign out' }).click();
      await heading('Sign in to Sealpost').waitFor();
      await page.getByRole('status').filter({ hasText: 'You signed out.' }).waitFor();
      await signIn();
      await heading('Second step').waitFor();
      await checkPage(page, 'verify');
      await page.getByLabel('6-digit code').fill(totpCode(secret, new Date()));
      await page.getByRole('button', { name: 'Verify code' }).click();
      await heading('Welcome to Sealpost').waitFor();
      const session = (await page.evaluate(`fetch('/v1/auth/session').then((r) => r.json())`)) as {
        methods: string[];
      };
      assert.deepEqual(session.methods, ['password', 'totp']);
    });

    test('add a passkey, sign in with it, then with a recovery code', async () => {
      await nav('Account').click();
      await page.getByRole('link', { name: 'Add a second factor' }).click();
      await page.getByRole('button', { name: 'Add a passkey' }).click();
      await heading('Second factor added').waitFor();
      await page.getByRole('link', { name: 'Back to account security' }).click();
      await page.getByRole('cell', { name: 'Passkey: Passkey' }).waitFor();
      await page.getByRole('cell', { name: 'Authenticator app', exact: true }).waitFor();

      await page.getByRole('button', { name: 'Sign out' }).click();
      await signIn();
      await heading('Second step').waitFor();
      await page.getByRole('button', { name: 'Use a passkey' }).click();
      await heading('Welcome to Sealpost').waitFor();
      const session = (await page.evaluate(`fetch('/v1/auth/session').then((r) => r.json())`)) as {
        methods: string[];
      };
      assert.deepEqual(session.methods, ['password', 'passkey']);

      await page.getByRole('button', { name: 'Sign out' }).click();
      await signIn();
      await heading('Second step').waitFor();
      await page.getByText('Use a recovery code').click();
      await page.getByLabel('Recovery code').fill(recoveryCodes[0]!);
      await page.getByRole('button', { name: 'Use recovery code' }).click();
      await heading('Welcome to Sealpost').waitFor();
    });

    test('add a sending domain and verify it against the test DNS', async () => {
      await nav('Settings').click();
      await heading('Settings').waitFor();
      await checkPage(page, 'settings');
      await page.getByRole('link', { name: 'Sending domains' }).click();
      await page.getByLabel('Add a domain').fill('clinic.test');
      await page.getByRole('button', { name: 'Add domain' }).click();
      const panel = page.getByRole('region', { name: /clinic\.test/ });
      await panel.getByText('pending', { exact: true }).waitFor();
      // Publish what the page lists, as the customer would copy it into their DNS.
      const rows = await panel.locator('tbody tr').all();
      for (const row of rows) {
        const [purpose, name, value] = await Promise.all(
          [0, 1, 2].map((i) => row.locator('td').nth(i).innerText()),
        );
        if (!purpose!.includes('optional')) world.dns.setTxt(name!, [value!]);
      }
      await checkPage(page, 'domains');
      await panel.getByRole('button', { name: 'Check clinic.test now' }).click();
      await panel.getByText('verified', { exact: true }).waitFor();
    });

    test('compose with attachments, preview, send to a TLS and a portal recipient, watch, revoke', async () => {
      await nav('Compose').click();
      await heading('Compose a secure message').waitFor();
      await page.getByLabel('Name').fill('Dr. Rivera');
      await page.getByLabel('Address', { exact: true }).fill('rivera');
      await page.getByLabel('Sending domain').selectOption('clinic.test');
      for (const address of ['dana@tls.test', 'dana@notls.test']) {
        await page.getByLabel('To', { exact: true }).fill(address);
        await page.getByLabel('To', { exact: true }).press('Enter');
      }
      await page.getByLabel('Subject').fill('Your results');
      await page.getByLabel('Message').fill('Dear Dana, your results are ready in the portal.');
      await page.getByLabel('Add files').setInputFiles({
        name: 'results.pdf',
        mimeType: 'application/pdf',
        buffer: Buffer.from('%PDF-1.4 results'),
      });
      // A file dropped on the drop zone, as the browser hands it over (the tests' types have no DOM).
      const dropped = await page.evaluateHandle(`(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File(['notes for Dana'], 'notes.txt', { type: 'text/plain' }));
      return transfer;
    })()`);
      await page.getByTestId('dropzone').dispatchEvent('drop', { dataTransfer: dropped });
      await page.getByText('notes.txt').waitFor();
      await page.getByText('results.pdf').waitFor();

      await page.getByRole('button', { name: 'Preview protection' }).click();
      const preview = page.getByTestId('preview');
      await preview.waitFor();
      const lines = await preview.locator('li').allInnerTexts();
      assert.equal(lines.length, 2, lines.join('\n'));
      assert.match(
        lines.find((l) => l.startsWith('dana@tls.test'))!,
        /^dana@tls\.test: tls — /,
      );
      // The preview does not connect to anyone: it names the fallback the delivery will take if TLS fails.
      assert.match(
        lines.find((l) => l.startsWith('dana@notls.test'))!,
        /^dana@notls\.test: tls — .*\(else the portal/,
      );
      await checkPage(page, 'compose-preview');

      await page.getByRole('button', { name: 'Send', exact: true }).click();
      await page.getByRole('link', { name: 'Follow the message' }).click();
      await heading('Your results').waitFor();
      messageUrl = page.url();
      // The page looks again every two seconds until every recipient is in a final state.
      await page.getByTestId('message-status').filter({ hasText: 'done' }).waitFor({ timeout: 60_000 });
      const tls = page.getByRole('article', { name: /dana@tls\.test/ });
      const portal = page.getByRole('article', { name: /dana@notls\.test/ });
      assert.equal(await tls.getByTestId('method').innerText(), 'tls');
      await tls.getByText('delivered', { exact: true }).waitFor();
      await tls
        .getByText(/TLSv1\.[23]/)
        .first()
        .waitFor();
      assert.equal(await portal.getByTestId('method').innerText(), 'portal');
      await portal.getByText('portal notified', { exact: true }).waitFor();
      await portal.getByRole('heading', { name: 'Portal activity' }).waitFor();
      await checkPage(page, 'message');

      const received = await world.waitForMessages('tls', 1);
      assert.match(received[0]!.raw.toString('latin1'), /results\.pdf/);
      assert.match(received[0]!.raw.toString('latin1'), /notes\.txt/);

      await portal.getByRole('button', { name: 'Revoke for dana@notls.test' }).click();
      await page.getByRole('status').filter({ hasText: 'Revoked.' }).waitFor();
      await portal.getByText('revoked', { exact: true }).first().waitFor();
      await tls.getByText('delivered', { exact: true }).waitFor();

      await nav('Messages').click();
      await heading('Messages').waitFor();
      await page.getByLabel(/Search loaded messages/).fill('notls');
      await page.getByRole('row').filter({ hasText: 'dana@notls.test' }).waitFor();
      await page.setViewportSize({ width: 768, height: 1000 });
      await checkPage(page, 'messages-tablet');
      await page.setViewportSize({ width: 1024, height: 900 });
    });

    test('settings: policy, recipient keys, API keys, webhooks, users and roles (more in settings.test.ts)', async () => {
      for (const [link, title] of [
        ['SecureLine policy', 'SecureLine policy'],
        ['Recipient keys', 'Recipient keys'],
        ['Webhooks', 'Webhooks'],
        ['Users and invitations', 'Users'],
        ['Roles', 'Roles'],
        ['API keys', 'API keys'],
      ] as const) {
        await nav('Settings').click();
        await page.getByRole('link', { name: link, exact: true }).click();
        await heading(title).waitFor();
        await page.locator('main table, main form, main p:not([hidden])').first().waitFor();
        await checkPage(page, `settings-${link.toLowerCase().replaceAll(' ', '-')}`);
      }
      await page.getByLabel('Name').fill('Console key');
      await page.getByLabel('messages:send').check();
      await page.getByRole('button', { name: 'Create API key' }).click();
      const token = await page.locator('.notice code').innerText();
      assert.match(token, /^spk_/);
      const used = await server.request('GET', '/v1/messages?limit=1', { token });
      assert.equal(used.status, 403, 'the key holds only messages:send');
      await page.getByRole('button', { name: 'Revoke Console key' }).click();
      await page.getByRole('status').filter({ hasText: 'Console key revoked.' }).waitFor();
      assert.equal((await server.request('POST', '/v1/messages/preview', { token, body: {} })).status, 401);
    });

    test('the audit trail: chain intact, export holds what was done', async () => {
      await nav('Audit').click();
      await heading('Audit trail').waitFor();
      await page.getByTestId('chain').filter({ hasText: 'Intact' }).waitFor();
      await page.getByLabel('Action (e.g. message.revoked)').fill('message.revoked');
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByRole('cell', { name: 'message.revoked' }).waitFor();
      await checkPage(page, 'audit');
      await page.getByLabel('Action (e.g. message.revoked)').fill('');
      await page.getByRole('button', { name: 'Search' }).click();

      await page.getByRole('button', { name: 'Export as JSON lines' }).click();
      await page.getByRole('alert').filter({ hasText: 'Say why you export the trail' }).waitFor();
      await page.getByLabel('Reason for the export (kept on the record)').fill('Compliance review Q4');
      const downloading = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Export as JSON lines' }).click();
      const file = await downloading;
      assert.equal(file.suggestedFilename(), 'audit-events.jsonl');
      const events = readFileSync((await file.path())!, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { action: string; object_id: string; actor_type: string });
      const messageId = messageUrl.split('/').pop()!;
      const actions = new Set(events.map((e) => e.action));
      for (const action of [
        'auth.signed_in',
        'auth.mfa_enrolled',
        'auth.recovery_code_used',
        'domain.created',
        'api_key.created',
        'api_key.revoked',
        'message.queued',
        'message.revoked',
      ])
        assert.ok(actions.has(action), `${action} in ${[...actions].join(', ')}`);
      const revoked = events.find((e) => e.action === 'message.revoked')!;
      assert.equal(revoked.object_id, messageId);
      assert.equal(revoked.actor_type, 'user', 'done by the signed-in person, not a key');
      const exported = await server.request('GET', '/v1/audit-events?action=audit.exported', {
        token: org.api_key,
      });
      assert.equal(exported.body.data.length, 1, exported.text);
      assert.equal(exported.body.data[0].details.reason, 'Compliance review Q4');
      assert.equal(exported.body.data[0].actor_type, 'user');
    });

    test('dashboard charts, then a lost session goes back to sign-in with a message', async () => {
      await nav('Dashboard').click();
      await heading('Dashboard').waitFor();
      await page.locator('.uplot').first().waitFor();
      assert.equal(await page.locator('.uplot').count(), 4);
      await page.getByLabel('Period').selectOption('30');
      await page.locator('.uplot').first().waitFor();
      await checkPage(page, 'dashboard');

      await context.clearCookies();
      await nav('Messages').click();
      await heading('Sign in to Sealpost').waitFor();
      await page.getByRole('status').filter({ hasText: 'Your session ended' }).waitFor();
      assert.deepEqual(problems, [], 'no CSP violation and no script error on any page');
    });
  },
  // The pages use only the API, which runs on both databases in its own tests; here the database of
  // production is enough.
  ['postgres'],
);
