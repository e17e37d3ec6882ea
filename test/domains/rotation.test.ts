import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dkimSigningKeys, expectedRecords } from '../../src/domains/index.ts';
import type { InitResult } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { startTestDns, type TestDns } from '../support/dns.ts';

interface Rec {
  name: string;
  value: string;
  purpose: string;
  required: boolean;
  remove_after?: string;
  note?: string;
  status?: string;
}

interface Key {
  selector: string;
  algorithm: string;
  status: string;
  created_at: string;
  retired_at: string | null;
}

const DOMAIN = 'rotate.example';
const DAY = 86_400_000;

describeEachDb('DKIM key rotation', (suite) => {
  let dns: TestDns;
  let server: TestServer;
  let org: InitResult;
  let other: InitResult;
  let oldKeys: Key[];
  let newKeys: Key[];

  const call = (method: string, path: string, token = org.api_key) => server.request(method, path, { token });
  const publish = (records: Rec[]) => {
    for (const r of records) dns.setTxt(r.name, [r.value]);
  };
  const dkimRecords = (body: { records: Rec[] }) => body.records.filter((r) => r.purpose === 'dkim');
  const signingSelectors = async () =>
    (await dkimSigningKeys(suite.db, server.app.keyring, org.org_id, DOMAIN)).map((k) => k.selector);

  before(async () => {
    dns = await startTestDns();
    dns.setA('mail.sealpost.test', ['127.0.0.1']); // where Sealpost sends from: what SPF authorises
    server = await startTestServer(suite.testDb, {
      SEALPOST_DNS_SERVERS: dns.server,
      SEALPOST_MAIL_HOSTNAME: 'mail.sealpost.test',
    });
    org = await server.createOrg('Rotation Clinic');
    other = await server.createOrg('Other Practice');
    const added = await server.request('POST', '/v1/domains', {
      token: org.api_key,
      body: { domain: DOMAIN },
    });
    assert.equal(added.status, 201, added.text);
    publish(added.body.records.filter((r: Rec) => r.required));
    const verified = await call('POST', `/v1/domains/${DOMAIN}/verify`);
    assert.equal(verified.body.status, 'verified', verified.text);
    oldKeys = verified.body.dkim;
  });
  after(async () => {
    await server.close();
    await dns.close();
  });

  test('a rotation adds pending keys to publish; the active keys keep signing', async () => {
    assert.deepEqual(
      oldKeys.map((k) => `${k.algorithm}:${k.status}:${k.retired_at}`),
      ['rsa-sha256:active:null', 'ed25519-sha256:active:null'],
    );
    const res = await call('POST', `/v1/domains/${DOMAIN}/dkim/rotate`);
    assert.equal(res.status, 200, res.text);
    const keys = res.body.dkim as Key[];
    assert.deepEqual(
      keys.map((k) => `${k.algorithm}:${k.status}`),
      ['rsa-sha256:active', 'ed25519-sha256:active', 'rsa-sha256:pending', 'ed25519-sha256:pending'],
    );
    newKeys = keys.filter((k) => k.status === 'pending');
    for (const k of newKeys) {
      assert.ok(!oldKeys.some((o) => o.selector === k.selector), 'new selectors');
      assert.ok(Date.parse(k.created_at) > 0);
      assert.equal(k.retired_at, null);
    }

    const records = dkimRecords(res.body);
    assert.deepEqual(
      records.map((r) => `${r.name}:${r.required}`),
      [...oldKeys, ...newKeys].map((k) => `${k.selector}._domainkey.${DOMAIN}:true`),
    );
    assert.match(records[2]!.value, /^v=DKIM1; k=rsa; p=MIIB/);
    assert.match(records[3]!.value, /^v=DKIM1; k=ed25519; p=/);
    assert.match(records[2]!.note!, /starts signing/);

    assert.deepEqual(
      await signingSelectors(),
      oldKeys.map((k) => k.selector),
    );
    const shown = await call('GET', `/v1/domains/${DOMAIN}`);
    assert.deepEqual(shown.body.dkim, res.body.dkim);
  });

  test('a second rotation while one is pending is refused', async () => {
    const res = await call('POST', `/v1/domains/${DOMAIN}/dkim/rotate`);
    assert.equal(res.status, 409);
    assert.equal(res.body.code, 'dkim_rotation_pending');
    const { rows } = await suite.db.query('SELECT 1 FROM dkim_keys WHERE org_id = $1 AND domain = $2', [
      org.org_id,
      DOMAIN,
    ]);
    assert.equal(rows.length, 4);
  });

  test('of two rotations started together, one starts and the other is refused', async () => {
    const added = await server.request('POST', '/v1/domains', {
      token: org.api_key,
      body: { domain: 'race.example' },
    });
    assert.equal(added.status, 201);
    const both = await Promise.all([
      call('POST', '/v1/domains/race.example/dkim/rotate'),
      call('POST', '/v1/domains/race.example/dkim/rotate'),
    ]);
    assert.deepEqual(both.map((r) => r.status).sort(), [200, 409]);
    const { rows } = await suite.db.query(
      "SELECT 1 FROM dkim_keys WHERE org_id = $1 AND domain = 'race.example' AND status = 'pending'",
      [org.org_id],
    );
    assert.equal(rows.length, 2);
  });

  test('another tenant can neither rotate nor see the domain', async () => {
    const rotate = await call('POST', `/v1/domains/${DOMAIN}/dkim/rotate`, other.api_key);
    assert.equal(rotate.status, 404);
    const shown = await call('GET', `/v1/domains/${DOMAIN}`, other.api_key);
    assert.equal(shown.status, 404);
    const { rows } = await suite.db.query('SELECT 1 FROM dkim_keys WHERE domain = $1', [DOMAIN]);
    assert.equal(rows.length, 4);
  });

  test('until every new record is found, the old keys sign and the new ones stay pending', async () => {
    const missing = await call('POST', `/v1/domains/${DOMAIN}/verify`);
    assert.equal(missing.status, 200);
    assert.deepEqual(
      missing.body.last_check.missing,
      newKeys.map((k) => `${k.selector}._domainkey.${DOMAIN}`),
    );
    assert.equal(missing.body.status, 'verified', 'a verified domain stays verified');
    assert.deepEqual(
      (missing.body.dkim as Key[]).map((k) => k.status),
      ['active', 'active', 'pending', 'pending'],
    );

    // Half published is not enough: both keys switch together.
    publish(dkimRecords(missing.body).slice(2, 3));
    const half = await call('POST', `/v1/domains/${DOMAIN}/verify`);
    assert.deepEqual(half.body.last_check.missing, [`${newKeys[1]!.selector}._domainkey.${DOMAIN}`]);
    assert.deepEqual(
      (half.body.dkim as Key[]).map((k) => k.status),
      ['active', 'active', 'pending', 'pending'],
    );
    assert.deepEqual(
      await signingSelectors(),
      oldKeys.map((k) => k.selector),
    );
  });

  test('once the new records are found the new keys sign; the old ones retire, listed for 7 days more', async () => {
    const before = await call('GET', `/v1/domains/${DOMAIN}`);
    publish(dkimRecords(before.body).slice(2));
    const res = await call('POST', `/v1/domains/${DOMAIN}/verify`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.last_check.missing, []);
    const keys = res.body.dkim as Key[];
    assert.deepEqual(
      keys.map((k) => `${k.selector}:${k.status}`),
      [...newKeys.map((k) => `${k.selector}:active`), ...oldKeys.map((k) => `${k.selector}:retired`)],
    );
    const retiredAt = Date.parse(keys[2]!.retired_at!);
    assert.ok(Math.abs(retiredAt - Date.now()) < 60_000, keys[2]!.retired_at!);

    const records = dkimRecords(res.body);
    assert.deepEqual(
      records.map((r) => `${r.name}:${r.required}`),
      [
        ...newKeys.map((k) => `${k.selector}._domainkey.${DOMAIN}:true`),
        ...oldKeys.map((k) => `${k.selector}._domainkey.${DOMAIN}:false`),
      ],
    );
    for (const retired of records.slice(2)) {
      assert.equal(Date.parse(retired.remove_after!), retiredAt + 7 * DAY);
      assert.match(retired.note!, /retired key.*remove it/);
    }
    assert.equal(records[0]!.note, undefined);
    assert.equal(records[0]!.remove_after, undefined);

    assert.deepEqual(
      await signingSelectors(),
      newKeys.map((k) => k.selector),
    );

    // Another check changes nothing more, and a new rotation may start.
    const again = await call('POST', `/v1/domains/${DOMAIN}/verify`);
    assert.deepEqual(again.body.dkim, res.body.dkim);
    const next = await call('POST', `/v1/domains/${DOMAIN}/dkim/rotate`);
    assert.equal(next.status, 200, next.text);
    assert.deepEqual(
      (next.body.dkim as Key[]).map((k) => k.status),
      ['active', 'active', 'pending', 'pending', 'retired', 'retired'],
    );
  });

  test('the rotation is in the audit trail', async () => {
    const { rows } = await suite.db.query<{ action: string; details: Record<string, unknown> }>(
      "SELECT action, details FROM audit_events WHERE org_id = $1 AND object_type = 'domain' AND object_id = $2 ORDER BY seq",
      [org.org_id, DOMAIN],
    );
    assert.deepEqual(
      rows.map((r) => r.action),
      [
        'domain.created',
        'domain.verified',
        'domain.dkim_rotation_started',
        'domain.verification_failed',
        'domain.verification_failed',
        'domain.verified',
        'domain.dkim_rotated',
        'domain.verified',
        'domain.dkim_rotation_started',
      ],
    );
    const sorted = (keys: Key[]) => keys.map((k) => k.selector).sort();
    assert.deepEqual(rows[2]!.details, { pending: newKeys.map((k) => k.selector) });
    assert.deepEqual(rows[6]!.details, { active: sorted(newKeys), retired: sorted(oldKeys) });
    const others = await suite.db.query('SELECT 1 FROM audit_events WHERE org_id = $1 AND object_type = $2', [
      other.org_id,
      'domain',
    ]);
    assert.equal(others.rows.length, 0);
  });
});

test('a retired key is listed until its record may be removed, then no more', () => {
  const retiredAt = new Date('2025-03-01T12:00:00Z');
  const key = {
    selector: 'spold00r',
    algorithm: 'rsa-sha256' as const,
    publicKey: 'MIIB',
    status: 'retired' as const,
    retiredAt,
  };
  const listed = (now: Date) =>
    expectedRecords(DOMAIN, [key], { hostname: 'mail.sealpost.test', addresses: [] }, now).filter(
      (r) => r.purpose === 'dkim',
    );
  const [record] = listed(new Date(retiredAt.getTime() + 6 * DAY));
  assert.equal(record!.required, false);
  assert.deepEqual(record!.remove_after, new Date('2025-03-08T12:00:00Z'));
  assert.deepEqual(listed(new Date(retiredAt.getTime() + 7 * DAY)), []);
});
