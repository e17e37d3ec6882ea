import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { Keyring, loadMasterKeys } from '../../src/crypto/index.ts';
import { describeEachDb } from '../support/db.ts';

const code = (expected: string) => (err: unknown) => (err as { code?: string }).code === expected;

describeEachDb('keyring', (suite) => {
  let keyFile: string;
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
    keyFile = join(mkdtempSync(join(tmpdir(), 'sealpost-keyring-')), 'master.key');
    keyring = new Keyring(suite.db, loadMasterKeys({ masterKeyFile: keyFile }));
    orgA = await newOrg('A');
    orgB = await newOrg('B');
  });

  test('seal and open; every value gets its own data key; the plaintext is nowhere in the blob', async () => {
    const binding = { table: 'messages', row: 'm1' };
    const one = await keyring.seal(orgA, binding, 'Results: HbA1c 6.1%');
    const two = await keyring.seal(orgA, binding, 'Results: HbA1c 6.1%');
    assert.notDeepEqual(one, two);
    assert.ok(!one.toString('latin1').includes('HbA1c'));
    assert.equal(await keyring.openText(orgA, binding, one), 'Results: HbA1c 6.1%');
    const big = Buffer.alloc(1_000_000, 7);
    assert.deepEqual(await keyring.open(orgA, binding, await keyring.seal(orgA, binding, big)), big);
  });

  test('a blob moved to another row, table or tenant, or altered, does not open', async () => {
    const blob = await keyring.seal(orgA, { table: 'messages', row: 'm1' }, 'secret');
    await assert.rejects(keyring.open(orgA, { table: 'messages', row: 'm2' }, blob), code('seal_invalid'));
    await assert.rejects(keyring.open(orgA, { table: 'contacts', row: 'm1' }, blob), code('seal_invalid'));
    await assert.rejects(keyring.open(orgB, { table: 'messages', row: 'm1' }, blob), code('seal_invalid'));
    for (const at of [0, 3, 10, 70, blob.length - 1]) {
      const altered = Buffer.from(blob);
      altered[at]! ^= 1;
      await assert.rejects(
        keyring.open(orgA, { table: 'messages', row: 'm1' }, altered),
        code('seal_invalid'),
      );
    }
  });

  test('organisation key rotation: new seals use the new version, old ones still open', async () => {
    const binding = { table: 'forms', row: 'f1' };
    const old = await keyring.seal(orgA, binding, 'before');
    const version = await keyring.rotateOrgKey(orgA);
    assert.equal(version, old.readUInt32BE(1) + 1);
    const fresh = await keyring.seal(orgA, binding, 'after');
    assert.equal(fresh.readUInt32BE(1), version);
    assert.equal(await keyring.openText(orgA, binding, old), 'before');
    assert.equal(await keyring.openText(orgA, binding, fresh), 'after');
  });

  test('master key rotation re-wraps every organisation key; data stays readable, also to another process', async () => {
    const binding = { table: 'messages', row: 'm9' };
    const blob = await keyring.seal(orgB, binding, 'kept');
    const oldId = loadMasterKeys({ masterKeyFile: keyFile }).keys[0]!.id;
    const progress: string[] = [];
    const result = await keyring.rotateMaster(undefined, (l) => progress.push(l));
    assert.ok(result.rewrapped >= 3);
    assert.ok(progress.some((l) => /re-wrapped/.test(l)));
    const { rows } = await suite.db.query<{ master_key_id: string }>(
      'SELECT DISTINCT master_key_id FROM org_keys WHERE wrapped_key IS NOT NULL',
    );
    assert.deepEqual(
      rows.map((r) => r.master_key_id),
      [result.master_key_id],
    );
    assert.notEqual(result.master_key_id, oldId);
    assert.equal(readFileSync(keyFile, 'utf8').trim().split('\n').length, 1, 'the old key left the file');
    // A process started after the rotation (fresh keyring, fresh cache) reads with the new key only.
    const other = new Keyring(suite.db, loadMasterKeys({ masterKeyFile: keyFile }));
    assert.equal(await other.openText(orgB, binding, blob), 'kept');
    assert.equal(await keyring.openText(orgB, binding, blob), 'kept');
  });

  test('a process that started before the rotation finds the new master key in the file', async () => {
    const binding = { table: 'messages', row: 'm10' };
    const earlier = new Keyring(suite.db, loadMasterKeys({ masterKeyFile: keyFile }));
    const blob = await keyring.seal(orgB, binding, 'still');
    await keyring.rotateMaster();
    await keyring.rotateOrgKey(orgB); // a key version wrapped only by the newest master key
    const later = await keyring.seal(orgB, binding, 'newer');
    assert.equal(await earlier.openText(orgB, binding, blob), 'still');
    assert.equal(await earlier.openText(orgB, binding, later), 'newer');
  });

  test('destroying an organisation key makes its data unreadable for good, and only its data', async () => {
    const orgC = await newOrg('C');
    const binding = { table: 'messages', row: 'x' };
    const blob = await keyring.seal(orgC, binding, 'shred me');
    const other = await keyring.seal(orgA, binding, 'keep me');
    assert.ok((await keyring.destroyOrgKeys(orgC)) >= 1);
    await assert.rejects(keyring.open(orgC, binding, blob), code('key_destroyed'));
    await assert.rejects(keyring.seal(orgC, binding, 'more'), code('key_destroyed'));
    await assert.rejects(
      new Keyring(suite.db, loadMasterKeys({ masterKeyFile: keyFile })).open(orgC, binding, blob),
      code('key_destroyed'),
    );
    assert.equal(await keyring.openText(orgA, binding, other), 'keep me');
  });

  test('with the master key in the environment, rotation asks for a key file', async () => {
    const envKeyring = new Keyring(suite.db, {
      keys: loadMasterKeys({ masterKeyFile: keyFile }).keys,
      file: null,
    });
    await assert.rejects(envKeyring.rotateMaster(), code('master_key_in_environment'));
  });
});
