import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { AddressRanges, HostRefused } from '../../src/net-guard/index.ts';
import { lookupWkd, WkdKeyRefused, wkdUrls } from '../../src/recipient-keys/wkd.ts';
import { type PgpKeyPair, pgpKeyPair } from '../support/keys.ts';
import { createTestCa, type TestCa } from '../support/test-ca.ts';

const DAY = 86_400_000;

const binary = async (armoredKey: string) => Buffer.from((await openpgp.readKey({ armoredKey })).write());

test('the URLs follow the draft: z-base-32 SHA-1 of the lower-cased local part, l as written', () => {
  // The example in draft-koch-openpgp-webkey-service, section 3.1.
  const { advanced, direct } = wkdUrls('Joe.Doe@Example.ORG');
  assert.equal(
    advanced.href,
    'https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe',
  );
  assert.equal(
    direct.href,
    'https://example.org/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe',
  );
});

describe('Web Key Directory lookup over HTTPS', () => {
  let ca: TestCa;
  let server: Server;
  let port: number;
  let patient: PgpKeyPair;
  /** What the directory serves, by "host path?query"; anything else is a 404. */
  const served = new Map<string, Buffer | 'hang'>();
  const requests: string[] = [];
  /** Names that exist, all on loopback; others do not resolve. */
  let names: Set<string>;
  /** The names asked of DNS. */
  const resolved: string[] = [];
  const resolve = async (hostname: string) => {
    resolved.push(hostname);
    if (!names.has(hostname)) throw Object.assign(new Error(`${hostname} not found`), { code: 'ENOTFOUND' });
    return ['127.0.0.1'];
  };
  // The directory is on loopback: this test allows it, as an operator allows a partner network.
  const policy = { allowPrivate: AddressRanges.parse(['127.0.0.0/8']) };
  const options = () => ({ resolve, policy, port, ca: ca.certPem, timeoutMs: 2000 });
  const at = (url: URL) => `${url.hostname} ${url.pathname}${url.search}`;

  before(async () => {
    ca = await createTestCa();
    patient = await pgpKeyPair();
    const { key, cert } = await ca.issue(['openpgpkey.example.net', 'example.net']);
    server = createServer({ key, cert }, (req, res) => {
      const where = `${req.headers.host?.replace(/:\d+$/, '')} ${req.url}`;
      requests.push(where);
      const body = served.get(where);
      if (body === 'hang') return; // never answers
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const reset = (existing: string[]) => {
    served.clear();
    requests.length = 0;
    resolved.length = 0;
    names = new Set(existing);
  };

  test('the advanced method finds a binary key and it is validated like an upload', async () => {
    reset(['openpgpkey.example.net', 'example.net']);
    const { advanced } = wkdUrls('Patient@example.net');
    served.set(at(advanced), await binary(patient.publicKey));
    const found = await lookupWkd('Patient@example.net', options());
    assert.equal(found?.method, 'advanced');
    assert.equal(found.key.kind, 'pgp');
    assert.equal(found.key.fingerprint, patient.fingerprint);
    assert.deepEqual(requests, [at(advanced)]);
    // Resolved once and checked; the connection went to that address, with no second lookup.
    assert.deepEqual(resolved, ['openpgpkey.example.net']);
  });

  test('the direct method only when openpgpkey.<domain> does not exist', async () => {
    reset(['example.net']);
    const { direct } = wkdUrls('patient@example.net');
    served.set(at(direct), Buffer.from(patient.publicKey));
    const found = await lookupWkd('patient@example.net', options());
    assert.equal(found?.method, 'direct');
    assert.equal(found.key.fingerprint, patient.fingerprint);

    // With the advanced host present, its 404 is the answer: no key, and no second guess.
    reset(['openpgpkey.example.net', 'example.net']);
    served.set(at(direct), Buffer.from(patient.publicKey));
    assert.equal(await lookupWkd('patient@example.net', options()), null);
    assert.equal(requests.length, 1);
  });

  test('among several keys served, the one for the address; a bad key is refused with the reason', async () => {
    reset(['openpgpkey.example.net']);
    const { advanced } = wkdUrls('patient@example.net');
    const other = await pgpKeyPair({ email: 'someone-else@example.net' });
    served.set(at(advanced), Buffer.concat([await binary(other.publicKey), await binary(patient.publicKey)]));
    const found = await lookupWkd('patient@example.net', options());
    assert.equal(found?.key.fingerprint, patient.fingerprint);

    const expired = await pgpKeyPair({ date: new Date(Date.now() - 3 * DAY), keyExpirationTime: 86_400 });
    served.set(at(advanced), await binary(expired.publicKey));
    await assert.rejects(lookupWkd('patient@example.net', options()), WkdKeyRefused);
    await assert.rejects(lookupWkd('patient@example.net', options()), /The OpenPGP key expired on/);
    served.set(at(advanced), Buffer.from('<html>not a key</html>'));
    await assert.rejects(lookupWkd('patient@example.net', options()), WkdKeyRefused);
    await assert.rejects(lookupWkd('patient@example.net', options()), /answered with no OpenPGP key/);
  });

  test('DNS failing for openpgpkey.<domain> is an error: the direct method is only for a host that does not exist', async () => {
    reset(['example.net']);
    served.set(at(wkdUrls('patient@example.net').direct), Buffer.from(patient.publicKey));
    const failing = async (hostname: string) => {
      if (hostname.startsWith('openpgpkey.'))
        throw Object.assign(new Error(`queryA ESERVFAIL ${hostname}`), { code: 'ESERVFAIL' });
      return resolve(hostname);
    };
    await assert.rejects(lookupWkd('patient@example.net', { ...options(), resolve: failing }), /ESERVFAIL/);
    assert.deepEqual(requests, []);
  });

  test('an untrusted certificate, a slow server and a missing domain are errors, not "no key"', async () => {
    reset(['openpgpkey.example.net']);
    const { advanced } = wkdUrls('patient@example.net');
    served.set(at(advanced), await binary(patient.publicKey));
    await assert.rejects(
      lookupWkd('patient@example.net', { ...options(), ca: undefined }),
      /self-signed|unable to (get|verify)/,
    );
    served.set(at(advanced), 'hang');
    const started = Date.now();
    await assert.rejects(
      lookupWkd('patient@example.net', { ...options(), timeoutMs: 300 }),
      /timed out after 300 ms/,
    );
    assert.ok(Date.now() - started < 1500);
    reset([]);
    await assert.rejects(
      lookupWkd('patient@example.net', options()),
      /example\.net does not resolve \(ENOTFOUND\)/,
    );
  });

  test('the certificate must be for the host asked', async () => {
    reset(['openpgpkey.example.org']);
    await assert.rejects(lookupWkd('patient@example.org', options()), /altnames|does not match/i);
  });

  test('a directory on an address the guard refuses is never contacted', async () => {
    reset(['openpgpkey.example.net', 'example.net']);
    const { advanced } = wkdUrls('patient@example.net');
    served.set(at(advanced), await binary(patient.publicKey));
    const refused = async (options: Parameters<typeof lookupWkd>[1], why: RegExp) => {
      const err = await lookupWkd('patient@example.net', options).then(
        () => assert.fail('the directory was asked'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof HostRefused, String(err));
      assert.equal(err.code, 'forbidden');
      assert.match(err.message, why);
    };
    // Loopback, unless the operator allows its range; another private range does not do.
    await refused(
      { ...options(), policy: { allowPrivate: false } },
      /resolves to 127\.0\.0\.1, a private address/,
    );
    const partner = { allowPrivate: AddressRanges.parse(['10.20.0.0/16', '127.0.0.2/32']) };
    await refused({ ...options(), policy: partner }, /127\.0\.0\.1, a private address/);
    // A name answering one public and one private address (how rebinding starts) is refused whole.
    const mixed = async () => ['93.184.215.14', '169.254.169.254'];
    await refused({ ...options(), resolve: mixed }, /169\.254\.169\.254, a private address/);
    // Reserved addresses never, whatever is allowed.
    await refused({ ...options(), resolve: async () => ['0.0.0.0'] }, /a reserved address/);
    await refused(
      { ...options(), resolve: async () => ['::ffff:127.0.0.1'], policy: { allowPrivate: false } },
      /private/,
    );
    assert.deepEqual(requests, []);
  });
});
