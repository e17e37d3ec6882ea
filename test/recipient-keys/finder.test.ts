import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AddressRanges } from '../../src/net-guard/index.ts';
import {
  addRecipientKey,
  parseRecipientKey,
  RecipientKeyFinder,
  type RecipientKeyFinderOptions,
  wkdUrls,
} from '../../src/recipient-keys/index.ts';
import { describeEachDb } from '../support/db.ts';
import { startTestDns, type TestDns } from '../support/dns.ts';
import { type PgpKeyPair, pgpKeyPair, smimeIdentity } from '../support/keys.ts';
import { createTestCa } from '../support/test-ca.ts';

// The finder against real servers on loopback: a DNS server, and a Web Key Directory over HTTPS
// with a certificate from a test CA. Time is pinned by the `now` each call is given.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** The directory is on loopback, which the finder reaches only where an operator allows it. */
const policy = { allowPrivate: AddressRanges.parse(['127.0.0.1/32']) };

let dns: TestDns;
let server: Server;
let port: number;
let caDir: string;
/** What the directory serves, by "host path?query"; anything else is a 404. */
const served = new Map<string, string | 'hang'>();
/** The l= of every request: the local part asked for. */
const asked: string[] = [];
const keys: Record<'patient' | 'twin' | 'brief' | 'crowd', PgpKeyPair> = {} as never;

const advanced = (address: string) => {
  const url = wkdUrls(address).advanced;
  return `${url.hostname} ${url.pathname}${url.search}`;
};
const times = (local: string) => asked.filter((l) => l === local).length;
const later = (from: Date, ms: number) => new Date(from.getTime() + ms);

before(async () => {
  const ca = await createTestCa();
  dns = await startTestDns();
  [keys.patient, keys.twin, keys.brief, keys.crowd] = await Promise.all([
    pgpKeyPair({ email: 'patient@example.net' }),
    pgpKeyPair({ email: 'patient@example.net' }),
    pgpKeyPair({ email: 'brief@example.net', keyExpirationTime: 3600 }),
    pgpKeyPair({ email: 'crowd@example.net' }),
  ]);
  for (const name of ['patient', 'brief', 'crowd'] as const)
    served.set(advanced(`${name}@example.net`), keys[name].publicKey);
  served.set(advanced('slow@example.net'), 'hang');

  const { key, cert } = await ca.issue(['openpgpkey.example.net']);
  server = createServer({ key, cert }, (req, res) => {
    asked.push(new URL(req.url ?? '/', 'https://x').searchParams.get('l') ?? '');
    const body = served.get(`${req.headers.host?.replace(/:\d+$/, '')} ${req.url}`);
    if (body === 'hang') return;
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  port = (server.address() as AddressInfo).port;
  dns.setA('openpgpkey.example.net', ['127.0.0.1']);
  dns.setFailure('openpgpkey.dns-timeout.test', 'timeout');

  caDir = mkdtempSync(join(tmpdir(), 'sealpost-finder-'));
  writeFileSync(join(caDir, 'ca.pem'), ca.certPem);
});

after(async () => {
  server.closeAllConnections();
  server.close();
  await dns.close();
  rmSync(caDir, { recursive: true, force: true });
});

describeEachDb('Recipient key finder', (suite) => {
  const finder = (options: RecipientKeyFinderOptions = {}) =>
    new RecipientKeyFinder({
      dnsServers: [dns.server],
      extraCaFile: join(caDir, 'ca.pem'),
      port,
      policy,
      ...options,
    });
  /** An organisation with no uploaded keys. */
  let org: string;
  const newOrg = async (name: string) => {
    const { rows } = await suite.db.query<{ org_id: string }>(
      'INSERT INTO organizations (name) VALUES ($1) RETURNING org_id',
      [name],
    );
    return rows[0]!.org_id;
  };
  before(async () => {
    org = await newOrg('Clinic');
  });
  /** What the cache holds for an address, and for how long. */
  const cached = async (address: string, orgId = org) => {
    const { rows } = await suite.db.query<{ outcome: string; reason: string | null; hours: number }>(
      `SELECT outcome, reason, extract(epoch FROM fresh_until - fetched_at)::float8 / 3600 AS hours
       FROM wkd_cache WHERE org_id = $1 AND address = $2`,
      [orgId, address],
    );
    return rows[0];
  };

  test('a key found in the directory is kept for a day: no second request until then', async () => {
    asked.length = 0;
    const keyFinder = finder();
    const now = new Date();
    const first = await keyFinder.find(suite.db, org, 'Patient@Example.net', now);
    assert.deepEqual(
      first.pgp.map((k) => [k.fingerprint, k.source]),
      [[keys.patient.fingerprint.toLowerCase(), 'wkd']],
    );
    assert.match(first.pgp[0]!.key, /BEGIN PGP PUBLIC KEY BLOCK/);
    assert.deepEqual(first.smime, []);
    assert.equal(times('patient'), 1);
    assert.deepEqual(await cached('patient@example.net'), { outcome: 'key', reason: null, hours: 24 });

    // Another process (another finder) reads the same table.
    const again = await finder().find(suite.db, org, 'patient@example.net', later(now, 23 * HOUR));
    assert.deepEqual(again, first);
    assert.equal(times('patient'), 1);

    const nextDay = await keyFinder.find(suite.db, org, 'patient@example.net', later(now, 25 * HOUR));
    assert.equal(nextDay.pgp[0]?.fingerprint, first.pgp[0]!.fingerprint);
    assert.equal(times('patient'), 2);

    // Each organisation keeps its own answers.
    const elsewhere = await keyFinder.find(
      suite.db,
      await newOrg('Other Clinic'),
      'patient@example.net',
      now,
    );
    assert.equal(elsewhere.pgp[0]?.fingerprint, first.pgp[0]!.fingerprint);
    assert.equal(times('patient'), 3);
  });

  test('"no key" is kept for an hour, whether nothing is published or there is no directory', async () => {
    asked.length = 0;
    const keyFinder = finder();
    const now = new Date();
    assert.deepEqual(await keyFinder.find(suite.db, org, 'nobody@example.net', now), {
      pgp: [],
      smime: [],
    });
    assert.deepEqual(await keyFinder.find(suite.db, org, 'someone@nowhere.test', now), {
      pgp: [],
      smime: [],
    });
    assert.equal(times('nobody'), 1);
    const questions = () => dns.queries('openpgpkey.nowhere.test', 'A') + dns.queries('nowhere.test', 'A');
    const asked1 = questions();
    assert.ok(asked1 >= 2, 'both hosts asked for');
    assert.deepEqual(await cached('nobody@example.net'), {
      outcome: 'none',
      reason: 'the Web Key Directory has no key for the address',
      hours: 1,
    });
    assert.deepEqual(await cached('someone@nowhere.test'), {
      outcome: 'none',
      reason: 'the domain has no Web Key Directory host',
      hours: 1,
    });

    await keyFinder.find(suite.db, org, 'nobody@example.net', later(now, 59 * MINUTE));
    await keyFinder.find(suite.db, org, 'someone@nowhere.test', later(now, 59 * MINUTE));
    assert.equal(times('nobody'), 1);
    assert.equal(questions(), asked1);

    // A domain with no directory host at all answers for every address there: no new questions.
    await keyFinder.find(suite.db, org, 'someone-else@nowhere.test', later(now, 59 * MINUTE));
    assert.equal(questions(), asked1);

    await keyFinder.find(suite.db, org, 'nobody@example.net', later(now, 61 * MINUTE));
    assert.equal(times('nobody'), 2);
  });

  test('a directory or DNS server that does not answer costs the timeout once, then a few minutes of no key', async () => {
    asked.length = 0;
    const keyFinder = finder({ timeoutMs: 300 });
    const now = new Date();
    for (const address of ['slow@example.net', 'someone@dns-timeout.test']) {
      const started = performance.now();
      assert.deepEqual(await keyFinder.find(suite.db, org, address, now), { pgp: [], smime: [] });
      const ms = performance.now() - started;
      assert.ok(ms >= 290 && ms < 800, `${address}: no key after ${Math.round(ms)} ms`);
      assert.deepEqual(await cached(address), {
        outcome: 'error',
        reason: 'the lookup took longer than 300 ms',
        hours: 5 / 60,
      });

      const again = performance.now();
      await keyFinder.find(suite.db, org, address, later(now, 4 * MINUTE));
      assert.ok(performance.now() - again < 100, `${address}: the failure is kept`);
    }
    assert.equal(times('slow'), 1);
    await keyFinder.find(suite.db, org, 'slow@example.net', later(now, 6 * MINUTE));
    assert.equal(times('slow'), 2);
  });

  test('a certificate the finder does not trust is a failure, not a key', async () => {
    asked.length = 0;
    const untrusting = new RecipientKeyFinder({ dnsServers: [dns.server], port, policy });
    const found = await untrusting.find(suite.db, org, 'crowd@example.net', new Date());
    assert.deepEqual(found, { pgp: [], smime: [] });
    const failure = await cached('crowd@example.net');
    assert.equal(failure?.outcome, 'error');
    assert.match(failure.reason!, /unable to (get|verify)|self-signed/);
    // Kept only for a few minutes: a trusting finder asks again soon after.
    const soon = later(new Date(), 6 * MINUTE);
    const trusted = await finder().find(suite.db, org, 'crowd@example.net', soon);
    assert.equal(trusted.pgp[0]?.fingerprint, keys.crowd.fingerprint.toLowerCase());
  });

  test('a kept key that has expired is not used: the directory is asked again', async () => {
    asked.length = 0;
    const keyFinder = finder();
    const now = new Date();
    const fresh = await keyFinder.find(suite.db, org, 'brief@example.net', now);
    assert.equal(fresh.pgp[0]?.fingerprint, keys.brief.fingerprint.toLowerCase());
    assert.ok(fresh.pgp[0]!.expiresAt! <= later(now, HOUR));

    // Still fresh in the cache, but the key expired an hour after it was made.
    const expired = await keyFinder.find(suite.db, org, 'brief@example.net', later(now, 2 * HOUR));
    assert.deepEqual(expired, { pgp: [], smime: [] });
    assert.equal(times('brief'), 2);
    const refused = await cached('brief@example.net');
    assert.equal(refused?.outcome, 'none');
    assert.match(refused.reason!, /^The OpenPGP key expired on/);
    // The directory still serves the expired key: that is "no key", kept for an hour.
    await keyFinder.find(suite.db, org, 'brief@example.net', later(now, 2 * HOUR + MINUTE));
    assert.equal(times('brief'), 2);
  });

  test('deliveries to one address at once ask the directory once', async () => {
    asked.length = 0;
    const keyFinder = finder();
    const now = new Date();
    await suite.db.query('DELETE FROM wkd_cache');
    const all = await Promise.all(
      Array.from({ length: 5 }, () => keyFinder.find(suite.db, org, 'crowd@example.net', now)),
    );
    assert.ok(all.every((found) => found.pgp[0]?.fingerprint === keys.crowd.fingerprint.toLowerCase()));
    assert.equal(times('crowd'), 1);
  });

  test("the organisation's uploaded keys win, and then no directory is asked", async () => {
    asked.length = 0;
    const orgId = await newOrg('Uploading Clinic');
    const now = new Date();
    const file = async (address: string, key: string) =>
      addRecipientKey(suite.db, orgId, {
        address,
        parsed: await parseRecipientKey(key, address, now),
        createdBy: { type: 'system', id: 'test', label: 'test' },
        now,
      });
    await file('patient@example.net', keys.twin.publicKey);
    const found = await finder().find(suite.db, orgId, 'patient@example.net', now);
    assert.deepEqual(
      found.pgp.map((k) => [k.fingerprint, k.source]),
      [[keys.twin.fingerprint.toLowerCase(), 'uploaded']],
    );

    // Even a certificate alone: the organisation chose how to reach this address.
    await file('crowd@example.net', (await smimeIdentity({ email: 'crowd@example.net' })).certificate);
    const certificate = await finder().find(suite.db, orgId, 'crowd@example.net', now);
    assert.deepEqual(certificate.pgp, []);
    assert.equal(certificate.smime[0]?.source, 'uploaded');
    assert.equal(asked.length, 0);

    // Another organisation without uploads gets the directory's key.
    const other = await finder().find(suite.db, org, 'patient@example.net', later(now, 30 * HOUR));
    assert.equal(other.pgp[0]?.fingerprint, keys.patient.fingerprint.toLowerCase());
    assert.equal(other.pgp[0]?.source, 'wkd');
  });
});
