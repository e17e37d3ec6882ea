import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { InitResult } from '../../src/identity/index.ts';
import { type ChoiceInput, chooseMethod, DEFAULT_POLICY } from '../../src/secureline/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { startTestDns, type TestDns } from '../support/dns.ts';
import { verifiedDomain } from '../support/sending.ts';

const base: ChoiceInput = {
  protection: 'auto',
  mayHoldPhi: true,
  pgpKeys: [],
  smimeCertificates: [],
  policy: DEFAULT_POLICY,
};
const pgp = [{ fingerprint: 'AAAA1111' }];
const smime = [{ fingerprint: 'BBBB2222' }];

test('SecureLine chooses, in order: forced portal, OpenPGP, S/MIME, e2e-or-portal, TLS by policy, portal', () => {
  const cases: [Partial<ChoiceInput>, string, RegExp][] = [
    [{ protection: 'portal', pgpKeys: pgp }, 'portal', /sender asked for the portal/],
    [{ pgpKeys: pgp, smimeCertificates: smime }, 'pgp', /OpenPGP key .*AAAA1111/],
    [{ smimeCertificates: smime }, 'smime', /S\/MIME certificate .*BBBB2222/],
    [{ protection: 'e2e' }, 'portal', /end-to-end encryption was required/],
    [{ protection: 'e2e', smimeCertificates: smime }, 'smime', /S\/MIME/],
    [{}, 'tls', /policy accepts enforced TLS for PHI/],
    [{ mayHoldPhi: false }, 'tls', /no PHI found; TLS 1\.2\+ with a verified certificate/],
    [
      { tlsFailure: 'mx.x.test offers no STARTTLS' },
      'portal',
      /enforced TLS failed: mx\.x\.test offers no STARTTLS/,
    ],
    [{ tlsFailure: 'no STARTTLS', pgpKeys: pgp }, 'pgp', /OpenPGP/],
    [{ policy: { ...DEFAULT_POLICY, tls_for_phi: false } }, 'portal', /does not accept TLS alone for PHI/],
    [{ policy: { ...DEFAULT_POLICY, tls_for_phi: false }, mayHoldPhi: false }, 'tls', /no PHI found/],
    [{ recipientPreference: 'portal', pgpKeys: pgp }, 'portal', /recipient asked to read in the portal/],
    [{ recipientPreference: 'e2e' }, 'portal', /recipient accepts only end-to-end encryption/],
    [{ recipientPreference: 'e2e', smimeCertificates: smime }, 'smime', /S\/MIME/],
  ];
  for (const [change, method, reason] of cases) {
    const choice = chooseMethod({ ...base, ...change });
    assert.equal(choice.method, method, JSON.stringify(change));
    assert.match(choice.reason, reason);
    if (method === 'tls') assert.equal(choice.tls, 'enforced');
  }
});

test('opportunistic TLS only for mail without PHI, and only when policy allows it', () => {
  const lax = { ...DEFAULT_POLICY, opportunistic_tls_without_phi: true };
  assert.equal(chooseMethod({ ...base, policy: lax, mayHoldPhi: false }).tls, 'opportunistic');
  assert.equal(chooseMethod({ ...base, policy: lax, mayHoldPhi: true }).tls, 'enforced');
  assert.equal(chooseMethod({ ...base, mayHoldPhi: false }).tls, 'enforced');
});

describeEachDb('SecureLine policy API', (suite) => {
  let dns: TestDns;
  let server: TestServer;
  let org: InitResult;
  before(async () => {
    dns = await startTestDns();
    server = await startTestServer(suite.testDb, {
      SEALPOST_DNS_SERVERS: dns.server,
      SEALPOST_OUTBOUND_ADDRESSES: '127.0.0.1',
    });
    org = await server.createOrg('Policy Clinic');
    await verifiedDomain(server, dns, org.api_key, 'policy.test');
  });
  after(async () => {
    await server.close();
    await dns.close();
  });

  test('read, change (audited, unknown fields refused), and the choice follows it', async () => {
    const call = (method: string, path: string, body?: unknown) =>
      server.request(method, path, { token: org.api_key, body });
    assert.deepEqual((await call('GET', '/v1/policies/secureline')).body, DEFAULT_POLICY);
    const bad = await call('PATCH', '/v1/policies/secureline', { tls_for_phi: 'no', nonsense: 1 });
    assert.equal(bad.status, 400);
    const changed = await call('PATCH', '/v1/policies/secureline', {
      tls_for_phi: false,
      portal_expiry_days: 7,
    });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.body.tls_for_phi, false);
    assert.equal(changed.body.smime_algorithm, 'aes-256-gcm', 'untouched fields keep their value');
    const preview = await call('POST', '/v1/messages/preview', {
      from: 'care@policy.test',
      to: ['p@tls.test'],
      subject: 'Results',
      text: 'MRN: 5551234, DOB: 01/02/1970',
    });
    assert.equal(preview.body.recipients[0].method, 'portal');
    const { rows } = await suite.db.query<{ details: { changes: Record<string, unknown> } }>(
      "SELECT details FROM audit_events WHERE org_id = $1 AND action = 'policy.updated'",
      [org.org_id],
    );
    assert.deepEqual(rows[0]!.details.changes, {
      tls_for_phi: { from: true, to: false },
      portal_expiry_days: { from: null, to: 7 },
    });
  });

  test("a recipient's stored preference is set, listed, followed by the choice, and removed", async () => {
    const call = (method: string, path: string, body?: unknown) =>
      server.request(method, path, { token: org.api_key, body });
    await call('PATCH', '/v1/policies/secureline', { tls_for_phi: true });
    const message = {
      from: 'care@policy.test',
      to: ['Careful@tls.test'],
      subject: 'Hello',
      text: 'No PHI here.',
    };
    assert.equal((await call('POST', '/v1/messages/preview', message)).body.recipients[0].method, 'tls');
    const set = await call('POST', '/v1/recipient-preferences', {
      address: 'Careful@TLS.test',
      protection: 'portal',
    });
    assert.equal(set.status, 200, set.text);
    assert.equal(set.body.address, 'careful@tls.test');
    const preview = (await call('POST', '/v1/messages/preview', message)).body.recipients[0];
    assert.equal(preview.method, 'portal');
    assert.match(preview.reason, /recipient asked to read in the portal/);
    const listed = await call('GET', '/v1/recipient-preferences');
    assert.deepEqual(
      listed.body.data.map((p: { address: string; protection: string }) => `${p.address}:${p.protection}`),
      ['careful@tls.test:portal'],
    );
    assert.equal(
      (await call('POST', '/v1/recipient-preferences', { address: 'nope', protection: 'e2e' })).status,
      422,
    );
    assert.equal((await call('DELETE', '/v1/recipient-preferences/careful@tls.test')).status, 204);
    assert.equal((await call('DELETE', '/v1/recipient-preferences/careful@tls.test')).status, 404);
    assert.equal((await call('POST', '/v1/messages/preview', message)).body.recipients[0].method, 'tls');
  });
});
