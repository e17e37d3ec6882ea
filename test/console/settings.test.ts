import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { createUser, type InitResult } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { launchBrowser, newContext } from '../support/browser.ts';
import { describeEachDb } from '../support/db.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';
import { pgpKeyPair } from '../support/keys.ts';
import { verifiedDomain } from '../support/sending.ts';
import { checkPage, watchPage } from './pages.ts';

// The console's settings in Debian's Chromium, as an administrator uses them: make a custom role and
// change it, invite someone and revoke the invitation, give a user the custom role, disable and enable
// them, download the access review (after the password again: the sign-in is no longer recent), set allowed networks (refused when they would lock the
// administrator out, until applied anyway), add and remove recipient keys, add, change and remove a
// webhook endpoint, save the portal's branding. Each outcome is then read back through the API;
// axe-core on every page, no CSP violation or script error, screenshots kept.

// A 1×1 PNG: the server checks a logo by its first bytes.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

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
  'console settings',
  (suite) => {
    let world: MailWorld;
    let server: TestServer;
    let org: InitResult;
    let browser: Browser;
    let page: Page;
    let problems: string[];
    let roleId = '';
    let colleague = '';
    // The server's clock runs this far ahead of the browser's, to make a sign-in no longer recent.
    let ahead = 0;

    before(async () => {
      const launching = launchBrowser();
      world = await startMailWorld();
      // Requests with the session cookie must come from the public URL's origin.
      const port = await freePort();
      server = await startTestServer(
        suite.testDb,
        {
          ...world.env(),
          SEALPOST_HTTP_PORT: String(port),
          SEALPOST_PUBLIC_URL: `http://127.0.0.1:${port}`,
          // A webhook endpoint on loopback, never called here: only made, changed and removed.
          SEALPOST_WEBHOOK_ALLOW_HTTP: 'true',
          SEALPOST_WEBHOOK_ALLOW_PRIVATE: 'true',
        },
        { clock: () => new Date(Date.now() + ahead) },
      );
      org = await server.createOrg('Settings Clinic');
      // Invitations are mailed from a verified sending domain.
      await verifiedDomain(server, world.dns, org.api_key, 'settings-clinic.test');
      colleague = (
        await createUser(suite.db, org.org_id, { email: 'sam@settings-clinic.test', role: 'sender' })
      ).id;
      browser = await launching;
      const context = await newContext(browser, { width: 1024 });
      page = await context.newPage();
      page.setDefaultTimeout(15_000);
      page.on('dialog', (dialog) => void dialog.accept());
      problems = watchPage(page);

      await page.goto(`${server.url}/console/app/`);
      await page.getByLabel('Email address').fill(org.admin_email);
      await page.getByLabel('Password').fill(org.admin_password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await heading('Welcome to Sealpost').waitFor();
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      await world?.close();
    });

    const heading = (name: string) => page.getByRole('heading', { level: 1, name });
    const status = (text: string | RegExp) => page.getByRole('status').filter({ hasText: text }).waitFor();
    const api = async (path: string) => {
      const res = await server.request('GET', path, { token: org.api_key });
      assert.equal(res.status, 200, res.text);
      return res.body;
    };
    async function open(link: string, title: string) {
      await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Settings' }).click();
      await page.getByRole('link', { name: link, exact: true }).click();
      await heading(title).waitFor();
    }

    test('roles: create a custom role from the permission set, change it, delete another', async () => {
      await open('Roles', 'Roles');
      await page.getByRole('cell', { name: /^owner/ }).waitFor();
      // Built-in roles are read-only: no button names them.
      assert.equal(await page.getByRole('button', { name: /administrator/ }).count(), 0);
      await checkPage(page, 'settings-roles');

      const form = page.getByRole('form', { name: 'New custom role' });
      await form.getByLabel('Name').fill('Front desk');
      await form.getByLabel('Description (optional)').fill('Sends and follows messages');
      // Each permission is offered in words, with its name beside them.
      const send = form.getByRole('group', { name: 'Mail' }).getByLabel('messages:send');
      assert.equal(
        await send.evaluate((input) => input.labels?.[0]?.textContent?.trim()),
        'Send messages and hand in bounce and complaint reports messages:send',
      );
      await send.check();
      await form.getByLabel('messages:read').check();
      await form.getByRole('button', { name: 'Create role' }).click();
      await status('Front desk created.');

      await page.getByRole('button', { name: 'Edit Front desk' }).click();
      const edit = page.getByRole('form', { name: 'Edit Front desk' });
      await edit.getByRole('group', { name: 'Oversight' }).getByLabel('reports:read').check();
      await edit.getByRole('button', { name: 'Save Front desk' }).click();
      await status('Front desk saved.');

      await page.getByLabel('Name').fill('Temporary');
      await page.getByLabel('suppressions:read').check();
      await page.getByRole('button', { name: 'Create role' }).click();
      await status('Temporary created.');
      await page.getByRole('button', { name: 'Delete Temporary' }).click();
      await status('Temporary deleted.');

      const roles = (await api('/v1/roles')).data as {
        id: string;
        name: string;
        permissions: string[];
        built_in: boolean;
      }[];
      const custom = roles.filter((r) => !r.built_in);
      assert.deepEqual(
        custom.map((r) => [r.name, [...r.permissions].sort()]),
        [['Front desk', ['messages:read', 'messages:send', 'reports:read']]],
      );
      roleId = custom[0]!.id;
    });

    test('users: invite, revoke the invitation, give the custom role, disable and enable, access review', async () => {
      await open('Users and invitations', 'Users');
      await page.getByLabel('Email address').fill('dana@settings-clinic.test');
      await page.getByLabel('Role', { exact: true }).selectOption({ label: 'Front desk' });
      await page.getByRole('button', { name: 'Send invitation' }).click();
      await status('Invitation sent to dana@settings-clinic.test.');
      const row = page.getByRole('row').filter({ hasText: 'dana@settings-clinic.test' });
      await row.getByRole('cell', { name: 'pending' }).waitFor();
      await row.getByRole('cell', { name: 'Front desk' }).waitFor();
      await checkPage(page, 'settings-users');
      let invitations = (await api('/v1/invitations')).data as {
        email: string;
        role: string;
        status: string;
      }[];
      assert.deepEqual(
        invitations.map((i) => [i.email, i.role, i.status]),
        [['dana@settings-clinic.test', roleId, 'pending']],
      );

      await row.getByRole('button', { name: 'Revoke invitation to dana@settings-clinic.test' }).click();
      await status('Invitation to dana@settings-clinic.test revoked.');
      await row.getByRole('cell', { name: 'revoked' }).waitFor();
      invitations = (await api('/v1/invitations')).data;
      assert.equal(invitations[0]!.status, 'revoked');

      await page.getByLabel('Role of sam@settings-clinic.test').selectOption({ label: 'Front desk' });
      await page.getByRole('button', { name: 'Change role of sam@settings-clinic.test' }).click();
      await status('sam@settings-clinic.test is now Front desk; their sessions ended.');
      await page.getByRole('button', { name: 'Disable sam@settings-clinic.test' }).click();
      await status('sam@settings-clinic.test disabled.');
      let users = (await api('/v1/users')).data as { id: string; role: string; status: string }[];
      assert.deepEqual(
        users.filter((u) => u.id === colleague).map((u) => [u.role, u.status]),
        [[roleId, 'disabled']],
      );
      await page.getByRole('button', { name: 'Enable sam@settings-clinic.test' }).click();
      await status('sam@settings-clinic.test enabled.');
      users = (await api('/v1/users')).data;
      assert.equal(users.find((u) => u.id === colleague)!.status, 'active');

      // Eleven minutes on, the sign-in is no longer recent: the export asks for the password first.
      ahead = 11 * 60_000;
      const downloading = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Download the access review (CSV)' }).click();
      const dialog = page.getByRole('dialog', { name: 'Confirm it is you' });
      await dialog.getByLabel('Password').fill(org.admin_password);
      await dialog.getByRole('button', { name: 'Confirm' }).click();
      const file = await downloading;
      assert.match(file.suggestedFilename(), /^access-review-\d{4}-\d{2}-\d{2}\.csv$/);
      const csv = readFileSync((await file.path())!, 'utf8')
        .trim()
        .split('\r\n');
      assert.match(csv[0]!, /^id,email,/);
      assert.equal(csv.length, 3, 'a header and the two users');
      assert.ok(
        csv.some((line) => line.includes('sam@settings-clinic.test') && line.includes('Front desk')),
        csv.join('\n'),
      );
      await status(/^access-review-.*\.csv downloaded\.$/);
      const exported = await api('/v1/audit-events?action=users.access_review_exported');
      assert.equal(exported.data.length, 1);
      assert.equal(exported.data[0].details.format, 'csv');
    });

    test('sign-in and access: a network that would lock the administrator out is refused', async () => {
      await open('Sign-in and access', 'Sign-in and access');
      await page.getByLabel('For the whole organisation').fill('10.0.0.0/8');
      await page.getByRole('button', { name: 'Save access policy' }).click();
      const refusal = page.getByRole('alert').filter({ hasText: 'this would lock you out' });
      await refusal.waitFor();
      await refusal.getByRole('button', { name: 'Apply anyway' }).waitFor();
      await checkPage(page, 'settings-access-refused');
      assert.deepEqual((await api('/v1/policies/access')).networks, [], 'nothing applied');

      // Keep editing: the organisation stays open, the custom role is held to a documentation range.
      await page.getByRole('button', { name: 'Keep editing' }).click();
      await page.getByLabel('For the whole organisation').fill('');
      await page.getByLabel('Also for the role Front desk').fill('192.0.2.0/24');
      await page.getByLabel('Mail people when they sign in from a new device').uncheck();
      await page.getByRole('button', { name: 'Save access policy' }).click();
      await status('Access policy saved.');
      const policy = await api('/v1/policies/access');
      assert.deepEqual(policy, {
        networks: [],
        role_networks: { [roleId]: ['192.0.2.0/24'] },
        notify_new_device: false,
      });
      await page.getByRole('heading', { name: 'Single sign-on (OpenID Connect)' }).waitFor();
      await checkPage(page, 'settings-access');
    });

    test('recipient keys: one pasted, one from a file, one removed', async () => {
      const [pasted, filed] = await Promise.all([
        pgpKeyPair({ email: 'pat@example.net' }),
        pgpKeyPair({ email: 'lee@example.net' }),
      ]);
      await open('Recipient keys', 'Recipient keys');
      await page.getByLabel("Recipient's address").fill('pat@example.net');
      await page.getByLabel(/^OpenPGP public key or S\/MIME certificate/).fill(pasted.publicKey);
      await page.getByRole('button', { name: 'Add key' }).click();
      await status('Key for pat@example.net added.');
      await page.getByLabel("Recipient's address").fill('lee@example.net');
      await page.getByLabel(/^Or take it from a file/).setInputFiles({
        name: 'lee.asc',
        mimeType: 'application/pgp-keys',
        buffer: Buffer.from(filed.publicKey),
      });
      await page.getByRole('button', { name: 'Add key' }).click();
      await status('Key for lee@example.net added.');
      // A key for another address is refused, and the refusal is read out.
      await page.getByLabel("Recipient's address").fill('someone@example.net');
      await page.getByLabel(/^OpenPGP public key or S\/MIME certificate/).fill(pasted.publicKey);
      await page.getByRole('button', { name: 'Add key' }).click();
      await page.getByRole('alert').filter({ hasText: /\S/ }).waitFor();
      await checkPage(page, 'settings-recipient-keys-added');
      await page.getByRole('button', { name: 'Remove key of pat@example.net' }).click();
      await status('Key of pat@example.net removed.');
      const keys = (await api('/v1/recipient-keys')).data as { address: string; fingerprint: string }[];
      assert.deepEqual(
        keys.map((k) => [k.address, k.fingerprint.toLowerCase()]),
        [['lee@example.net', filed.fingerprint.toLowerCase()]],
      );
    });

    test('webhooks: add an endpoint (secret shown once), change it, remove it', async () => {
      await open('Webhooks', 'Webhooks');
      const form = page.getByRole('form', { name: 'New endpoint' });
      await form.getByLabel(/^URL/).fill('http://127.0.0.1:9/hooks/sealpost');
      await form.getByLabel('Description (optional)').fill('Practice system');
      await form.getByLabel('Every event type, including those added later').uncheck();
      await form.getByLabel('message.delivered', { exact: true }).check();
      await form.getByRole('button', { name: 'Add endpoint' }).click();
      await status('Endpoint added.');
      assert.match(await page.locator('.notice code').innerText(), /^whsec_/);
      await checkPage(page, 'settings-webhooks-added');

      await page.getByRole('button', { name: 'Change http://127.0.0.1:9/hooks/sealpost' }).click();
      const edit = page.getByRole('form', { name: 'Change http://127.0.0.1:9/hooks/sealpost' });
      await edit.getByLabel('message.bounced', { exact: true }).check();
      await edit.getByLabel(/^Enabled/).uncheck();
      await edit.getByRole('button', { name: 'Save endpoint' }).click();
      await status('Endpoint saved.');
      const [hook] = (await api('/v1/webhooks')).data as {
        url: string;
        description: string;
        event_types: string[];
        enabled: boolean;
      }[];
      assert.deepEqual(
        [hook!.url, hook!.description, [...hook!.event_types].sort(), hook!.enabled],
        [
          'http://127.0.0.1:9/hooks/sealpost',
          'Practice system',
          ['message.bounced', 'message.delivered'],
          false,
        ],
      );

      await page.getByRole('button', { name: 'Remove http://127.0.0.1:9/hooks/sealpost' }).click();
      await status('http://127.0.0.1:9/hooks/sealpost removed.');
      assert.deepEqual((await api('/v1/webhooks')).data, []);
    });

    test('branding: name, colour and logo saved for the portal', async () => {
      await open('Branding', 'Branding');
      await page.getByLabel(/^Name shown/).fill('Settings Clinic Portal');
      await page.getByLabel(/^Colour/).fill('#0B4F8A');
      await page.getByLabel(/^Logo/).setInputFiles({ name: 'logo.png', mimeType: 'image/png', buffer: PNG });
      await page.getByRole('img', { name: 'The logo chosen' }).waitFor();
      await page.getByRole('button', { name: 'Save branding' }).click();
      await status('Branding saved.');
      await page.getByText(`On file: image/png, ${(PNG.length / 1000).toFixed(1)} KB.`).waitFor();
      await checkPage(page, 'settings-branding');
      assert.deepEqual(await api('/v1/branding'), {
        display_name: 'Settings Clinic Portal',
        color: '#0b4f8a',
        logo: { content_type: 'image/png', size: PNG.length },
      });
    });

    // Last: it locks everyone out from here, as the page warned.
    test('sign-in and access: "apply anyway" sends force, and the lock-out is real', async () => {
      await open('Sign-in and access', 'Sign-in and access');
      await page.getByLabel('For the whole organisation').fill('10.0.0.0/8');
      await page.getByRole('button', { name: 'Save access policy' }).click();
      await page.getByRole('button', { name: 'Apply anyway' }).click();
      await status('Access policy applied, although it refuses your own address.');
      const refused = await server.request('GET', '/v1/policies/access', { token: org.api_key });
      assert.equal(refused.status, 403, refused.text);
      assert.equal(refused.body.code, 'network_not_allowed');
      assert.deepEqual(problems, [], 'no CSP violation and no script error on any page');
    });
  },
  // The pages use only the API, which runs on both databases in its own tests; here the database of
  // production is enough.
  ['postgres'],
);
