import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { simpleParser } from 'mailparser';
import * as openpgp from 'openpgp';
import type { InitResult } from '../../src/identity/index.ts';
import { wkdUrls } from '../../src/recipient-keys/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { gnupgHome, type PgpKeyPair, pgpKeyPair } from '../support/keys.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';
import { settle as settleMessage, verifiedDomain } from '../support/sending.ts';

// A recipient nobody uploaded a key for, whose domain publishes one in its Web Key Directory:
// SecureLine finds it at delivery, encrypts to it, and gpg opens what the recipient's server got.

const MARKER = 'PHI-MARKER-WKD-4410';
const TEXT = `Dear patient, your results are ready. Reference ${MARKER}.`;
/** The directory's own address on loopback, clear of the mail world's. */
const WKD_ADDRESS = '127.0.0.50';
/** Another directory, on a private address the operator has not allowed. */
const INSIDE_ADDRESS = '127.0.0.51';

interface Recipient {
  address: string;
  state: string;
  method: string | null;
  method_reason: string | null;
}

describeEachDb('SecureLine with a Web Key Directory', (suite) => {
  let world: MailWorld;
  let server: TestServer;
  let org: InitResult;
  let directory: Server;
  let inside: Server;
  let recipient: PgpKeyPair;
  /** The local parts the directory was asked for. */
  const asked: string[] = [];
  /** Requests the directory on the address not allowed received. */
  let insideRequests = 0;

  const api = (method: string, path: string, body?: unknown) =>
    server.request(method, path, { token: org.api_key, body });

  const settle = (messageId: string) => settleMessage<Recipient>(server, org.api_key, messageId);

  before(async () => {
    world = await startMailWorld();
    world.forbidInClear(MARKER);
    recipient = await pgpKeyPair({ email: 'wkd@tls.test' });

    // openpgpkey.tls.test publishes the key, in binary as the draft says.
    const url = wkdUrls('wkd@tls.test').advanced;
    const published = Buffer.from((await openpgp.readKey({ armoredKey: recipient.publicKey })).write());
    let port = 0;
    directory = createServer(await world.ca.issue(['openpgpkey.tls.test']), (req, res) => {
      asked.push(new URL(req.url ?? '/', 'https://x').searchParams.get('l') ?? '');
      if (req.headers.host === `${url.hostname}:${port}` && req.url === url.pathname + url.search)
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(published);
      else res.writeHead(404).end();
    });
    await new Promise<void>((done) => directory.listen(0, WKD_ADDRESS, done));
    world.dns.setA('openpgpkey.tls.test', [WKD_ADDRESS]);
    // inside.test's directory publishes a key too, from an address inside the network.
    const insideKey = await pgpKeyPair({ email: 'wkd@inside.test' });
    const insidePublished = Buffer.from((await openpgp.readKey({ armoredKey: insideKey.publicKey })).write());
    inside = createServer(await world.ca.issue(['openpgpkey.inside.test']), (_req, res) => {
      insideRequests++;
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(insidePublished);
    });
    inside.on('connection', () => insideRequests++);
    port = (directory.address() as AddressInfo).port;
    await new Promise<void>((done) => inside.listen(port, INSIDE_ADDRESS, done));
    world.addDomain('inside.test', 'tls');
    world.dns.setA('openpgpkey.inside.test', [INSIDE_ADDRESS]);

    server = await startTestServer(
      suite.testDb,
      {
        ...world.env(),
        SEALPOST_MAIL_HOSTNAME: 'mail.sealpost.test',
        SEALPOST_PUBLIC_URL: 'https://secure.sealpost.test',
        SEALPOST_DELIVERY_RETRY_SECONDS: '1',
        // The operator allows the first directory's address, not the whole loopback range.
        SEALPOST_FETCH_PRIVATE_RANGES: `${WKD_ADDRESS}/32`,
      },
      { roles: ['api', 'worker'] },
    );
    // Directories listen on 443; these on whatever port they were given.
    server.app.keyFinder.port = port;
    org = await server.createOrg('WKD Clinic');
    await verifiedDomain(server, world.dns, org.api_key, 'clinic.test');
  });
  after(async () => {
    await server.close();
    for (const server of [directory, inside]) {
      server.closeAllConnections();
      server.close();
    }
    await world.close();
  });

  test("a key in the recipient's Web Key Directory makes it OpenPGP, found once and then kept", async () => {
    world.reset();
    asked.length = 0;
    const message = {
      from: { name: 'Clinic Care Team', address: 'care@clinic.test' },
      to: ['wkd@tls.test', 'tls@tls.test'],
      subject: 'Your lab results',
      text: TEXT,
    };
    const fingerprint = new RegExp(recipient.fingerprint, 'i');

    const preview = await api('POST', '/v1/messages/preview', message);
    assert.equal(preview.status, 200, preview.text);
    const previewed = new Map(
      (preview.body.recipients as { address: string; method: string; reason: string }[]).map((r) => [
        r.address,
        r,
      ]),
    );
    assert.equal(previewed.get('wkd@tls.test')!.method, 'pgp');
    assert.match(previewed.get('wkd@tls.test')!.reason, fingerprint);
    assert.match(previewed.get('wkd@tls.test')!.reason, /Web Key Directory/);
    assert.equal(previewed.get('tls@tls.test')!.method, 'tls');

    const res = await api('POST', '/v1/messages', message);
    assert.equal(res.status, 202, res.text);
    const by = new Map((await settle(res.body.id)).map((r) => [r.address, r]));
    const wkd = by.get('wkd@tls.test')!;
    assert.equal(wkd.state, 'delivered');
    assert.equal(wkd.method, 'pgp');
    assert.match(wkd.method_reason!, fingerprint);
    assert.match(wkd.method_reason!, /published in the recipient's Web Key Directory/);
    assert.equal(by.get('tls@tls.test')!.method, 'tls');
    // The preview's lookups were kept: delivery asked the directory nothing more.
    assert.deepEqual(asked.sort(), ['tls', 'wkd']);

    const [received] = (await world.waitForMessages('tls', 2)).filter((m) => m.to.includes('wkd@tls.test'));
    assert.ok(received?.tls, 'over TLS as well');
    const raw = received.raw.toString();
    assert.ok(!raw.includes(MARKER) && !raw.includes('Your lab results'), 'nothing readable outside');
    assert.match(raw, /multipart\/encrypted; protocol="application\/pgp-encrypted"/);
    const home = await gnupgHome([recipient.privateKey]);
    try {
      const armored = /-----BEGIN PGP MESSAGE-----[\s\S]+?-----END PGP MESSAGE-----/.exec(raw)![0];
      const decrypted = await home.gpg(['--decrypt'], armored);
      assert.equal(decrypted.code, 0, decrypted.stderr);
      const inner = await simpleParser(decrypted.stdout);
      assert.equal(inner.subject, 'Your lab results');
      assert.equal(inner.text?.trim(), TEXT);
    } finally {
      await home.dispose();
    }
    world.assertNoViolations();
  });

  test('a directory on a private address the operator did not allow is never contacted: TLS, and why is kept', async () => {
    world.reset();
    const res = await api('POST', '/v1/messages', {
      from: 'care@clinic.test',
      to: ['wkd@inside.test'],
      subject: 'Your lab results',
      text: TEXT,
    });
    assert.equal(res.status, 202, res.text);
    const [delivered] = await settle(res.body.id);
    assert.equal(delivered!.state, 'delivered');
    assert.equal(delivered!.method, 'tls');
    assert.equal(insideRequests, 0, 'not even a connection');
    const { rows } = await suite.db.query<{ outcome: string; reason: string }>(
      'SELECT outcome, reason FROM wkd_cache WHERE org_id = $1 AND address = $2',
      [org.org_id, 'wkd@inside.test'],
    );
    assert.equal(rows[0]?.outcome, 'none');
    assert.match(
      rows[0]!.reason,
      /^refused: The host openpgpkey\.inside\.test resolves to 127\.0\.0\.51, a private address/,
    );
  });
});
