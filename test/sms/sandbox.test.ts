import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { loadConfig } from '../../src/config/index.ts';
import { Keyring, loadMasterKeys } from '../../src/crypto/index.ts';
import {
  createSmsSender,
  listSandboxSms,
  SandboxSmsSender,
  SmsError,
  smsBodyBinding,
  smsToBinding,
} from '../../src/sms/index.ts';
import { describeEachDb } from '../support/db.ts';

describeEachDb('sandbox SMS capture', (suite) => {
  let keyring: Keyring;
  let orgA: string;
  let orgB: string;

  const newOrg = async (name: string) => {
    const { rows } = await suite.db.query<{ org_id: string }>(
      'INSERT INTO organizations (name) VALUES ($1) RETURNING org_id',
      [name],
    );
    await keyring.createOrgKey(suite.db, rows[0]!.org_id);
    return rows[0]!.org_id;
  };

  before(async () => {
    const keyFile = join(mkdtempSync(join(tmpdir(), 'sealpost-sms-')), 'master.key');
    keyring = new Keyring(suite.db, loadMasterKeys({ masterKeyFile: keyFile }));
    orgA = await newOrg('SMS clinic A');
    orgB = await newOrg('SMS clinic B');
  });

  test('in sandbox mode a text is kept, sealed, never sent; the list opens it', async () => {
    // Configured for a carrier that does not exist: in the sandbox nothing may try to reach it.
    const config = loadConfig({
      SEALPOST_SMS_PROVIDER: 'twilio-compatible',
      SEALPOST_SMS_API_URL: 'https://sms.invalid',
      SEALPOST_SMS_ACCOUNT: 'AC1',
      SEALPOST_SMS_TOKEN: 't',
      SEALPOST_SMS_FROM: '+15550100100',
    });
    const sender = createSmsSender(config, { db: suite.db, keyring, sandbox: true });
    assert.ok(sender instanceof SandboxSmsSender);

    const body = 'Your Sealpost code is 482913';
    const { providerId } = await sender.send({
      to: '+1 (555) 010-0187',
      body,
      context: { orgId: orgA, purpose: 'portal-otp' },
    });

    const { rows } = await suite.db.query<{
      org_id: string;
      purpose: string;
      to_last2: string;
      to_sealed: Buffer;
      body_sealed: Buffer;
    }>('SELECT * FROM sandbox_sms WHERE org_id = $1 AND sms_id = $2', [orgA, providerId]);
    assert.equal(rows.length, 1);
    const row = rows[0]!;
    assert.equal(row.purpose, 'portal-otp');
    assert.equal(row.to_last2, '87');
    // Neither the body, the code nor the number is anywhere in the row's stored bytes.
    const stored =
      JSON.stringify(row) + row.to_sealed.toString('latin1') + row.body_sealed.toString('latin1');
    for (const secret of ['482913', 'Sealpost code', '5550100187', '555010', '+1555'])
      assert.ok(!stored.includes(secret), `"${secret}" is stored in clear`);

    // Each sealed value is bound to its row and role: swapped, they do not open.
    await assert.rejects(keyring.open(orgA, smsBodyBinding(providerId), row.to_sealed));
    await assert.rejects(keyring.open(orgA, smsToBinding(providerId), row.body_sealed));

    const listed = await listSandboxSms(suite.db, keyring, orgA);
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.id, providerId);
    assert.equal(listed[0]!.to, '+15550100187');
    assert.equal(listed[0]!.body, body);
    assert.equal(listed[0]!.purpose, 'portal-otp');
    assert.ok(listed[0]!.captured_at instanceof Date);
  });

  test("newest first; one organisation never sees another's texts", async () => {
    const sender = new SandboxSmsSender(suite.db, keyring);
    for (const code of ['111111', '222222'])
      await sender.send({
        to: '+44 20 7946 0958',
        body: `Code ${code}`,
        context: { orgId: orgB, purpose: 'portal-otp' },
      });
    const listed = await listSandboxSms(suite.db, keyring, orgB);
    assert.deepEqual(
      listed.map((s) => s.body),
      ['Code 222222', 'Code 111111'],
    );
    assert.ok(listed.every((s) => s.to === '+442079460958'));
    assert.ok((await listSandboxSms(suite.db, keyring, orgA)).every((s) => s.body.includes('482913')));
    assert.equal((await listSandboxSms(suite.db, keyring, orgB, { limit: 1 })).length, 1);
  });

  test('the sandbox refuses what a carrier would refuse, and keeps nothing then', async () => {
    const sender = new SandboxSmsSender(suite.db, keyring);
    const count = async () =>
      (await suite.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sandbox_sms')).rows[0]!.n;
    const before = await count();
    await assert.rejects(
      sender.send({ to: '555-0100', body: 'Code 1', context: { orgId: orgA, purpose: 'portal-otp' } }),
      (err: unknown) => err instanceof SmsError && err.code === 'sms_invalid_number' && !err.retryable,
    );
    await assert.rejects(
      sender.send({ to: '+15550100199', body: '', context: { orgId: orgA, purpose: 'portal-otp' } }),
      (err: unknown) => err instanceof SmsError && err.code === 'sms_invalid_message' && !err.retryable,
    );
    assert.equal(await count(), before);
  });
});
