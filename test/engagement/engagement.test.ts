import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { simpleParser } from 'mailparser';
import type { InitResult } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { verifyDkimIndependently } from '../support/dkim-verify.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';
import { settle, verifiedDomain } from '../support/sending.ts';

// Tracked mail end to end: links that count clicks without carrying their destination, an open
// pixel only when asked for, the RFC 8058 one-click unsubscribe that holds back marketing mail
// only, and bounces and complaints handed in after delivery.

const DESTINATION = 'https://results.example/view?mrn=5551234';
const HTML = `<html><body><p>Your results are ready.</p>
<p><a href="${DESTINATION.replace('&', '&amp;')}">View results</a> or <a href='https://clinic.example/faq'>read the FAQ</a>
or write to <a href="mailto:care@clinic.test">us</a>.</p></body></html>`;

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

function dsn(input: { to: string; recipient: string; action: string; status: string; messageId: string }) {
  return [
    'From: Mail Delivery System <MAILER-DAEMON@mx.tls.test>',
    `To: ${input.to}`,
    'Subject: Undelivered Mail Returned to Sender',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
    '',
    '--B',
    'Content-Type: text/plain',
    '',
    'The mail system could not deliver your message.',
    '--B',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.tls.test',
    '',
    `Final-Recipient: rfc822; ${input.recipient}`,
    `Action: ${input.action}`,
    `Status: ${input.status}`,
    `Diagnostic-Code: smtp; 550 ${input.status} mailbox
 unavailable`,
    '',
    '--B',
    'Content-Type: text/rfc822-headers',
    '',
    `Message-ID: ${input.messageId}`,
    `To: ${input.recipient}`,
    '',
    '--B--',
    '',
  ].join('\r\n');
}

function arf(input: { recipient: string; messageId: string }) {
  return [
    'From: abuse@mailbox.example',
    'To: abuse@clinic.test',
    'Subject: Complaint',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=feedback-report; boundary="F"',
    '',
    '--F',
    'Content-Type: text/plain',
    '',
    'This is an email abuse report.',
    '--F',
    'Content-Type: message/feedback-report',
    '',
    'Feedback-Type: abuse',
    'User-Agent: Mailbox/1.0',
    'Version: 1',
    `Original-Rcpt-To: ${input.recipient}`,
    '',
    '--F',
    'Content-Type: text/rfc822-headers',
    '',
    `Message-ID: ${input.messageId}`,
    `To: ${input.recipient}`,
    '',
    '--F--',
    '',
  ].join('\r\n');
}

describeEachDb('engagement and feedback', (suite) => {
  let world: MailWorld;
  let server: TestServer;
  let org: InitResult;
  let other: InitResult;
  const api = (method: string, path: string, body?: unknown, token = org.api_key) =>
    server.request(method, path, { token, body });

  before(async () => {
    world = await startMailWorld();
    const port = await freePort();
    server = await startTestServer(
      suite.testDb,
      { ...world.env(), SEALPOST_HTTP_PORT: String(port), SEALPOST_PUBLIC_URL: `http://127.0.0.1:${port}` },
      { roles: ['api', 'worker'] },
    );
    org = await server.createOrg('Engaged Clinic');
    other = await server.createOrg('Other Clinic');
    await verifiedDomain(server, world.dns, org.api_key, 'clinic.test');
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  async function send(to: string, extra: Record<string, unknown>) {
    const receiver = to.endsWith('@notls.test') ? 'notls' : 'tls';
    const before = world.receiver(receiver).messages.length;
    const sent = await api('POST', '/v1/messages', {
      from: 'news@clinic.test',
      to: [to],
      subject: 'Flu shots are here',
      html: HTML,
      text: 'Flu shots are here.',
      ...extra,
    });
    assert.equal(sent.status, 202, sent.text);
    const [recipient] = await settle<{ id: string; state: string }>(server, org.api_key, sent.body.id);
    const received = (await world.waitForMessages(receiver, before + 1))[before]!;
    return {
      id: sent.body.id as string,
      recipient: recipient!,
      received,
      mail: await simpleParser(received.raw),
    };
  }

  test('clicks and opens are counted through signed links that never carry the destination', async () => {
    const { id, recipient, received, mail } = await send('fan@tls.test', {
      tracking: { clicks: true, opens: true },
    });
    assert.equal(recipient.state, 'delivered');
    const raw = received.raw.toString();
    assert.ok(!raw.includes('results.example'), 'the destination is not in the mail');
    const links = [
      ...String(mail.html).matchAll(/href="(http:\/\/127\.0\.0\.1:\d+\/t\/c\/[A-Za-z0-9_-]+)"/g),
    ].map((m) => m[1]!);
    assert.equal(links.length, 2, String(mail.html));
    assert.match(String(mail.html), /href="mailto:care@clinic\.test"/, 'mailto links are left alone');
    const pixel = /src="(http:\/\/127\.0\.0\.1:\d+\/t\/o\/[A-Za-z0-9_-]+)"/.exec(String(mail.html))![1]!;
    const rsa = (await verifyDkimIndependently(received.raw, world.dnsServer)).find(
      (r) => r.algorithm === 'rsa-sha256',
    );
    assert.equal(rsa?.result, 'pass', 'the rewritten message is what was signed');

    const click = await fetch(links[0]!, { redirect: 'manual' });
    assert.equal(click.status, 302);
    assert.equal(click.headers.get('location'), DESTINATION);
    const second = await fetch(links[1]!, { redirect: 'manual' });
    assert.equal(second.headers.get('location'), 'https://clinic.example/faq');
    const open = await fetch(pixel);
    assert.equal(open.headers.get('content-type'), 'image/gif');

    // A changed byte, a token of another kind, or a made-up one: refused, and nothing recorded.
    const token = links[0]!.split('/t/c/')[1]!;
    const flipped = token.slice(0, 30) + (token[30] === 'A' ? 'B' : 'A') + token.slice(31);
    for (const bad of [`/t/c/${flipped}`, `/t/c/${pixel.split('/t/o/')[1]}`, '/t/c/nonsense']) {
      const res = await fetch(`${server.url}${bad}`, { redirect: 'manual' });
      assert.equal(res.status, 404, bad);
      assert.equal(res.headers.get('location'), null);
    }

    await server.app.flushAudit();
    const { rows } = await server.app.db.query<{ action: string; details: Record<string, unknown> }>(
      `SELECT action, details FROM audit_events WHERE org_id = $1 AND object_id = $2 AND action IN ('link.clicked', 'message.opened') ORDER BY seq`,
      [org.org_id, id],
    );
    assert.deepEqual(
      rows.map((r) => [r.action, r.details.link ?? null]),
      [
        ['link.clicked', 0],
        ['link.clicked', 1],
        ['message.opened', null],
      ],
    );
    assert.ok(!JSON.stringify(rows).includes('results.example'), 'the audit trail holds no destination');
  });

  test('no tracking unless asked for, and never in a portal notice', async () => {
    const plain = await send('quiet@tls.test', {});
    assert.doesNotMatch(plain.received.raw.toString(), /\/t\/[co]\//);
    const notice = await send('portal@notls.test', { tracking: { clicks: true, opens: true } });
    assert.equal(notice.recipient.state, 'portal_notified');
    assert.doesNotMatch(notice.received.raw.toString(), /\/t\/[co]\//);
  });

  test('one-click unsubscribe holds back marketing mail, and only marketing mail', async () => {
    const { mail, received } = await send('reader@tls.test', { marketing: true });
    const url = /^List-Unsubscribe:\s*<([^>]+)>/im.exec(received.raw.toString())![1]!;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/u\/[A-Za-z0-9_-]+$/);
    assert.match(received.raw.toString(), /^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m);
    assert.match(String(mail.text), /Unsubscribe: http/);
    // Both headers are covered by the DKIM signature, as RFC 8058 requires.
    const signature = received.raw
      .toString()
      .split(/\r?\n(?=\S)/)
      .find((h) => h.startsWith('DKIM-Signature'))!;
    const signed = /h=([^;]*)/.exec(signature.replace(/\s+/g, ''))![1]!.toLowerCase().split(':');
    assert.ok(
      signed.includes('list-unsubscribe') && signed.includes('list-unsubscribe-post'),
      signed.join(':'),
    );

    // The GET shows a button and changes nothing (link scanners follow links).
    const page = await fetch(url);
    assert.match(await page.text(), /<button type="submit">Unsubscribe<\/button>/);
    assert.equal((await api('GET', '/v1/suppressions')).body.data.length, 0);
    const oneClick = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    assert.equal(oneClick.status, 200);
    const suppressions = (await api('GET', '/v1/suppressions')).body.data;
    assert.deepEqual(
      suppressions.map((s: { address: string; reason: string }) => [s.address, s.reason]),
      [['reader@tls.test', 'unsubscribe']],
    );

    const marketing = await api('POST', '/v1/messages', {
      from: 'news@clinic.test',
      to: ['reader@tls.test'],
      subject: 'More news',
      text: 'News',
      marketing: true,
    });
    assert.equal(marketing.status, 422);
    assert.equal(marketing.body.code, 'recipients_suppressed');
    const care = await api('POST', '/v1/messages', {
      from: 'care@clinic.test',
      to: ['reader@tls.test'],
      subject: 'Your results',
      text: 'Your results are ready.',
    });
    assert.equal(care.status, 202, 'care mail still reaches someone who unsubscribed from marketing');
  });

  test('a late bounce (DSN) and a complaint (ARF) are applied to the right recipient, in the right tenant only', async () => {
    const bounced = await send('gone@tls.test', {});
    const message = await api('GET', `/v1/messages/${bounced.id}`);
    const report = dsn({
      to: `bounces+${bounced.recipient.id}@clinic.test`,
      recipient: 'gone@tls.test',
      action: 'failed',
      status: '5.1.1',
      messageId: message.body.rfc_message_id,
    });
    const raw = Buffer.from(report).toString('base64');

    const elsewhere = await api('POST', '/v1/inbound/reports', { raw }, other.api_key);
    assert.equal(elsewhere.status, 200, elsewhere.text);
    assert.deepEqual(elsewhere.body.recipients, [], "another tenant's report touches nothing");

    const applied = await api('POST', '/v1/inbound/reports', { raw });
    assert.equal(applied.status, 200, applied.text);
    assert.deepEqual(applied.body, {
      kind: 'dsn',
      recipients: [{ recipient_id: bounced.recipient.id, message_id: bounced.id, outcome: 'bounced' }],
    });
    const after = (await api('GET', `/v1/messages/${bounced.id}`)).body.recipients[0];
    assert.equal(after.state, 'bounced');
    assert.equal(after.smtp_code, 550);
    const suppressions = (await api('GET', '/v1/suppressions')).body.data as {
      address: string;
      reason: string;
    }[];
    assert.ok(suppressions.some((s) => s.address === 'gone@tls.test' && s.reason === 'hard_bounce'));

    // A complaint, found by the quoted Message-ID and address (no VERP address in an ARF report).
    const complained = await send('angry@tls.test', {});
    const complainedMessage = await api('GET', `/v1/messages/${complained.id}`);
    const complaint = await api('POST', '/v1/inbound/reports', {
      raw: Buffer.from(
        arf({ recipient: 'angry@tls.test', messageId: complainedMessage.body.rfc_message_id }),
      ).toString('base64'),
    });
    assert.equal(complaint.body.recipients[0].outcome, 'complained');
    const all = (await api('GET', '/v1/suppressions')).body.data as { address: string; reason: string }[];
    assert.ok(all.some((s) => s.address === 'angry@tls.test' && s.reason === 'complaint'));
    await server.app.flushAudit();
    const { rows } = await server.app.db.query<{ action: string }>(
      `SELECT action FROM audit_events WHERE org_id = $1 AND action IN ('message.complained', 'message.bounced') ORDER BY seq`,
      [org.org_id],
    );
    assert.deepEqual(
      rows.map((r) => r.action),
      ['message.bounced', 'message.complained'],
    );

    const junk = await api('POST', '/v1/inbound/reports', {
      raw: Buffer.from('Subject: hello\r\n\r\nnot a report').toString('base64'),
    });
    assert.equal(junk.status, 422);
  });
});
