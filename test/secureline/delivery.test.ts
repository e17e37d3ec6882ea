import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import type { InitResult } from '../../src/identity/index.ts';
import { tokenHash } from '../../src/portal/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { verifyDkimIndependently } from '../support/dkim-verify.ts';
import { gnupgHome, pgpKeyPair, run, scratchDir, smimeIdentity } from '../support/keys.ts';
import { type MailWorld, type ReceivedMessage, startMailWorld } from '../support/mail-world.ts';
import { settle as settleMessage, verifiedDomain } from '../support/sending.ts';

// SecureLine end to end: a message posted to the API reaches a local mail world over real SMTP,
// each recipient protected by the method it can take, and independent tools (gpg, openssl cms,
// Mail::DKIM) read what arrived.

const MARKER = 'PHI-MARKER-7731';
const TEXT = `Dear patient, your results are attached. DOB: 04/12/1961. Reference ${MARKER}.`;
const HTML = `<p>Dear patient, your results are attached.</p><p>DOB: 04/12/1961. Reference ${MARKER}.</p>`;
const ATTACHMENT = Buffer.concat([Buffer.from(`Lab report ${MARKER}\n`), Buffer.from([0, 1, 2, 255, 254])]);

interface Recipient {
  id: string;
  address: string;
  state: string;
  method: string | null;
  method_reason: string | null;
  mx: string | null;
  smtp_code: number | null;
  smtp_response: string | null;
  tls_version: string | null;
  tls_cipher: string | null;
  history: { outcome: string; method: string; detail: string | null; smtp_code: number | null }[];
}

describeEachDb('SecureLine delivery', (suite) => {
  let world: MailWorld;
  let server: TestServer;
  let org: InitResult;
  const pgp = pgpKeyPair({ email: 'pgp@tls.test' });
  const smime = smimeIdentity({ email: 'smime@tls.test' });

  const api = (method: string, path: string, body?: unknown) =>
    server.request(method, path, { token: org.api_key, body });

  const settle = (messageId: string) => settleMessage<Recipient>(server, org.api_key, messageId);
  const sentTo = (messages: ReceivedMessage[], address: string) => {
    const found = messages.filter((m) => m.to.includes(address));
    assert.equal(found.length, 1, `one message to ${address}`);
    return found[0]!;
  };

  before(async () => {
    world = await startMailWorld();
    world.forbidInClear(MARKER);
    server = await startTestServer(
      suite.testDb,
      {
        SEALPOST_DNS_SERVERS: world.dnsServer,
        SEALPOST_DELIVERY_PORT: String(world.port),
        SEALPOST_EXTRA_CA_FILE: world.writeCaFile(),
        SEALPOST_MAIL_HOSTNAME: 'mail.sealpost.test',
        SEALPOST_PUBLIC_URL: 'https://secure.sealpost.test',
        SEALPOST_DELIVERY_RETRY_SECONDS: '1',
        SEALPOST_METRICS_TOKEN: 'delivery-metrics-scraper',
      },
      { roles: ['api', 'worker'] },
    );
    org = await server.createOrg('Delivery Clinic');
    await verifiedDomain(server, world.dns, org.api_key, 'clinic.test');
    for (const [address, key] of [
      ['pgp@tls.test', (await pgp).publicKey],
      ['smime@tls.test', (await smime).certificate],
    ] as const) {
      const res = await api('POST', '/v1/recipient-keys', { address, key });
      assert.equal(res.status, 201, res.text);
    }
  });
  after(async () => {
    await server.close();
    await world.close();
  });

  test('each recipient gets the best method for the right reason, and nothing protected travels in clear', async () => {
    world.reset();
    const res = await api('POST', '/v1/messages', {
      from: { name: 'Clinic Care Team', address: 'care@clinic.test' },
      to: ['tls@tls.test', 'pgp@tls.test', 'smime@tls.test'],
      cc: ['plain@notls.test', 'wrong@badcert.test'],
      subject: 'Your lab results',
      text: TEXT,
      html: HTML,
      attachments: [
        {
          filename: 'report.bin',
          content: ATTACHMENT.toString('base64'),
          content_type: 'application/octet-stream',
        },
      ],
    });
    assert.equal(res.status, 202, res.text);
    const recipients = await settle(res.body.id);
    const by = new Map(recipients.map((r) => [r.address, r]));

    const tlsR = by.get('tls@tls.test')!;
    assert.equal(tlsR.state, 'delivered');
    assert.equal(tlsR.method, 'tls');
    assert.match(tlsR.method_reason!, /enforced TLS/);
    assert.equal(tlsR.mx, 'mx.tls.test');
    assert.match(tlsR.tls_version!, /^TLSv1\.[23]$/);
    assert.ok(tlsR.tls_cipher);
    assert.match(tlsR.smtp_response!, /^250/);
    assert.equal(by.get('pgp@tls.test')!.method, 'pgp');
    assert.match(by.get('pgp@tls.test')!.method_reason!, new RegExp((await pgp).fingerprint, 'i'));
    assert.equal(by.get('smime@tls.test')!.method, 'smime');
    assert.equal(by.get('pgp@tls.test')!.state, 'delivered');
    assert.equal(by.get('smime@tls.test')!.state, 'delivered');

    const plain = by.get('plain@notls.test')!;
    assert.equal(plain.state, 'portal_notified');
    assert.equal(plain.method, 'portal');
    assert.match(plain.method_reason!, /enforced TLS failed: .*STARTTLS/i);
    assert.deepEqual(
      plain.history.map((h) => `${h.method}:${h.outcome}`),
      ['tls:tls_failed', 'portal:delivered'],
    );
    const wrong = by.get('wrong@badcert.test')!;
    assert.equal(wrong.state, 'portal_notified');
    assert.match(wrong.method_reason!, /enforced TLS failed: .*certificate/i);

    // What the receivers got: plaintext only over verified TLS, ciphertext that the recipient's
    // own tools open, and notices with nothing but a link.
    const atTls = world.receiver('tls').messages;
    const clear = sentTo(atTls, 'tls@tls.test');
    assert.ok(clear.tls, 'over TLS');
    const parsed = await simpleParser(clear.raw);
    assert.equal(parsed.subject, 'Your lab results');
    assert.equal(parsed.text?.trim(), TEXT);
    assert.ok(parsed.attachments[0]!.content.equals(ATTACHMENT));
    assert.ok(!parsed.headers.has('bcc'));

    const pgpRaw = sentTo(atTls, 'pgp@tls.test').raw;
    assert.ok(!pgpRaw.includes(MARKER) && !pgpRaw.includes('Your lab results'), 'nothing readable outside');
    assert.match(pgpRaw.toString(), /multipart\/encrypted; protocol="application\/pgp-encrypted"/);
    const home = await gnupgHome([(await pgp).privateKey]);
    try {
      const armored = /-----BEGIN PGP MESSAGE-----[\s\S]+?-----END PGP MESSAGE-----/.exec(
        pgpRaw.toString(),
      )![0];
      const decrypted = await home.gpg(['--decrypt'], armored);
      assert.equal(decrypted.code, 0, decrypted.stderr);
      const inner = await simpleParser(decrypted.stdout);
      assert.equal(inner.text?.trim(), TEXT);
      assert.ok(inner.attachments[0]!.content.equals(ATTACHMENT));
    } finally {
      await home.dispose();
    }

    const smimeRaw = sentTo(atTls, 'smime@tls.test').raw;
    assert.ok(!smimeRaw.includes(MARKER));
    assert.match(smimeRaw.toString(), /application\/pkcs7-mime; smime-type=authEnveloped-data/);
    const scratch = scratchDir();
    try {
      const identity = await smime;
      const decrypted = await run(
        'openssl',
        [
          'cms',
          '-decrypt',
          '-inform',
          'SMIME',
          '-recip',
          scratch.write('c.pem', identity.certificate),
          '-inkey',
          scratch.write('k.pem', identity.privateKey),
        ],
        smimeRaw,
      );
      assert.equal(decrypted.code, 0, decrypted.stderr);
      const inner = await simpleParser(decrypted.stdout);
      assert.equal(inner.text?.trim(), TEXT);
      assert.ok(inner.attachments[0]!.content.equals(ATTACHMENT));
    } finally {
      scratch.dispose();
    }

    for (const [receiver, address] of [
      ['notls', 'plain@notls.test'],
      ['badcert', 'wrong@badcert.test'],
    ] as const) {
      const notice = sentTo(world.receiver(receiver).messages, address);
      const parsedNotice = await simpleParser(notice.raw);
      const text = `${notice.raw.toString()}${parsedNotice.text}${parsedNotice.html}`;
      assert.ok(!text.includes(MARKER) && !text.includes('Your lab results') && !text.includes('1961'));
      const link = /https:\/\/secure\.sealpost\.test\/secure\/([A-Za-z0-9_-]{43})/.exec(parsedNotice.text!);
      assert.ok(link, 'the notice carries the portal link');
      const stored = await suite.db.query(
        'SELECT 1 FROM portal_deliveries WHERE org_id = $1 AND token_hash = $2',
        [org.org_id, tokenHash(link[1]!)],
      );
      assert.equal(stored.rows.length, 1);
      assert.equal(parsedNotice.subject, 'Secure message from Delivery Clinic');
    }
    world.assertNoViolations();

    // Every message leaves DKIM-signed by the From domain, RSA (checked by Mail::DKIM) and Ed25519.
    for (const m of [
      clear,
      sentTo(atTls, 'pgp@tls.test'),
      sentTo(world.receiver('notls').messages, 'plain@notls.test'),
    ]) {
      const independent = await verifyDkimIndependently(m.raw, world.dnsServer);
      assert.ok(
        independent.some(
          (r) => r.algorithm === 'rsa-sha256' && r.domain === 'clinic.test' && r.result === 'pass',
        ),
        JSON.stringify(independent),
      );
      const ours = await dkimVerify(m.raw, { resolver: dnsTxt(world) });
      const algorithms = ours.results.filter((r) => r.status.result === 'pass').map((r) => r.algo);
      assert.deepEqual(algorithms.sort(), ['ed25519-sha256', 'rsa-sha256']);
    }

    await server.app.flushAudit();
    const audit = await suite.db.query<{ action: string }>(
      'SELECT action FROM audit_events WHERE org_id = $1 AND object_id = $2 ORDER BY seq',
      [org.org_id, res.body.id],
    );
    const actions = audit.rows.map((r) => r.action);
    assert.equal(actions[0], 'message.queued');
    assert.equal(actions.filter((a) => a === 'message.delivered').length, 3);
    assert.equal(actions.filter((a) => a === 'message.portal_notified').length, 2);

    const metrics = (await server.request('GET', '/metrics', { token: 'delivery-metrics-scraper' })).text;
    assert.match(metrics, /sealpost_delivery_attempts_total\{method="tls",outcome="tls_failed"\} 2/);
    assert.match(metrics, /sealpost_delivery_attempts_total\{method="portal",outcome="delivered"\} 2/);
    assert.match(metrics, /sealpost_delivery_attempts_total\{method="pgp",outcome="delivered"\} 1/);
  });

  test('a deferring server is retried with growing waits until it accepts', async () => {
    world.reset();
    world.setFlaky(2);
    const res = await api('POST', '/v1/messages', {
      from: 'care@clinic.test',
      to: ['later@flaky.test'],
      subject: 'Appointment',
      text: 'See you on Monday.',
    });
    const [r] = await settle(res.body.id);
    assert.equal(r!.state, 'delivered');
    assert.deepEqual(
      r!.history.map((h) => h.outcome),
      ['deferred', 'deferred', 'delivered'],
    );
    assert.equal(r!.history[0]!.smtp_code, 451);
    assert.equal(world.receiver('flaky').messages.length, 1);
  });

  test('a recipient still deferred when the delivery lifetime runs out bounces, without suppression', async () => {
    world.reset();
    world.setFlaky(5);
    const res = await api('POST', '/v1/messages', {
      from: 'care@clinic.test',
      to: ['patient@flaky.test'],
      subject: 'Appointment',
      text: 'See you on Monday.',
      send_at: new Date(Date.now() + 1500).toISOString(),
    });
    assert.equal(res.status, 202, res.text);
    // Accepted long ago, as far as the lifetime is concerned.
    await suite.db.query(
      "UPDATE messages SET created_at = created_at - interval '200 hours' WHERE org_id = $1 AND message_id = $2",
      [org.org_id, res.body.id],
    );
    const [r] = await settle(res.body.id);
    assert.equal(r!.state, 'bounced');
    assert.equal(r!.history.length, 1);
    assert.match(r!.history[0]!.detail!, /gave up after 120 hours of deferrals/);
    const suppressed = await api('GET', '/v1/suppressions?address=patient@flaky.test');
    assert.deepEqual(suppressed.body.data, []);
  });

  test('a permanent refusal bounces at once and suppresses the address', async () => {
    world.reset();
    const res = await api('POST', '/v1/messages', {
      from: 'care@clinic.test',
      to: ['nobody@reject.test'],
      subject: 'Appointment',
      text: 'See you on Monday.',
    });
    const [r] = await settle(res.body.id);
    assert.equal(r!.state, 'bounced');
    assert.equal(r!.smtp_code, 550);
    assert.equal(r!.history.length, 1);
    const again = await api('POST', '/v1/messages', {
      from: 'care@clinic.test',
      to: ['nobody@reject.test'],
      subject: 'Appointment',
      text: 'See you on Monday.',
    });
    assert.equal(again.status, 422);
    assert.equal(again.body.code, 'recipients_suppressed');
  });

  test('protection "portal" and "e2e" keep PHI off the wire even where TLS works', async () => {
    world.reset();
    const portal = await api('POST', '/v1/messages', {
      from: 'care@clinic.test',
      to: ['tls@tls.test'],
      subject: 'Results',
      text: TEXT,
      protection: 'portal',
    });
    const e2e = await api('POST', '/v1/messages', {
      from: 'care@clinic.test',
      to: ['other@tls.test', 'pgp@tls.test'],
      subject: 'Results',
      text: TEXT,
      protection: 'e2e',
    });
    const [p] = await settle(portal.body.id);
    assert.equal(p!.method, 'portal');
    assert.match(p!.method_reason!, /sender asked for the portal/);
    const byAddress = new Map((await settle(e2e.body.id)).map((r) => [r.address, r]));
    assert.equal(byAddress.get('other@tls.test')!.method, 'portal');
    assert.equal(byAddress.get('pgp@tls.test')!.method, 'pgp');
    for (const m of world.receiver('tls').messages) assert.ok(!m.raw.includes(MARKER));
  });
});

/** A TXT resolver for mailauth that asks the mail world's DNS. */
function dnsTxt(world: MailWorld) {
  return async (name: string, type: string) => {
    const { Resolver } = await import('node:dns/promises');
    const resolver = new Resolver();
    resolver.setServers([world.dnsServer]);
    if (type !== 'TXT') throw Object.assign(new Error('not supported'), { code: 'ENOTFOUND' });
    return resolver.resolveTxt(name);
  };
}
