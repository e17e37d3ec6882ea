import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as openpgp from 'openpgp';
import { simpleParser } from 'mailparser';
import { App } from '../../src/app/index.ts';
import { loadMasterKeys } from '../../src/crypto/index.ts';
import { type InitResult, ROLES } from '../../src/identity/index.ts';
import { setInstanceMode } from '../../src/sandbox/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { startTestDns, type TestDns } from '../support/dns.ts';
import { gnupgHome, pgpKeyPair, smimeIdentity } from '../support/keys.ts';
import { verifiedDomain } from '../support/sending.ts';
import { createTestCa } from '../support/test-ca.ts';

// Sandbox mode: the whole pipeline runs and the result is captured, never sent. There is no mail
// server anywhere in this test: a delivery attempt would fail, not pass.

interface Capture {
  id: string;
  recipient: string;
  method: string;
  method_reason: string;
  tls: string;
}

describeEachDb('sandbox mode', (suite) => {
  let dns: TestDns;
  let server: TestServer;
  let org: InitResult;
  /** A Web Key Directory on loopback, which a production server would ask (its range allowed). */
  let directory: Server;
  let directoryConnections = 0;
  let caDir: string;
  const pgp = pgpKeyPair({ email: 'pgp@tls.example.test' });
  const api = (method: string, path: string, body?: unknown) =>
    server.request(method, path, { token: org.api_key, body });

  before(async () => {
    dns = await startTestDns(); // for the sending domain's verification, and the directory below
    const ca = await createTestCa();
    caDir = mkdtempSync(join(tmpdir(), 'sealpost-ca-'));
    writeFileSync(join(caDir, 'ca.pem'), ca.certPem);
    const published = (
      await openpgp.readKey({ armoredKey: (await pgpKeyPair({ email: 'wkd@tls.example.test' })).publicKey })
    ).write();
    directory = createServer(await ca.issue(['openpgpkey.tls.example.test']), (_req, res) =>
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(published),
    );
    directory.on('connection', () => directoryConnections++);
    await new Promise<void>((done) => directory.listen(0, '127.0.0.52', done));
    dns.setA('openpgpkey.tls.example.test', ['127.0.0.52']);
    dns.setA('hooks.example.test', ['93.184.215.14']);
    server = await startTestServer(
      suite.testDb,
      {
        SEALPOST_MODE: 'sandbox',
        SEALPOST_DNS_SERVERS: dns.server,
        SEALPOST_DELIVERY_PORT: '9',
        SEALPOST_OUTBOUND_ADDRESSES: '127.0.0.1',
        SEALPOST_EXTRA_CA_FILE: join(caDir, 'ca.pem'),
        // Loopback is allowed, so only the sandbox rule keeps the directory unasked.
        SEALPOST_FETCH_PRIVATE_RANGES: '127.0.0.0/8',
      },
      { roles: ['api', 'worker'] },
    );
    server.app.keyFinder.port = (directory.address() as AddressInfo).port;
    org = await server.createOrg('Sandbox Clinic');
    await verifiedDomain(server, dns, org.api_key, 'clinic.test');
    await api('POST', '/v1/recipient-keys', { address: 'pgp@tls.example.test', key: (await pgp).publicKey });
    const smime = await smimeIdentity({ email: 'smime@tls.example.test' });
    await api('POST', '/v1/recipient-keys', { address: 'smime@tls.example.test', key: smime.certificate });
  });
  after(async () => {
    await server.close();
    await dns.close();
    directory.close();
    rmSync(caDir, { recursive: true, force: true });
  });

  test('every method runs and is captured as it would have left, with its reason; nothing is sent', async () => {
    const sent = await api('POST', '/v1/messages', {
      from: 'care@clinic.test',
      to: [
        'tls@tls.example.test',
        'pgp@tls.example.test',
        'smime@tls.example.test',
        'plain@notls.example.test',
        'broken@badcert.example.test',
      ],
      subject: 'Results',
      text: 'MRN: 5551234. Your results are ready.',
    });
    assert.equal(sent.status, 202, sent.text);
    // Done: every recipient's outcome recorded (a capture is kept a moment before its outcome).
    for (const until = Date.now() + 20_000; Date.now() < until;) {
      if ((await api('GET', `/v1/messages/${sent.body.id}`)).body.status === 'done') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const captures: Capture[] = (await api('GET', `/v1/sandbox/messages?message_id=${sent.body.id}`)).body
      .data;
    assert.equal(captures.length, 5);
    const by = new Map(captures.map((c) => [c.recipient, c]));
    assert.equal(by.get('tls@tls.example.test')?.method, 'tls');
    assert.equal(by.get('tls@tls.example.test')?.tls, 'TLSv1.3');
    assert.equal(by.get('pgp@tls.example.test')?.method, 'pgp');
    assert.equal(by.get('smime@tls.example.test')?.method, 'smime');
    assert.equal(by.get('plain@notls.example.test')?.method, 'portal');
    assert.match(by.get('plain@notls.example.test')!.method_reason, /offers no STARTTLS/);
    assert.match(by.get('broken@badcert.example.test')!.method_reason, /certificate .* is not valid/);

    const message = await api('GET', `/v1/messages/${sent.body.id}`);
    const states = message.body.recipients.map((r: { state: string }) => r.state);
    assert.deepEqual(states.sort(), [
      'delivered',
      'delivered',
      'delivered',
      'portal_notified',
      'portal_notified',
    ]);

    // The PGP capture is the ciphertext as sent: the recipient's own gpg opens it.
    const capture = await api('GET', `/v1/sandbox/messages/${by.get('pgp@tls.example.test')!.id}`);
    assert.match(capture.body.raw, /^DKIM-Signature: /);
    assert.ok(!capture.body.raw.includes('5551234'));
    const home = await gnupgHome([(await pgp).privateKey]);
    try {
      const armored = /-----BEGIN PGP MESSAGE-----[\s\S]+?-----END PGP MESSAGE-----/.exec(
        capture.body.raw,
      )![0];
      const decrypted = await home.gpg(['--decrypt'], armored);
      assert.equal(decrypted.code, 0, decrypted.stderr);
      assert.match((await simpleParser(decrypted.stdout)).text!, /MRN: 5551234/);
    } finally {
      await home.dispose();
    }
    // The notice in the capture carries the portal link.
    const notice = await api('GET', `/v1/sandbox/messages/${by.get('plain@notls.example.test')!.id}`);
    assert.match(
      (await simpleParser(Buffer.from(notice.body.raw, 'latin1'))).text!,
      /\/secure\/[A-Za-z0-9_-]{43}/,
    );

    const sealed = await suite.db.query<{ raw_sealed: Buffer }>(
      'SELECT raw_sealed FROM sandbox_captures WHERE org_id = $1',
      [org.org_id],
    );
    for (const row of sealed.rows)
      assert.ok(!row.raw_sealed.toString('latin1').includes('5551234'), 'sealed');
    const other = await server.createOrg('Other Clinic');
    const foreign = await server.request('GET', `/v1/sandbox/messages/${capture.body.id}`, {
      token: other.api_key,
    });
    assert.equal(foreign.status, 404);
  });

  test('nothing leaves the machine: no Web Key Directory is asked, and webhooks reach only loopback', async () => {
    const sent = await api('POST', '/v1/messages', {
      from: 'care@clinic.test',
      to: ['wkd@tls.example.test'],
      subject: 'Results',
      text: 'Your results are ready.',
    });
    assert.equal(sent.status, 202, sent.text);
    for (const until = Date.now() + 20_000; Date.now() < until;) {
      if ((await api('GET', `/v1/messages/${sent.body.id}`)).body.status === 'done') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const [capture] = (await api('GET', `/v1/sandbox/messages?message_id=${sent.body.id}`)).body.data;
    assert.equal(capture.method, 'tls', 'the published key was never looked up');
    assert.equal(directoryConnections, 0);

    const away = await api('POST', '/v1/webhooks', { url: 'https://hooks.example.test/in' });
    assert.equal(away.status, 422, away.text);
    assert.equal(away.body.code, 'webhook_url_forbidden');
    assert.match(away.body.detail, /in sandbox mode nothing leaves/);
    const here = await api('POST', '/v1/webhooks', { url: 'https://127.0.0.1:9/in' });
    assert.equal(here.status, 201, here.text);
  });

  test('staff mail is captured for those who manage users only, with its invitation link masked', async () => {
    const invited = await api('POST', '/v1/invitations', {
      email: 'new-admin@clinic.test',
      role: 'administrator',
    });
    assert.equal(invited.status, 201, invited.text);
    let staff: (Capture & { kind: string }) | undefined;
    for (const until = Date.now() + 20_000; !staff && Date.now() < until;) {
      const listed = await api('GET', '/v1/sandbox/messages');
      staff = listed.body.data.find((c: Capture) => c.recipient === 'new-admin@clinic.test');
      if (!staff) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(staff, 'the invitation was captured');

    // A sender reads the sandbox, but not the mail that would make them an administrator.
    const sender = await api('POST', '/v1/api-keys', { name: 'sender', scopes: [...ROLES.sender!] });
    assert.equal(sender.status, 201, sender.text);
    const asSender = (path: string) => server.request('GET', path, { token: sender.body.token });
    const listed = await asSender('/v1/sandbox/messages');
    assert.equal(listed.status, 200);
    assert.ok(listed.body.data.length > 0, 'other captures stay visible');
    assert.ok(!listed.body.data.some((c: Capture) => c.recipient === 'new-admin@clinic.test'));
    assert.equal((await asSender(`/v1/sandbox/messages/${staff.id}`)).status, 404);
    assert.equal(staff.kind, 'staff');

    // Whoever manages users sees that it left, never its link.
    const capture = await api('GET', `/v1/sandbox/messages/${staff.id}`);
    assert.equal(capture.status, 200);
    const parsed = await simpleParser(Buffer.from(capture.body.raw, 'latin1'));
    assert.match(parsed.subject!, /invit/i);
    for (const part of [parsed.text!, String(parsed.html), capture.body.raw.replace(/=\r\n/g, '')])
      assert.doesNotMatch(part, /\/console\/invite\/[A-Za-z0-9_-]{20,}/);
    assert.match(parsed.text!, /\[masked: a link that grants access\]/);
    assert.match(capture.body.raw, /^DKIM-Signature: /);
  });

  test('a message accepted in the sandbox is never delivered, even by a production worker after the switch', async () => {
    const sent = await api('POST', '/v1/messages', {
      from: 'care@clinic.test',
      to: ['later@tls.example.test'],
      subject: 'Later',
      text: 'Scheduled in the sandbox.',
      send_at: new Date(Date.now() + 1500).toISOString(),
    });
    assert.equal(sent.status, 202);
    assert.equal((await api('GET', `/v1/messages/${sent.body.id}`)).body.sandbox, true);
    await server.app.stopServices({ queueTimeoutMs: 2000 }); // the sandbox server goes away

    const config = { ...server.config, mode: 'production' as const };
    const production = await App.create(config, suite.db, loadMasterKeys(config));
    await assert.rejects(production.start(['worker']), /set up in sandbox mode/);
    await setInstanceMode(suite.db, 'production'); // what `sealpost mode production` does
    await production.start(['worker']);
    try {
      let recipient: { state: string; method_reason: string } | undefined;
      for (const until = Date.now() + 20_000; Date.now() < until;) {
        const { rows } = await suite.db.query<{ state: string; method_reason: string }>(
          'SELECT state, method_reason FROM message_recipients WHERE org_id = $1 AND message_id = $2',
          [org.org_id, sent.body.id],
        );
        recipient = rows[0];
        if (recipient?.state === 'failed') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(recipient!.state, 'failed');
      assert.match(recipient!.method_reason, /accepted in sandbox mode: captured only, never delivered/);
    } finally {
      await production.stopServices({ queueTimeoutMs: 2000 });
    }
  });
});
