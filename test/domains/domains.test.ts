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
}

describeEachDb('sending domains', (suite) => {
  let dns: TestDns;
  let server: TestServer;
  let org: InitResult;

  before(async () => {
    dns = await startTestDns();
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
    assert.deepEqual(
      records.find((r) => r.purpose === 'spf'),
      {
        type: 'TXT',
        name: 'clinic.example',
        value: 'v=spf1 a:mail.sealpost.test ~all',
        purpose: 'spf',
        required: true,
      },
    );
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
    assert.match(spf.detail!, /a:mail\.sealpost\.test/);
    assert.equal(second.status, 'pending');

    dns.setTxt(ed.name, [ed.value]);
    dns.setTxt('clinic.example', ['v=spf1 a:mail.sealpost.test include:_spf.other.example ~all']);
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
});
