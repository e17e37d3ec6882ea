import assert from 'node:assert/strict';
import { createPublicKey, sign, verify } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { InitResult } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { startTestDns, type TestDns } from '../support/dns.ts';

interface Rec {
  name: string;
  value: string;
  purpose: string;
  required: boolean;
  status?: string;
  detail?: string;
  note?: string;
  spf_results?: { address: string; result: string }[];
  suggested_value?: string;
}

describeEachDb('sending domains', (suite) => {
  let dns: TestDns;
  let server: TestServer;
  let org: InitResult;

  before(async () => {
    dns = await startTestDns();
    // Where Sealpost sends from: the mail hostname's address, which SPF records must authorise.
    dns.setA('mail.sealpost.test', ['127.0.0.1']);
    server = await startTestServer(suite.testDb, {
      SEALPOST_DNS_SERVERS: dns.server,
      SEALPOST_MAIL_HOSTNAME: 'mail.sealpost.test',
    });
    org = await server.createOrg('Domain Clinic');
  });
  after(async () => {
    await server.close();
    await dns.close();
  });

  const call = (method: string, path: string, body?: unknown) =>
    server.request(method, path, { token: org.api_key, body });

  test('adding a domain creates RSA and Ed25519 DKIM keys and lists what to publish', async () => {
    const res = await call('POST', '/v1/domains', { domain: 'Clinic.Example.' });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.domain, 'clinic.example');
    assert.equal(res.body.status, 'pending');
    assert.deepEqual(
      res.body.dkim.map((k: { algorithm: string }) => k.algorithm),
      ['rsa-sha256', 'ed25519-sha256'],
    );
    const records = res.body.records as Rec[];
    const dkim = records.filter((r) => r.purpose === 'dkim');
    assert.equal(dkim.length, 2);
    assert.match(dkim[0]!.name, /^sp[0-9a-f]{6}r\._domainkey\.clinic\.example$/);
    assert.match(dkim[0]!.value, /^v=DKIM1; k=rsa; p=MIIB/);
    assert.match(dkim[1]!.value, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
    const spf = records.find((r) => r.purpose === 'spf')!;
    assert.deepEqual(
      { ...spf, note: undefined },
      {
        type: 'TXT',
        name: 'clinic.example',
        value: 'v=spf1 a:mail.sealpost.test ~all',
        purpose: 'spf',
        required: true,
        note: undefined,
      },
    );
    assert.match(spf.note!, /One SPF record per domain/);
    assert.ok(
      records.some((r) => r.purpose === 'dmarc' && r.name === '_dmarc.clinic.example' && !r.required),
    );
    assert.ok(records.some((r) => r.purpose === 'mta-sts') && records.some((r) => r.purpose === 'tls-rpt'));

    // The published keys belong to the sealed private keys: a signature made with each verifies.
    const { rows } = await suite.db.query<{ selector: string; private_key_sealed: Buffer }>(
      "SELECT selector, private_key_sealed FROM dkim_keys WHERE org_id = $1 AND domain = 'clinic.example' ORDER BY algorithm DESC",
      [org.org_id],
    );
    for (const [i, row] of rows.entries()) {
      assert.ok(!row.private_key_sealed.toString('latin1').includes('PRIVATE KEY'), 'sealed at rest');
      const pem = await server.app.keyring.openText(
        org.org_id,
        { table: 'dkim_keys', row: `clinic.example/${row.selector}` },
        row.private_key_sealed,
      );
      const p = /p=(\S+)$/.exec(dkim[i]!.value)![1]!;
      const publicKey =
        i === 0
          ? createPublicKey({ key: Buffer.from(p, 'base64'), format: 'der', type: 'spki' })
          : createPublicKey({
              key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(p, 'base64')]),
              format: 'der',
              type: 'spki',
            });
      const algorithm = i === 0 ? 'sha256' : null;
      assert.ok(verify(algorithm, Buffer.from('x'), publicKey, sign(algorithm, Buffer.from('x'), pem)));
    }
  });

  test('bad and duplicate domains are refused', async () => {
    for (const domain of ['localhost', 'not a domain', '-x.example', 'a..example']) {
      const res = await call('POST', '/v1/domains', { domain });
      assert.equal(res.status, 422, domain);
      assert.equal(res.body.code, 'validation_failed');
    }
    const again = await call('POST', '/v1/domains', { domain: 'clinic.example' });
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'domain_exists');
  });

  test('verify says record by record what is missing or wrong, and verifies once DKIM and SPF are right', async () => {
    const first = await call('POST', '/v1/domains/clinic.example/verify');
    assert.equal(first.status, 200);
    assert.equal(first.body.status, 'pending');
    const check = first.body.last_check;
    assert.equal(check.verified, false);
    assert.equal(check.missing.length, 3);
    assert.ok((check.records as Rec[]).every((r) => r.status === 'missing'));

    const records = first.body.records as Rec[];
    const [rsa, ed] = records.filter((r) => r.purpose === 'dkim') as [Rec, Rec];
    dns.setTxt(rsa.name, [rsa.value]);
    dns.setTxt(ed.name, ['v=DKIM1; k=ed25519; p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=']);
    dns.setTxt('clinic.example', ['v=spf1 include:_spf.other.example ~all', 'google-site-verification=abc']);
    const second = (await call('POST', '/v1/domains/clinic.example/verify')).body;
    const byName = new Map((second.last_check.records as Rec[]).map((r) => [`${r.purpose}:${r.name}`, r]));
    assert.equal(byName.get(`dkim:${rsa.name}`)!.status, 'ok');
    assert.equal(byName.get(`dkim:${ed.name}`)!.status, 'mismatch');
    const spf = byName.get('spf:clinic.example')!;
    assert.equal(spf.status, 'mismatch');
    // The include names a domain with no SPF record: a permanent error, which Sealpost's own
    // mechanism avoids only by coming first.
    assert.deepEqual(spf.spf_results, [{ address: '127.0.0.1', result: 'permerror' }]);
    assert.equal(spf.suggested_value, 'v=spf1 a:mail.sealpost.test include:_spf.other.example ~all');
    assert.match(spf.detail!, /permerror.*publish instead: v=spf1 a:mail\.sealpost\.test include/);
    assert.equal(second.status, 'pending');

    dns.setTxt(ed.name, [ed.value]);
    dns.setTxt('clinic.example', [spf.suggested_value!]);
    const third = (await call('POST', '/v1/domains/clinic.example/verify')).body;
    assert.equal(third.status, 'verified', JSON.stringify(third.last_check));
    assert.ok(third.verified_at);
    assert.deepEqual(third.last_check.missing, []);
    const dmarc = (third.last_check.records as Rec[]).find((r) => r.purpose === 'dmarc')!;
    assert.equal(dmarc.status, 'missing', 'advice only: DMARC is not required');

    const listed = await call('GET', '/v1/domains');
    assert.deepEqual(
      listed.body.data.map((d: { domain: string; status: string }) => `${d.domain}:${d.status}`),
      ['clinic.example:verified'],
    );
    const audit = await suite.db.query<{ action: string }>(
      "SELECT action FROM audit_events WHERE org_id = $1 AND object_type = 'domain' ORDER BY seq",
      [org.org_id],
    );
    assert.deepEqual(
      audit.rows.map((r) => r.action),
      ['domain.created', 'domain.verification_failed', 'domain.verification_failed', 'domain.verified'],
    );
  });

  test('an unreachable DNS server is an error, not a verdict', async () => {
    const deaf = await startTestServer(suite.testDb, { SEALPOST_DNS_SERVERS: '127.0.0.1:9' });
    try {
      await call('POST', '/v1/domains', { domain: 'quiet.example' });
      const res = await deaf.request('POST', '/v1/domains/quiet.example/verify', { token: org.api_key });
      assert.equal(res.status, 200);
      const statuses = new Set((res.body.last_check.records as Rec[]).map((r) => r.status));
      assert.deepEqual([...statuses], ['error']);
      assert.equal(res.body.status, 'pending');
    } finally {
      await deaf.close();
    }
    const unknown = await call('GET', '/v1/domains/nowhere.example');
    assert.equal(unknown.status, 404);
  });

  /** The SPF record's check for a domain whose zone publishes `spf`. */
  const spfCheck = async (domain: string, spf: string, on: TestServer = server) => {
    const added = await call('POST', '/v1/domains', { domain });
    assert.ok(added.status === 201 || added.status === 409, added.text);
    dns.setTxt(domain, [spf]);
    const res = await on.request('POST', `/v1/domains/${domain}/verify`, { token: org.api_key });
    assert.equal(res.status, 200, res.text);
    return (res.body.last_check.records as Rec[]).find((r) => r.purpose === 'spf')!;
  };

  test('SPF is evaluated as receivers do it: ranges, include:, redirect= and mx pass', async () => {
    // An address range, include: of a provider authorising by name, and redirect= to a record using mx.
    dns.setTxt('_spf.provider.example', ['v=spf1 ip4:192.0.2.0/24 a:relay.provider.example -all']);
    dns.setA('relay.provider.example', ['127.0.0.1']);
    dns.setTxt('_spf.hosted.example', ['v=spf1 mx:hosted.example -all']);
    dns.setMx('hosted.example', [{ exchange: 'mx.hosted.example', priority: 10 }]);
    dns.setA('mx.hosted.example', ['127.0.0.1']);
    for (const [domain, spf] of [
      ['range.example', 'v=spf1 ip4:127.0.0.0/8 -all'],
      ['include.example', 'v=spf1 ip4:198.51.100.7 include:_spf.provider.example -all'],
      ['redirect.example', 'v=spf1 redirect=_spf.hosted.example'],
    ] as const) {
      const check = await spfCheck(domain, spf);
      assert.equal(check.status, 'ok', `${domain}: ${JSON.stringify(check)}`);
      assert.deepEqual(check.spf_results, [{ address: '127.0.0.1', result: 'pass' }]);
      assert.equal(check.suggested_value, undefined);
    }
  });

  test('a record that does not authorise Sealpost gets a valid suggestion, which then passes', async () => {
    const check = await spfCheck('elsewhere.example', 'v=spf1 ip4:192.0.2.10 -all');
    assert.equal(check.status, 'mismatch');
    assert.deepEqual(check.spf_results, [{ address: '127.0.0.1', result: 'fail' }]);
    assert.equal(check.suggested_value, 'v=spf1 ip4:192.0.2.10 a:mail.sealpost.test -all');
    assert.match(check.detail!, /does not authorise 127\.0\.0\.1 \(fail\); publish instead: v=spf1 /);
    const fixed = await spfCheck('elsewhere.example', check.suggested_value!);
    assert.equal(fixed.status, 'ok', JSON.stringify(fixed));
  });

  test('a mail hostname that is an address: the record is judged for that address, and ip4: suggested', async () => {
    // The zone that was told "does not authorise 127.0.0.1 (add a:127.0.0.1)", which is not SPF.
    const literal = await startTestServer(suite.testDb, {
      SEALPOST_DNS_SERVERS: dns.server,
      SEALPOST_MAIL_HOSTNAME: '127.0.0.1',
    });
    try {
      const ok = await spfCheck('loopback.example', 'v=spf1 ip4:127.0.0.0/8 -all', literal);
      assert.equal(ok.status, 'ok', JSON.stringify(ok));
      assert.equal(ok.value, 'v=spf1 ip4:127.0.0.1 ~all');
      const failing = await spfCheck('loopback.example', 'v=spf1 mx ~all', literal);
      assert.deepEqual(failing.spf_results, [{ address: '127.0.0.1', result: 'softfail' }]);
      assert.equal(failing.suggested_value, 'v=spf1 mx ip4:127.0.0.1 ~all');
      assert.doesNotMatch(failing.detail!, /a:127/);
    } finally {
      await literal.close();
    }
  });
});
