import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { InitResult } from '../../src/identity/index.ts';
import { PASSWORD_MIN, passwordProblem } from '../../src/portal/accounts.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import {
  addVirtualAuthenticator,
  launchBrowser,
  newContext,
  screenshot,
  seriousViolations,
} from '../support/browser.ts';
import { describeEachDb } from '../support/db.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';
import { settle, verifiedDomain } from '../support/sending.ts';

// Portal accounts from the recipient's side, in Debian's Chromium: a recipient who proved who
// they are by email code creates an account (weak passwords refused), adds a passkey through a
// virtual authenticator, and later messages from the same organisation open with the password
// (JavaScript off) or the passkey (JavaScript on). Wrong passwords count toward the delivery's
// lockout and the account's; another organisation's account opens nothing here.

const MARKER = 'PHI-ACCOUNT-7302';
const PASSWORD = 'amber kettle rowing north';
const OTHER_PASSWORD = 'lantern orchard seventeen';

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

describe('portal account passwords (NIST SP 800-63B rev. 4)', () => {
  const address = 'robin.hale@notls.test';
  test('length, not composition: 15 characters at least, 64 and more accepted, code points counted', () => {
    assert.equal(passwordProblem('short but fine', address), 'too_short');
    assert.equal(PASSWORD_MIN, 15);
    assert.equal(passwordProblem('a'.repeat(3) + ' blue fox jumps', address), null);
    assert.equal(passwordProblem('mountain river quiet lamp '.repeat(3).slice(0, 64), address), null);
    assert.equal(passwordProblem('x'.repeat(257), address), 'too_long');
    // Fourteen emoji are fourteen characters, whatever their bytes.
    assert.equal(passwordProblem('🐢🦊🐙🦉🐝🦔🐳🦒🐞🦩🐌🦜🐠🦋', address), 'too_short');
    assert.equal(passwordProblem('🐢🦊🐙🦉🐝🦔🐳🦒🐞🦩🐌🦜🐠🦋🐬', address), null);
  });

  test('common passwords, repeated or padded, and the address are refused', () => {
    for (const weak of [
      'qwertyuiopasdfghjkl',
      'passwordpassword',
      'Password1234567!',
      '!!!!sunshine2024!!!',
      'monkeymonkeymonkey',
      'aaaaaaaaaaaaaaaaaa',
      'abcabcabcabcabcabc',
      'correct horse battery staple',
    ])
      assert.equal(passwordProblem(weak, address), 'common', weak);
    assert.equal(passwordProblem('my name is robin.hale ok', address), 'address');
    assert.equal(passwordProblem('ROBIN.HALE@NOTLS.TEST!!', address), 'address');
    assert.equal(passwordProblem(PASSWORD, address, 'something else'), 'mismatch');
    assert.equal(passwordProblem(PASSWORD, address, PASSWORD), null);
  });
});

describeEachDb(
  'portal accounts',
  (suite) => {
    let world: MailWorld;
    let server: TestServer;
    let org: InitResult;
    let third: InitResult;
    let browser: Browser;
    /** JavaScript on, with a virtual authenticator: the recipient's own browser with its passkey. */
    let own: BrowserContext;
    let ownPage: Page;

    before(async () => {
      world = await startMailWorld();
      world.forbidInClear(MARKER);
      await world.addReceiver('clinic');
      world.addDomain('thirdclinic.test', 'clinic');
      const port = await freePort();
      server = await startTestServer(
        suite.testDb,
        {
          ...world.env(),
          SEALPOST_HTTP_PORT: String(port),
          // A passkey's relying party is a domain name, never an IP address: localhost it is.
          SEALPOST_PUBLIC_URL: `http://localhost:${port}`,
          SEALPOST_PORTAL_MAX_FAILURES: '4',
          // Guesses from many networks at once: the client address comes from X-Forwarded-For.
          SEALPOST_TRUST_PROXY: 'true',
        },
        { roles: ['api', 'worker'] },
      );
      org = await server.createOrg('Account Clinic');
      await verifiedDomain(server, world.dns, org.api_key, 'clinic.test');
      third = await server.createOrg('Third Clinic');
      await verifiedDomain(server, world.dns, third.api_key, 'thirdclinic.test');
      browser = await launchBrowser();
      own = await newContext(browser, { javaScript: true });
      ownPage = await own.newPage();
      await addVirtualAuthenticator(own, ownPage);
    });
    after(async () => {
      await browser?.close();
      await server?.close();
      await world?.close();
    });

    /** Sends a message that only the portal can carry; returns the notice's link. */
    async function sendToPortal(from: InitResult, address: string, extra: Record<string, unknown> = {}) {
      const domain = from === org ? 'clinic.test' : 'thirdclinic.test';
      const before = world.receiver('notls').messages.length;
      const sent = await server.request('POST', '/v1/messages', {
        token: from.api_key,
        body: {
          from: { name: 'Dr. Rivera', address: `rivera@${domain}` },
          to: [{ address }],
          subject: `Your results ${MARKER}`,
          text: `Your A1c is 6.1%. ${MARKER}`,
          protection: 'portal',
          ...extra,
        },
      });
      assert.equal(sent.status, 202, sent.text);
      const [recipient] = await settle<{ id: string; state: string }>(server, from.api_key, sent.body.id);
      assert.equal(recipient!.state, 'portal_notified');
      const messages = await world.waitForMessages('notls', before + 1);
      const notice = await simpleParser(messages[before]!.raw);
      const link = /(http:\/\/localhost:\d+\/secure\/[A-Za-z0-9_-]{43})/.exec(notice.text ?? '')?.[1];
      assert.ok(link, notice.text);
      return { messageId: sent.body.id as string, recipientId: recipient!.id, link };
    }

    /** Proves who they are by email code on the start page, ending on the message. */
    async function verifyByCode(page: Page) {
      const count = world.receiver('notls').messages.length;
      await page.getByRole('button', { name: 'Email me a code' }).click();
      await page.waitForURL(/\/verify/);
      const messages = await world.waitForMessages('notls', count + 1);
      const code = /\b(\d{6})\b/.exec((await simpleParser(messages[count]!.raw)).text ?? '')?.[1];
      assert.ok(code);
      await page.getByLabel('One-time code').fill(code);
      await page.getByRole('button', { name: 'Open the message' }).click();
      await page.getByRole('heading', { name: `Your results ${MARKER}` }).waitFor();
    }

    async function createAccount(page: Page, password: string) {
      await page.getByLabel('Choose a password').fill(password);
      await page.getByLabel('Type the password again').fill(password);
      await page.getByRole('button', { name: 'Create account' }).click();
    }

    async function signInWithPassword(page: Page, password: string) {
      await page.getByLabel('Password', { exact: true }).fill(password);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    }

    async function assertAccessible(page: Page, name: string) {
      const violations = await seriousViolations(page);
      assert.deepEqual(
        violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
        [],
        `axe on ${name}`,
      );
    }

    /**
     * The password form as a browser without script meets it (its pre-session cookie and the
     * form's token); then a sign-in posted from the given network.
     */
    async function passwordForm(link: string) {
      const url = `${server.url}${new URL(link).pathname}/sign-in`;
      const form = await fetch(url);
      const cookie = form.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
      return async (password: string, ip: string) => {
        const res = await fetch(url, {
          method: 'POST',
          redirect: 'manual',
          headers: {
            cookie,
            'content-type': 'application/x-www-form-urlencoded',
            'x-forwarded-for': ip,
          },
          body: new URLSearchParams({ csrf, password }).toString(),
        });
        return { status: res.status, text: await res.text() };
      };
    }

    async function auditOf(orgId: string, action: string) {
      await server.app.flushAudit();
      const { rows } = await server.app.db.query<{ object_id: string; details: Record<string, unknown> }>(
        'SELECT object_id, details FROM audit_events WHERE org_id = $1 AND action = $2 ORDER BY seq',
        [orgId, action],
      );
      return rows;
    }

    test('verified by email code, the recipient creates an account (weak passwords refused) and adds a passkey', async () => {
      const { link } = await sendToPortal(org, 'robin@notls.test');
      const page = ownPage;
      await page.goto(link);
      assert.equal(await page.getByRole('link', { name: 'Sign in with your portal account' }).count(), 0);
      await verifyByCode(page);

      await page.getByText('Create a portal account so next time you only sign in.').waitFor();
      await assertAccessible(page, 'message with the account offer');
      await page.getByRole('link', { name: 'Create a portal account' }).click();
      await page.getByRole('heading', { name: 'Create a portal account' }).waitFor();
      assert.doesNotMatch(await page.title(), /robin|results/i);
      await assertAccessible(page, 'create account');

      await createAccount(page, 'too short pw');
      await page.getByText('This password is too short: use at least 15 characters.').waitFor();
      assert.equal(await page.getByLabel('Choose a password').getAttribute('aria-invalid'), 'true');
      await screenshot(page, 'account-create-too-short');
      await assertAccessible(page, 'create account, refused');
      await createAccount(page, 'passwordpassword');
      await page.getByText('This password is too common and easy to guess.').waitFor();
      await createAccount(page, 'robin sails the bay');
      await page.getByText('The password must not contain your email address').waitFor();
      await page.getByLabel('Choose a password').fill(PASSWORD);
      await page.getByLabel('Type the password again').fill(`${PASSWORD}!`);
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByText('The two passwords are not the same.').waitFor();

      await createAccount(page, PASSWORD);
      await page.getByText('Your portal account is ready.').waitFor();
      assert.equal(await page.getByRole('link', { name: 'Create a portal account' }).count(), 0);
      const { rows } = await server.app.db.query<{ password_hash: string }>(
        'SELECT password_hash FROM portal_accounts WHERE org_id = $1 AND address = $2',
        [org.org_id, 'robin@notls.test'],
      );
      assert.match(rows[0]!.password_hash, /^\$argon2id\$v=19\$m=65536,p=4,t=3\$/);
      assert.ok(!rows[0]!.password_hash.includes(PASSWORD));

      // The passkey card shows only where script runs: this browser has a (virtual) authenticator.
      await page.getByRole('heading', { name: 'Passkeys' }).waitFor();
      await assertAccessible(page, 'message with the passkey card');
      await page.getByRole('button', { name: 'Add a passkey' }).click();
      await page.getByText('Your passkey was added.').waitFor();
      await page.getByText('Passkeys on this account: 1.').waitFor();
      await screenshot(page, 'account-passkey-added');

      const created = await auditOf(org.org_id, 'portal.account_created');
      const added = await auditOf(org.org_id, 'portal.passkey_added');
      assert.equal(created.length, 1);
      assert.equal(added.length, 1);
      assert.equal(added[0]!.object_id, created[0]!.object_id, 'both name the account by its id');
      assert.doesNotMatch(JSON.stringify([created, added]), /robin|@/, 'ids, never the address');
    });

    test('a later message opens with the password (JavaScript off) or the passkey (JavaScript on)', async () => {
      const { recipientId, link } = await sendToPortal(org, 'robin@notls.test');

      const context = await newContext(browser, { javaScript: false, width: 360 });
      const page = await context.newPage();
      await page.goto(link);
      await assertAccessible(page, 'start with an account');
      await page.getByRole('link', { name: 'Sign in with your portal account' }).click();
      await page.getByRole('heading', { name: 'Sign in to your portal account' }).waitFor();
      assert.equal(await page.getByRole('button', { name: 'Sign in with a passkey' }).isVisible(), false);
      await screenshot(page, 'account-sign-in-360');
      await assertAccessible(page, 'sign in');

      await signInWithPassword(page, 'amber kettle rowing south');
      await page.getByText('That password is not right. You have 3 tries left.').waitFor();
      await assertAccessible(page, 'sign in, wrong password');
      await signInWithPassword(page, PASSWORD);
      await page.getByRole('heading', { name: `Your results ${MARKER}` }).waitFor();
      await context.close();

      // A message the sender protected with a passphrase asks for the passphrase: the account stands
      // in for the email code only.
      const guarded = await sendToPortal(org, 'robin@notls.test', {
        portal: { verification: 'passphrase', passphrase: 'heron at dawn' },
      });
      const guardedPage = await (await fetch(`${server.url}${new URL(guarded.link).pathname}`)).text();
      assert.doesNotMatch(guardedPage, /Sign in with your portal account/);
      const refused = await fetch(`${server.url}${new URL(guarded.link).pathname}/sign-in`, {
        redirect: 'manual',
      });
      assert.equal(refused.status, 303);

      // The passkey button is script from the portal's own origin, which the pages' policy allows.
      const signInPage = await fetch(`${server.url}${new URL(link).pathname}/sign-in`);
      assert.match(signInPage.headers.get('content-security-policy')!, /script-src 'self'/);
      assert.doesNotMatch(
        await signInPage.text(),
        /<script(?![^>]*\ssrc="\/portal\/assets\/)/,
        'no inline script',
      );
      for (const asset of ['passkey.js', 'simplewebauthn.js']) {
        const served = await fetch(`${server.url}/portal/assets/${asset}`);
        assert.equal(served.status, 200);
        assert.match(served.headers.get('content-type')!, /^text\/javascript/);
      }
      await ownPage.goto(link);
      await ownPage.getByRole('link', { name: 'Sign in with your portal account' }).click();
      await ownPage.getByRole('button', { name: 'Sign in with a passkey' }).click();
      await ownPage.getByRole('heading', { name: `Your results ${MARKER}` }).waitFor();

      const delivery = await server.app.db.query<{ failed_attempts: number; verified_at: Date | null }>(
        'SELECT failed_attempts, verified_at FROM portal_deliveries WHERE org_id = $1 AND recipient_id = $2',
        [org.org_id, recipientId],
      );
      assert.equal(delivery.rows[0]!.failed_attempts, 0, 'a sign-in starts the count again');
      assert.ok(delivery.rows[0]!.verified_at);
      await server.app.flushAudit({ openWindows: true });
      const { rows } = await server.app.db.query<{ action: string; details: Record<string, string> }>(
        `SELECT action, details FROM audit_events WHERE org_id = $1 AND details->>'recipient_id' = $2 ORDER BY seq`,
        [org.org_id, recipientId],
      );
      const signedIn = rows
        .filter((r) => r.action === 'portal.account_signed_in')
        .map((r) => r.details.factor);
      assert.deepEqual(signedIn, ['password', 'passkey']);
      const verified = rows.filter((r) => r.action === 'portal.verified').map((r) => r.details.method);
      assert.deepEqual(verified, ['account', 'account']);
      assert.ok(rows.some((r) => r.action === 'portal.account_sign_in_failed'));
      assert.doesNotMatch(JSON.stringify(rows), /robin|@notls/, 'ids, never the address');
    });

    test('wrong passwords lock the message like wrong codes, and ten lock the account for 15 minutes', async () => {
      const context = await newContext(browser, { javaScript: false });
      const page = await context.newPage();
      const first = await sendToPortal(org, 'robin@notls.test');
      await page.goto(`${first.link}/sign-in`);
      for (const left of [3, 2, 1]) {
        await signInWithPassword(page, `not the password ${left}`);
        await page.getByText(`You have ${left} tries left.`).waitFor();
      }
      await signInWithPassword(page, 'not the password 0');
      await page.getByRole('heading', { name: 'This message is locked' }).waitFor();
      await page.goto(`${first.link}/sign-in`);
      await page.getByRole('heading', { name: 'This message is locked' }).waitFor();

      // Four more on a second message, two on a third: the tenth failure locks the account.
      const second = await sendToPortal(org, 'robin@notls.test');
      await page.goto(`${second.link}/sign-in`);
      for (let i = 0; i < 4; i++) await signInWithPassword(page, `still not it ${i}`);
      await page.getByRole('heading', { name: 'This message is locked' }).waitFor();
      const third_ = await sendToPortal(org, 'robin@notls.test');
      await page.goto(`${third_.link}/sign-in`);
      await signInWithPassword(page, 'wrong nine of ten');
      await page.getByText('You have 3 tries left.').waitFor();
      await signInWithPassword(page, 'wrong ten of ten');
      await page.getByText('it is locked for 15 minutes').waitFor();
      await assertAccessible(page, 'account locked');
      const locks = await auditOf(org.org_id, 'portal.account_locked');
      assert.equal(locks.length, 1);

      // Now even the right password waits, and says so; the message itself is not locked.
      await signInWithPassword(page, PASSWORD);
      await page.getByText('it is locked for 15 minutes').waitFor();
      // The passkey waits too.
      await ownPage.goto(`${third_.link}/sign-in`);
      await ownPage.getByRole('button', { name: 'Sign in with a passkey' }).click();
      await ownPage.getByText('it is locked for 15 minutes').waitFor();

      // Fifteen minutes later (the lock moved into the past), the password opens the message.
      await server.app.db.query(
        `UPDATE portal_accounts SET locked_until = now() - interval '1 second' WHERE org_id = $1`,
        [org.org_id],
      );
      await signInWithPassword(page, PASSWORD);
      await page.getByRole('heading', { name: `Your results ${MARKER}` }).waitFor();
      await context.close();
    });

    test("another organisation's account (password or passkey) opens nothing here", async () => {
      // Casey has an account with the third clinic only.
      const theirs = await sendToPortal(third, 'casey@notls.test');
      const context = await newContext(browser, { javaScript: false });
      const page = await context.newPage();
      await page.goto(theirs.link);
      await verifyByCode(page);
      await page.getByRole('link', { name: 'Create a portal account' }).click();
      await createAccount(page, OTHER_PASSWORD);
      await page.getByText('Your portal account is ready.').waitFor();

      // A message from the first clinic: no offer to sign in, and that password does not open it.
      const ours = await sendToPortal(org, 'casey@notls.test');
      await page.goto(ours.link);
      await page.getByRole('button', { name: 'Email me a code' }).waitFor();
      assert.equal(await page.getByRole('link', { name: 'Sign in with your portal account' }).count(), 0);
      await page.goto(`${ours.link}/sign-in`);
      await signInWithPassword(page, OTHER_PASSWORD);
      await page.getByText('That password is not right. You have 3 tries left.').waitFor();
      await page.goto(ours.link);
      await page.getByRole('button', { name: 'Email me a code' }).waitFor();
      await context.close();

      // Robin's passkey belongs to the first clinic's account: the third clinic's message refuses it.
      const robins = await sendToPortal(third, 'robin@notls.test');
      await ownPage.goto(`${robins.link}/sign-in`);
      await ownPage.getByRole('button', { name: 'Sign in with a passkey' }).click();
      await ownPage.getByText('That passkey does not open this account. You have 3 tries left.').waitFor();
      await ownPage.goto(robins.link);
      await ownPage.getByRole('button', { name: 'Email me a code' }).waitFor();

      const { rows } = await server.app.db.query<{ org_id: string; address: string }>(
        'SELECT org_id, address FROM portal_accounts ORDER BY address',
      );
      assert.deepEqual(
        rows.map((r) => [r.org_id === org.org_id ? 'first' : 'third', r.address]),
        [
          ['third', 'casey@notls.test'],
          ['first', 'robin@notls.test'],
        ],
      );
      world.assertNoViolations();
    });

    test('guesses sent at once are judged in turn: no more than the message allows, nor the account', async () => {
      await server.app.db.query(
        'UPDATE portal_accounts SET failed_attempts = 0, locked_until = NULL WHERE org_id = $1',
        [org.org_id],
      );
      const failures = async (...recipientIds: string[]) =>
        (
          await server.app.db.query<{ failed_attempts: number; locked: boolean }>(
            `SELECT failed_attempts, locked_at IS NOT NULL AS locked FROM portal_deliveries
             WHERE org_id = $1 AND recipient_id = ANY($2::uuid[]) ORDER BY failed_attempts DESC`,
            [org.org_id, recipientIds],
          )
        ).rows;
      const account = async () =>
        (
          await server.app.db.query<{ failed_attempts: number; locked: boolean }>(
            `SELECT failed_attempts, coalesce(locked_until > now(), false) AS locked FROM portal_accounts
             WHERE org_id = $1 AND address = 'robin@notls.test'`,
            [org.org_id],
          )
        ).rows[0]!;
      const locks = (await auditOf(org.org_id, 'portal.account_locked')).length;
      let network = 0;
      const burst = async (link: string, guesses: number) => {
        const guess = await passwordForm(link);
        return Promise.all(
          Array.from({ length: guesses }, (_, i) => guess(`not the password ${i}`, `203.0.113.${++network}`)),
        );
      };
      const notRight = (answers: { text: string }[]) =>
        answers.filter((a) => a.text.includes('That password is not right')).length;

      // Twenty at one message: the fourth failure locks it, and nothing is judged after it.
      const first = await sendToPortal(org, 'robin@notls.test');
      const answers = await burst(first.link, 20);
      assert.equal(notRight(answers), 3);
      assert.deepEqual(await failures(first.recipientId), [{ failed_attempts: 4, locked: true }]);
      assert.equal(answers.filter((a) => a.status === 423).length, 17);
      assert.deepEqual(await account(), { failed_attempts: 4, locked: false });

      // Twenty at each of two more: the account's six tries left are all that is judged.
      const second = await sendToPortal(org, 'robin@notls.test');
      const third_ = await sendToPortal(org, 'robin@notls.test');
      const both = (await Promise.all([burst(second.link, 20), burst(third_.link, 20)])).flat();
      const counted = await failures(second.recipientId, third_.recipientId);
      assert.equal(counted[0]!.failed_attempts + counted[1]!.failed_attempts, 6);
      assert.ok(counted[0]!.failed_attempts <= 4);
      assert.deepEqual(await account(), { failed_attempts: 0, locked: true });
      // The tenth failure says the account is locked, or the message when it locked that too.
      assert.ok(notRight(both) <= 5, `${notRight(both)} told "not right"`);
      assert.deepEqual([...new Set(both.map((a) => a.status))].sort(), [422, 423]);
      assert.equal((await auditOf(org.org_id, 'portal.account_locked')).length, locks + 1, 'one lock');
    });

    test('refused sign-ins are tallied: thirty from one source are one event, with the count', async () => {
      // The account is locked (the test before): every try is refused, the password unread.
      const { link, recipientId } = await sendToPortal(org, 'robin@notls.test');
      const guess = await passwordForm(link);
      const ip = '198.51.100.30';
      for (let i = 0; i < 30; i++) {
        const res = await guess(i === 29 ? PASSWORD : `still not it ${i}`, ip);
        assert.equal(res.status, 423, res.text);
      }
      await server.app.flushAudit({ openWindows: true });
      const { rows } = await server.app.db.query<{ object_type: string; details: Record<string, unknown> }>(
        `SELECT object_type, details FROM audit_events
         WHERE org_id = $1 AND action = 'portal.account_sign_in_failed' AND ip = $2`,
        [org.org_id, ip],
      );
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.object_type, 'portal_account');
      assert.deepEqual(
        [rows[0]!.details.recipient_id, rows[0]!.details.reason, rows[0]!.details.count],
        [recipientId, 'locked', 30],
      );
      assert.doesNotMatch(JSON.stringify(rows), /robin|@notls/, 'ids, never the address');
    });
  },
  // Every step is in Chromium and the SQL is the same on both databases (test/portal/portal.test.ts
  // runs the portal on both): once, on PostgreSQL, keeps the suite's time in bounds.
  ['postgres'],
);
