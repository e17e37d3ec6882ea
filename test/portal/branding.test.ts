import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { simpleParser } from 'mailparser';
import type { InitResult } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';
import { settle, verifiedDomain } from '../support/sending.ts';

// What recipients see of the sender: the organisation's name, colour and logo in the notice and
// the portal, and the subject in the notice only when policy allows it and DLP found no PHI there.

const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
    '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082',
  'hex',
);

describeEachDb('portal branding and notices', (suite) => {
  let world: MailWorld;
  let server: TestServer;
  let org: InitResult;
  const api = (method: string, path: string, body?: unknown) =>
    server.request(method, path, { token: org.api_key, body });

  before(async () => {
    world = await startMailWorld();
    server = await startTestServer(suite.testDb, world.env(), { roles: ['api', 'worker'] });
    org = await server.createOrg('Branded Clinic');
    await verifiedDomain(server, world.dns, org.api_key, 'clinic.test');
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  async function notice(subject: string) {
    const before = world.receiver('notls').messages.length;
    const sent = await api('POST', '/v1/messages', {
      from: 'care@clinic.test',
      to: ['pat@notls.test'],
      subject,
      text: 'Please read this.',
    });
    assert.equal(sent.status, 202, sent.text);
    await settle(server, org.api_key, sent.body.id);
    return simpleParser((await world.waitForMessages('notls', before + 1))[before]!.raw);
  }

  test('the logo and colour are checked, stored, and shown in the notice and the portal', async () => {
    for (const [logo, reason] of [
      [
        { content_type: 'image/png', content: Buffer.from('<svg onload="alert(1)"/>').toString('base64') },
        /not a image\/png/,
      ],
      [{ content_type: 'image/svg+xml', content: Buffer.from('<svg/>').toString('base64') }, /./],
      [{ content_type: 'image/png', content: Buffer.alloc(300_000, 1).toString('base64') }, /at most|bytes/],
    ] as const) {
      const res = await api('PUT', '/v1/branding', { logo });
      assert.ok(res.status === 422 || res.status === 400, `${res.status} ${res.text}`);
      assert.match(res.body.detail ?? JSON.stringify(res.body), reason);
    }
    const set = await api('PUT', '/v1/branding', {
      display_name: 'Riverside Family Care',
      color: '#FFD500',
      logo: { content_type: 'image/png', content: PNG.toString('base64') },
    });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual(set.body, {
      display_name: 'Riverside Family Care',
      color: '#ffd500',
      logo: { content_type: 'image/png', size: PNG.length },
    });

    const mail = await notice('Appointment reminder');
    assert.equal(
      mail.subject,
      'Secure message from Riverside Family Care',
      'no subject unless policy allows it',
    );
    assert.equal(mail.from?.value[0]?.name, 'Riverside Family Care');
    // A light brand colour gets dark text on the button (contrast), and the logo is served under the link.
    assert.match(String(mail.html), /background:#ffd500;color:#000000/);
    const link = /http:\/\/\S+\/secure\/[A-Za-z0-9_-]{43}/.exec(mail.text!)![0];
    const path = new URL(link).pathname;
    assert.ok(String(mail.html).includes(`${link}/logo`));
    const logo = await fetch(`${server.url}${path}/logo`);
    assert.equal(logo.headers.get('content-type'), 'image/png');
    assert.deepEqual(Buffer.from(await logo.arrayBuffer()), PNG);
    const css = await (await fetch(`${server.url}${path}/brand.css`)).text();
    assert.match(css, /--brand: #ffd500; --brand-text: #000000/);
    const page = await (await fetch(`${server.url}${path}`)).text();
    assert.match(page, /Riverside Family Care/);
    assert.match(page, /<img src="\/secure\/[A-Za-z0-9_-]{43}\/logo" alt="Riverside Family Care logo"/);

    const cleared = await api('PUT', '/v1/branding', { logo: null, color: null });
    assert.equal(cleared.body.logo, null);
    assert.equal(cleared.body.display_name, 'Riverside Family Care', 'fields left out keep their value');
    assert.equal((await fetch(`${server.url}${path}/logo`)).status, 404);
  });

  test('a subject in the notice only when policy allows it and it holds no PHI', async () => {
    const policy = await api('PATCH', '/v1/policies/secureline', { notice_subject: true });
    assert.equal(policy.status, 200, policy.text);
    assert.equal(
      (await notice('Appointment reminder')).subject,
      'Secure message from Riverside Family Care: Appointment reminder',
    );
    const withPhi = await notice('Results for MRN 5551234, DOB 04/12/1961');
    assert.equal(withPhi.subject, 'Secure message from Riverside Family Care');
    await api('PATCH', '/v1/policies/secureline', { notice_subject: false });
  });
});
