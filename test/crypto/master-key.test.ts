import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadMasterKeys, masterKeyId } from '../../src/crypto/index.ts';

const folder = () => mkdtempSync(join(tmpdir(), 'sealpost-mk-'));

test('a missing key file is generated with mode 0600 in a 0700 folder, and read back the same', () => {
  const file = join(folder(), 'new', 'master.key');
  const first = loadMasterKeys({ masterKeyFile: file });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(join(file, '..')).mode & 0o777, 0o700);
  assert.equal(first.keys.length, 1);
  assert.equal(first.keys[0]!.key.length, 32);
  assert.deepEqual(loadMasterKeys({ masterKeyFile: file }).keys[0]!.key, first.keys[0]!.key);
});

test('a key file others can read, or a malformed one, is refused with a clear message', () => {
  const file = join(folder(), 'master.key');
  writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o644 });
  chmodSync(file, 0o644);
  assert.throws(() => loadMasterKeys({ masterKeyFile: file }), /readable by others .*chmod 600/);
  writeFileSync(file, 'c2hvcnQ=\n');
  chmodSync(file, 0o600);
  assert.throws(() => loadMasterKeys({ masterKeyFile: file }), /line 1: a master key must be 32 bytes/);
});

test('several keys, newest first; a key from the environment wins over the file', () => {
  const file = join(folder(), 'master.key');
  const [a, b] = [randomBytes(32), randomBytes(32)];
  writeFileSync(file, `${a.toString('base64')}\n${b.toString('base64')}\n`, { mode: 0o600 });
  const keys = loadMasterKeys({ masterKeyFile: file });
  assert.deepEqual(
    keys.keys.map((k) => k.id),
    [masterKeyId(a), masterKeyId(b)],
  );
  const env = loadMasterKeys({ masterKeyFile: file, masterKey: b.toString('base64') });
  assert.equal(env.file, null);
  assert.deepEqual(env.keys[0]!.key, b);
  assert.ok(readFileSync(file, 'utf8').includes(a.toString('base64')));
});
