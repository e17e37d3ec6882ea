import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { after, before, test } from 'node:test';
import * as openpgp from 'openpgp';
import type { InitResult } from '../../src/identity/index.ts';
import { findRecipientKeys } from '../../src/recipient-keys/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { pgpKeyPair, smimeIdentity } from '../support/keys.ts';

const DAY = 86_400_000;
const ADDRESS = 'patient@example.net';

const pemBase64 = (pem: string) => pem.replace(/-----[A-Z ]+-----|\s+/g, '');

/** Every key the tests upload, made once for both databases. */
async function makeKeys() {
  const [ecc, rsa, other, cert, derCert, subjectCert] = await Promise.all([
    pgpKeyPair(),
    pgpKeyPair({ type: 'rsa', rsaBits: 3072, keyExpirationTime: 365 * 86_400 }),
    pgpKeyPair({ email: 'someone-else@example.net' }),
    smimeIdentity(),
    smimeIdentity(),
    smimeIdentity({ addressIn: 'subject', keyUsage: null, extendedKeyUsage: null }),
  ]);
  const revokable = await pgpKeyPair();
  const unlocked = await openpgp.decryptKey({
    privateKey: await openpgp.readPrivateKey({ armoredKey: revokable.privateKey }),
    passphrase: revokable.passphrase,
  });
  const revoked = (await openpgp.revokeKey({ key: unlocked, format: 'armored' })).publicKey;
  const refused: [string, string, RegExp][] = [
    [
      'expired OpenPGP key',
      (await pgpKeyPair({ date: new Date(Date.now() - 3 * DAY), keyExpirationTime: 86_400 })).publicKey,
      /^The OpenPGP key expired on \d{4}-/,
    ],
    ['revoked OpenPGP key', revoked, /^The OpenPGP key is revoked\.$/],
    [
      'OpenPGP key for another address',
      other.publicKey,
      /No valid user ID of the OpenPGP key has the recipient address/,
    ],
    [
      'sign-only OpenPGP key',
      (await pgpKeyPair({ signOnly: true })).publicKey,
      /has no key that can encrypt now/,
    ],
    ['OpenPGP private key', ecc.privateKey, /This is a private key/],
    [
      'RSA-1024 OpenPGP key',
      (await pgpKeyPair({ type: 'rsa', rsaBits: 1024 })).publicKey,
      /RSA-1024 key; at least 2048 bits/,
    ],
    ['two OpenPGP keys in one block', `${ecc.publicKey}\n${rsa.publicKey}`, /holds 2 OpenPGP key blocks/],
    [
      'expired certificate',
      (
        await smimeIdentity({
          notBefore: new Date(Date.now() - 30 * DAY),
          notAfter: new Date(Date.now() - DAY),
        })
      ).certificate,
      /^The certificate expired on \d{4}-/,
    ],
    [
      'certificate for another address',
      (await smimeIdentity({ email: 'someone-else@example.net' })).certificate,
      /not for the recipient address/,
    ],
    [
      'RSA-1024 certificate',
      (await smimeIdentity({ rsaBits: 1024 })).certificate,
      /RSA-1024 key; at least 2048 bits/,
    ],
    ['EC certificate', (await smimeIdentity({ ec: true })).certificate, /has a ec key; .* needs an RSA key/],
    [
      'certificate without keyEncipherment',
      (await smimeIdentity({ keyUsage: 0x80 /* digitalSignature */ })).certificate,
      /key usage does not allow keyEncipherment/,
    ],
    [
      'certificate for TLS servers only',
      (await smimeIdentity({ extendedKeyUsage: ['1.3.6.1.5.5.7.3.1'] })).certificate,
      /extended key usage does not include emailProtection/,
    ],
    ['certificate and its key', `${cert.certificate}\n${cert.privateKey}`, /This is a private key/],
    ['PEM private key', cert.privateKey, /This is a private key/],
    ['base64 DER private key', pemBase64(cert.privateKey), /This is a private key/],
    ['CA certificate', cert.caCertificate, /CA certificate/],
    ['garbage', 'hello, here is my key', /neither an armored OpenPGP public key nor an X\.509 certificate/],
    ['base64 that is no certificate', 'aGVsbG8gd29ybGQ=', /not an X\.509 certificate/],
    [
      'broken armor',
      '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnonsense\n-----END PGP PUBLIC KEY BLOCK-----',
      /The OpenPGP key does not read/,
    ],
  ];
  return { ecc, rsa, cert, derCert, subjectCert, refused };
}

const keys = makeKeys();

describeEachDb('recipient keys', (suite) => {
  let server: TestServer;
  let a: InitResult;
  let b: InitResult;
  let k: Awaited<typeof keys>;

  before(async () => {
    k = await keys;
    server = await startTestServer(suite.testDb);
    a = await server.createOrg('Key Clinic');
    b = await server.createOrg('Other Practice');
  });
  after(() => server.close());

  const call = (method: string, path: string, body?: unknown, token = a.api_key) =>
    server.request(method, path, { token, body });
  const count = async () =>
    Number(
      (await suite.db.query('SELECT count(*) AS n FROM recipient_keys WHERE org_id = $1', [a.org_id]))
        .rows[0]!.n,
    );

  let eccId: string;

  test('a v4 ECC OpenPGP key is kept under the lower-cased address', async () => {
    const res = await call('POST', '/v1/recipient-keys', {
      address: ' Patient@Example.NET ',
      key: k.ecc.publicKey,
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.kind, 'pgp');
    assert.equal(res.body.address, ADDRESS);
    assert.equal(res.body.fingerprint, k.ecc.fingerprint);
    assert.equal(res.body.algorithm, 'ecdh-curve25519Legacy');
    assert.equal(res.body.expires_at, null);
    assert.match(res.body.id, /^[0-9a-f-]{36}$/);
    eccId = res.body.id;
  });

  test('an RSA OpenPGP key with an expiry, and S/MIME certificates in PEM, base64 DER and by subject emailAddress', async () => {
    const rsa = await call('POST', '/v1/recipient-keys', { address: ADDRESS, key: k.rsa.publicKey });
    assert.equal(rsa.status, 201, rsa.text);
    assert.equal(rsa.body.algorithm, 'rsa-3072');
    const expires = new Date(rsa.body.expires_at).getTime();
    assert.ok(Math.abs(expires - (Date.now() + 365 * DAY)) < 60_000, rsa.body.expires_at);

    const der = Buffer.from(pemBase64(k.cert.certificate), 'base64');
    const pem = await call('POST', '/v1/recipient-keys', { address: ADDRESS, key: k.cert.certificate });
    assert.equal(pem.status, 201, pem.text);
    assert.equal(pem.body.kind, 'smime');
    assert.equal(pem.body.algorithm, 'rsa-2048');
    assert.equal(pem.body.fingerprint, createHash('sha256').update(der).digest('hex'));
    assert.equal(
      new Date(pem.body.expires_at).getTime(),
      new X509Certificate(k.cert.certificate).validToDate.getTime(),
    );

    const b64 = await call('POST', '/v1/recipient-keys', {
      address: ADDRESS,
      key: pemBase64(k.derCert.certificate).replace(/.{64}/g, '$&\n'),
    });
    assert.equal(b64.status, 201, b64.text);
    assert.equal(b64.body.kind, 'smime');
    const subject = await call('POST', '/v1/recipient-keys', {
      address: ADDRESS,
      key: k.subjectCert.certificate,
    });
    assert.equal(subject.status, 201, subject.text);
  });

  test('the same key twice for one address is a conflict', async () => {
    const again = await call('POST', '/v1/recipient-keys', {
      address: 'PATIENT@example.net',
      key: k.ecc.publicKey,
    });
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'recipient_key_exists');
  });

  test('unusable keys are refused with a message saying what is wrong, and nothing is kept', async () => {
    const before = await count();
    for (const [what, key, reason] of k.refused) {
      const res = await call('POST', '/v1/recipient-keys', { address: ADDRESS, key });
      assert.equal(res.status, 422, `${what}: ${res.text}`);
      assert.match(res.headers.get('content-type')!, /^application\/problem\+json/);
      assert.equal(res.body.code, 'validation_failed', what);
      assert.match(res.body.detail, reason, what);
    }
    const address = await call('POST', '/v1/recipient-keys', {
      address: 'not-an-address',
      key: k.ecc.publicKey,
    });
    assert.equal(address.status, 422);
    assert.match(address.body.detail, /not an email address/);
    assert.equal(await count(), before);
  });

  test('list pages newest first, filters by address; get returns the key itself', async () => {
    const all: { id: string; created_at: string }[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/v1/recipient-keys?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await call('GET', query);
      assert.equal(page.status, 200, page.text);
      assert.ok(page.body.data.length <= 2);
      all.push(...page.body.data);
      cursor = page.body.next_cursor;
    } while (cursor);
    assert.equal(all.length, 5);
    assert.equal(new Set(all.map((x) => x.id)).size, 5);
    const times = all.map((x) => Date.parse(x.created_at));
    assert.deepEqual(
      times,
      [...times].sort((x, y) => y - x),
    );
    assert.equal(all.at(-1)!.id, eccId, 'the first upload comes last');

    const filtered = await call('GET', '/v1/recipient-keys?address=PATIENT%40EXAMPLE.NET');
    assert.equal(filtered.body.data.length, 5);
    const none = await call('GET', '/v1/recipient-keys?address=nobody%40example.net');
    assert.deepEqual(none.body, { data: [], next_cursor: null });
    const bad = await call('GET', '/v1/recipient-keys?cursor=bm9wZQ');
    assert.equal(bad.status, 400);

    const one = await call('GET', `/v1/recipient-keys/${eccId}`);
    assert.equal(one.status, 200);
    const key = await openpgp.readKey({ armoredKey: one.body.key });
    assert.equal(key.getFingerprint(), k.ecc.fingerprint);
    assert.equal(key.isPrivate(), false);
  });

  test('another tenant neither sees nor deletes a key; delete is audited without the address', async () => {
    for (const [method, path] of [
      ['GET', `/v1/recipient-keys/${eccId}`],
      ['DELETE', `/v1/recipient-keys/${eccId}`],
    ] as const) {
      const res = await call(method, path, undefined, b.api_key);
      assert.equal(res.status, 404, `${method} by another tenant`);
    }
    const theirs = await call('GET', '/v1/recipient-keys', undefined, b.api_key);
    assert.deepEqual(theirs.body.data, []);
    assert.equal((await call('GET', `/v1/recipient-keys/${eccId}`)).status, 200, 'still there');

    const deleted = await call('DELETE', `/v1/recipient-keys/${eccId}`);
    assert.equal(deleted.status, 204);
    assert.equal((await call('GET', `/v1/recipient-keys/${eccId}`)).status, 404);
    assert.equal((await call('DELETE', `/v1/recipient-keys/${eccId}`)).status, 404);
    assert.equal((await call('GET', '/v1/recipient-keys/not-a-uuid')).status, 400);

    const { rows } = await suite.db.query<{ action: string; object_id: string; details: unknown }>(
      "SELECT action, object_id, details FROM audit_events WHERE org_id = $1 AND object_type = 'recipient_key' ORDER BY seq",
      [a.org_id],
    );
    assert.deepEqual(
      rows.map((r) => r.action),
      [...Array(5).fill('recipient_key.created'), 'recipient_key.deleted'],
    );
    assert.deepEqual(rows.at(-1), {
      action: 'recipient_key.deleted',
      object_id: eccId,
      details: { kind: 'pgp', fingerprint: k.ecc.fingerprint },
    });
    assert.ok(!JSON.stringify(rows).includes('@'), 'no address in the audit trail');
  });

  test('findRecipientKeys gives the keys valid at a time, newest first, by kind', async () => {
    const now = new Date();
    const found = await findRecipientKeys(suite.db, a.org_id, 'Patient@Example.net', now);
    assert.deepEqual(
      found.pgp.map((x) => x.fingerprint),
      [k.rsa.fingerprint],
    );
    assert.equal(found.smime.length, 3);
    assert.ok(found.smime.every((x) => x.key.startsWith('-----BEGIN CERTIFICATE-----')));
    const times = found.smime.map((x) => x.createdAt.getTime());
    assert.deepEqual(
      times,
      [...times].sort((x, y) => y - x),
    );
    // In two years the RSA key and the certificates have expired.
    const later = await findRecipientKeys(suite.db, a.org_id, ADDRESS, new Date(Date.now() + 2 * 365 * DAY));
    assert.deepEqual(later, { pgp: [], smime: [] });
    assert.deepEqual(await findRecipientKeys(suite.db, b.org_id, ADDRESS, now), { pgp: [], smime: [] });
  });

  test('reading needs recipient_keys:read, changing needs recipient_keys:manage', async () => {
    const created = await call('POST', '/v1/api-keys', { name: 'reader', scopes: ['recipient_keys:read'] });
    assert.equal(created.status, 201, created.text);
    const reader = created.body.token as string;
    assert.equal((await call('GET', '/v1/recipient-keys', undefined, reader)).status, 200);
    const denied = await call(
      'POST',
      '/v1/recipient-keys',
      { address: ADDRESS, key: k.ecc.publicKey },
      reader,
    );
    assert.equal(denied.status, 403);
  });
});
