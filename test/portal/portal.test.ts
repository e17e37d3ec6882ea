import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { simpleParser } from 'mailparser';
import type { Browser, Page } from 'playwright-core';
import type { InitResult } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { launchBrowser, newContext, screenshot, seriousViolations } from '../support/browser.ts';
import { describeEachDb } from '../support/db.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';
import { settle, verifiedDomain } from '../support/sending.ts';
import { type SmsCarrier, startSmsCarrier } from '../support/sms-carrier.ts';

// The secure portal from the recipient's side, in Debian's Chromium: the notice arrives in a
// local SMTP receiver, its link opens the portal, the recipient proves who they are (email code,
// SMS code, passphrase), reads, downloads, replies with a file that reaches the sender, and the
// sender sees it all on the message. The pages run without JavaScript, at 360 px, in English and
// Spanish, with no serious or critical axe-core violation.

const MARKER = 'PHI-PORTAL-5521';
const ATTACHMENT = Buffer.concat([
  Buffer.from(`Lab report ${MARKER}\n`),
  Buffer.from([0, 1, 2, 255, 254, 10]),
]);
const HTML = `<h1>Your results</h1><p>Dear Dana, your A1c is 6.1%. Reference ${MARKER}.</p>
<p><a href="https://evil.example/login">https://clinic.test/results</a></p>
<p><img src="https://tracker.example/pixel.gif" alt="tracking pixel"></p>
<script>document.title = 'owned'</script>`;

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

describeEachDb('secure portal', (suite) => {
  let world: MailWorld;
  let server: TestServer;
  let org: InitResult;
  let browser: Browser;
  let carrier: SmsCarrier;
  const api = (method: string, path: string, body?: unknown) =>
    server.request(method, path, { token: org.api_key, body });

  before(async () => {
    world = await startMailWorld();
    world.forbidInClear(MARKER);
    await world.addReceiver('clinic');
    carrier = await startSmsCarrier({ account: 'AC_test', token: 'carrier-secret' });
    const port = await freePort();
    server = await startTestServer(
      suite.testDb,
      {
        ...world.env(),
        SEALPOST_HTTP_PORT: String(port),
        SEALPOST_PUBLIC_URL: `http://127.0.0.1:${port}`,
        SEALPOST_PORTAL_MAX_FAILURES: '4',
        SEALPOST_SMS_PROVIDER: 'twilio-compatible',
        SEALPOST_SMS_API_URL: carrier.url,
        SEALPOST_SMS_ACCOUNT: 'AC_test',
        SEALPOST_SMS_TOKEN: 'carrier-secret',
        SEALPOST_SMS_FROM: '+15550001111',
      },
      { roles: ['api', 'worker'] },
    );
    org = await server.createOrg('Portal Clinic');
    await verifiedDomain(server, world.dns, org.api_key, 'clinic.test');
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await carrier?.close();
    await world?.close();
  });

  /** Sends a message that only the portal can carry, and returns it with the notice's link. */
  async function sendToPortal(address: string, extra: Record<string, unknown> = {}) {
    const receiver = address.endsWith('@notls.test') ? 'notls' : 'tls';
    const before = world.receiver(receiver).messages.length;
    const sent = await api('POST', '/v1/messages', {
      from: { name: 'Dr. Rivera', address: 'rivera@clinic.test' },
      to: [{ name: 'Dana Patient', address }],
      subject: `Your results ${MARKER}`,
      html: HTML,
      text: `Your A1c is 6.1%. ${MARKER}`,
      attachments: [
        {
          filename: 'résultats.pdf',
          content_type: 'application/pdf',
          content: ATTACHMENT.toString('base64'),
        },
      ],
      protection: 'portal',
      ...extra,
    });
    assert.equal(sent.status, 202, sent.text);
    const [recipient] = await settle<{ id: string; state: string }>(server, org.api_key, sent.body.id);
    assert.equal(recipient!.state, 'portal_notified');
    const messages = await world.waitForMessages(receiver, before + 1);
    const notice = await simpleParser(messages[before]!.raw);
    assert.doesNotMatch(notice.text ?? '', /results|A1c|Dana/, 'the notice holds no PHI');
    const link = /(http:\/\/127\.0\.0\.1:\d+\/secure\/[A-Za-z0-9_-]{43})/.exec(notice.text ?? '')?.[1];
    assert.ok(link, notice.text);
    return { messageId: sent.body.id as string, recipientId: recipient!.id, link, notice };
  }

  async function codeFrom(receiver: string, count: number): Promise<string> {
    const messages = await world.waitForMessages(receiver, count);
    const mail = await simpleParser(messages[count - 1]!.raw);
    const code = /\b(\d{6})\b/.exec(mail.text ?? '')?.[1];
    assert.ok(code, `a code in: ${mail.text}`);
    return code;
  }

  async function assertAccessible(page: Page, name: string) {
    const violations = await seriousViolations(page);
    assert.deepEqual(
      violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
      [],
      `axe on ${name}`,
    );
  }

  test('email code: read, download, reply with a file, and the sender sees it all', async () => {
    const inbox = await api('PATCH', '/v1/policies/secureline', { portal_inbox: 'frontdesk@clinic.test' });
    assert.equal(inbox.status, 200, inbox.text);
    const { messageId, recipientId, link } = await sendToPortal('dana@notls.test');
    // JavaScript off, on a phone: nothing in the portal needs script.
    const context = await newContext(browser, { javaScript: false, width: 360 });
    const page = await context.newPage();
    await page.goto(link);
    assert.equal(await page.title(), 'A secure message is waiting for you · Portal Clinic');
    assert.match((await page.textContent('main')) ?? '', /d••••@notls\.test/);
    await screenshot(page, 'portal-start-360');
    await assertAccessible(page, 'start');

    const noticeCount = world.receiver('notls').messages.length;
    await page.getByRole('button', { name: 'Email me a code' }).click();
    await page.waitForURL(/\/verify/);
    const code = await codeFrom('notls', noticeCount + 1);
    await assertAccessible(page, 'code');
    await screenshot(page, 'portal-code-360');
    await page.getByLabel('One-time code').fill(code);
    await page.getByRole('button', { name: 'Open the message' }).click();

    await page.getByRole('heading', { name: `Your results ${MARKER}` }).waitFor();
    const main = (await page.textContent('main')) ?? '';
    assert.match(main, /A1c is 6\.1%/);
    assert.doesNotMatch(await page.title(), /results|A1c/, 'no PHI in the title');
    assert.doesNotMatch(page.url(), /results|dana/i, 'no PHI in the URL');
    // The sanitiser: no script ran or survived, the link shows where it really goes, the pixel is held back.
    assert.equal(await page.locator('.body script').count(), 0);
    assert.match(main, /\(https:\/\/evil\.example\/login\)/);
    assert.match(main, /Remote images were blocked to protect your privacy \(1\)/);
    await screenshot(page, 'portal-message-360');
    await assertAccessible(page, 'message');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download résultats.pdf' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'résultats.pdf');
    assert.deepEqual(readFileSync((await download.path())!), ATTACHMENT);

    const clinicBefore = world.receiver('clinic').messages.length;
    await page.getByLabel('Your reply').fill(`Thank you, see you Tuesday. ${MARKER}`);
    await page.getByLabel('Attach files (optional)').setInputFiles({
      name: 'insurance-card.png',
      mimeType: 'image/png',
      buffer: Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'),
    });
    await page.getByRole('button', { name: 'Send secure reply' }).click();
    await page.getByText('Your secure reply was sent.').waitFor();

    // A new message to the organisation's portal inbox, when it has one.
    await page.getByRole('link', { name: 'Write a new secure message to Portal Clinic' }).click();
    await assertAccessible(page, 'new message');
    await page.getByLabel('Subject').fill('Question about my medication');
    await page.getByLabel('Your message').fill(`Can I take it with food? ${MARKER}`);
    await page.getByRole('button', { name: 'Send secure message' }).click();
    await page.getByText('Your secure message was sent to Portal Clinic.').waitFor();
    await context.close();

    // The reply went through SecureLine to the sender's own server, over verified TLS, threaded.
    // Two deliveries, in either order: the reply and the new message.
    const arrived = (await world.waitForMessages('clinic', clinicBefore + 2)).slice(clinicBefore);
    const parsed = await Promise.all(arrived.map((m) => simpleParser(m.raw)));
    const received = arrived[parsed.findIndex((m) => m.subject?.startsWith('Re: '))];
    const question = parsed.find((m) => m.subject === 'Question about my medication')!;
    assert.ok(received && question, parsed.map((m) => m.subject).join(', '));
    assert.equal(question.subject, 'Question about my medication');
    assert.equal(
      question.to && 'value' in question.to ? question.to.value[0]!.address : '',
      'frontdesk@clinic.test',
    );
    assert.equal(question.replyTo?.value[0]?.address, 'dana@notls.test');
    assert.ok(received!.tls, 'the reply travelled over TLS');
    const reply = await simpleParser(received!.raw);
    const original = await api('GET', `/v1/messages/${messageId}`);
    assert.equal(reply.inReplyTo, original.body.rfc_message_id);
    assert.equal(reply.subject, `Re: Your results ${MARKER}`);
    assert.match(reply.text ?? '', /see you Tuesday/);
    assert.equal(reply.replyTo?.value[0]?.address, 'dana@notls.test');
    assert.equal(reply.attachments[0]?.filename, 'insurance-card.png');

    // The read receipt, the download and the reply are on the message's record and in the audit trail.
    const portal = original.body.recipients[0].portal;
    assert.ok(portal.verified_at && portal.first_viewed_at, JSON.stringify(portal));
    assert.equal(portal.downloads, 1);
    assert.equal(portal.replies, 1);
    assert.equal(original.body.replies.length, 1);
    await server.app.flushAudit();
    const { rows } = await server.app.db.query<{ action: string }>(
      `SELECT action FROM audit_events WHERE org_id = $1 AND details->>'recipient_id' = $2 ORDER BY seq`,
      [org.org_id, recipientId],
    );
    const actions = rows.map((r) => r.action);
    for (const action of [
      'portal.code_requested',
      'portal.verified',
      'portal.viewed',
      'portal.downloaded',
      'portal.replied',
    ])
      assert.ok(actions.includes(action), `${action} in ${actions.join(', ')}`);
    world.assertNoViolations();
  });

  test('SMS code, in Spanish, on a desktop', async () => {
    const { link } = await sendToPortal('sofia@notls.test', {
      portal: { verification: 'sms', phones: { 'sofia@notls.test': '+1 (555) 010-4477' }, language: 'es' },
    });
    const context = await newContext(browser, { locale: 'es-ES' });
    const page = await context.newPage();
    await page.goto(link);
    assert.match((await page.textContent('main')) ?? '', /teléfono que termina en 77/);
    await page.getByRole('button', { name: 'Enviarme un código por SMS' }).click();
    await page.waitForURL(/\/verify/);
    const [text] = await carrier.waitFor(1, 10_000);
    assert.equal(text!.to, '+15550104477');
    assert.doesNotMatch(text!.body, /results|A1c|Dana|PHI/, 'no PHI in the SMS');
    const code = /\b(\d{6})\b/.exec(text!.body)![1]!;
    await page.getByLabel('Código de un solo uso').fill(code);
    await page.getByRole('button', { name: 'Abrir el mensaje' }).click();
    await page.getByRole('heading', { name: `Your results ${MARKER}` }).waitFor();
    assert.equal(await page.getAttribute('html', 'lang'), 'es');
    await screenshot(page, 'portal-message-es-desktop');
    await assertAccessible(page, 'message (es)');
    await context.close();
  });

  test('passphrase, then lockout after wrong answers, the sender alerted and able to unlock', async () => {
    const { messageId, recipientId, link } = await sendToPortal('lee@notls.test', {
      portal: { verification: 'passphrase', passphrase: 'blue heron at dawn' },
    });
    const context = await newContext(browser);
    const page = await context.newPage();
    await page.goto(link);
    await assertAccessible(page, 'passphrase');
    const clinicBefore = world.receiver('clinic').messages.length;
    for (const wrong of ['guess one', 'guess two', 'guess three']) {
      await page.getByLabel('Passphrase').fill(wrong);
      await page.getByRole('button', { name: 'Open the message' }).click();
      await page.getByText(/That passphrase is not right/).waitFor();
    }
    await page.getByLabel('Passphrase').fill('guess four');
    await page.getByRole('button', { name: 'Open the message' }).click();
    await page.getByRole('heading', { name: 'This message is locked' }).waitFor();
    await screenshot(page, 'portal-locked');
    // Even the right passphrase opens nothing now.
    await page.goto(link);
    await page.getByRole('heading', { name: 'This message is locked' }).waitFor();

    const alert = await simpleParser(
      (await world.waitForMessages('clinic', clinicBefore + 1))[clinicBefore]!.raw,
    );
    assert.match(alert.subject ?? '', /locked/);
    assert.match(alert.text ?? '', new RegExp(recipientId));
    assert.doesNotMatch(alert.text ?? '', /lee@notls/, 'the alert names ids, not the patient');

    const unlocked = await api('POST', `/v1/messages/${messageId}/recipients/${recipientId}/unlock`);
    assert.equal(unlocked.status, 200, unlocked.text);
    assert.equal(unlocked.body.unlocked, true);
    await page.goto(link);
    await page.getByLabel('Passphrase').fill('blue heron at dawn');
    await page.getByRole('button', { name: 'Open the message' }).click();
    await page.getByRole('heading', { name: `Your results ${MARKER}` }).waitFor();
    await context.close();
  });

  test('revocation reaches a tab already open; expiry closes the portal', async () => {
    const { messageId, link } = await sendToPortal('kim@notls.test', {
      portal: { verification: 'passphrase', passphrase: 'correct horse battery' },
    });
    const context = await newContext(browser);
    const page = await context.newPage();
    await page.goto(link);
    await page.getByLabel('Passphrase').fill('correct horse battery');
    await page.getByRole('button', { name: 'Open the message' }).click();
    await page.getByRole('heading', { name: `Your results ${MARKER}` }).waitFor();

    const revoked = await api('POST', `/v1/messages/${messageId}/revoke`, {});
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal(revoked.body.revoked.length, 1);
    // The open tab: the next click shows the withdrawal and nothing of the message.
    const [download] = [page.getByRole('link', { name: 'Download résultats.pdf' })];
    const response = await page.request.get(`${link}/attachments/0`);
    assert.equal(response.status(), 410);
    assert.doesNotMatch(await response.text(), new RegExp(MARKER));
    await page.reload();
    await page.getByRole('heading', { name: 'This message was withdrawn' }).waitFor();
    assert.doesNotMatch((await page.content()) ?? '', new RegExp(MARKER));
    assert.ok(download);
    const after = await api('GET', `/v1/messages/${messageId}`);
    assert.equal(after.body.recipients[0].state, 'revoked');

    // Expiry: a message whose time ran out says so, and the sweep marks the recipient expired.
    const second = await sendToPortal('ann@notls.test');
    await server.app.db.query(
      `UPDATE portal_deliveries SET expires_at = now() - interval '1 minute' WHERE org_id = $1 AND recipient_id = $2`,
      [org.org_id, second.recipientId],
    );
    await page.goto(second.link);
    await page.getByRole('heading', { name: 'This message has expired' }).waitFor();
    await assertAccessible(page, 'expired');
    // The sweep (this call, or the worker's own minute job if it came first) marks it expired.
    await server.app.expirePortal();
    const expired = await api('GET', `/v1/messages/${second.messageId}`);
    assert.equal(expired.body.recipients[0].state, 'expired');
    // The sender can give it more time.
    const extended = await api('PATCH', `/v1/messages/${second.messageId}/portal`, {
      expires_at: new Date(Date.now() + 86_400_000).toISOString(),
    });
    assert.equal(extended.status, 200, extended.text);
    await page.goto(second.link);
    await page.getByRole('button', { name: 'Email me a code' }).waitFor();
    await context.close();
  });
});
