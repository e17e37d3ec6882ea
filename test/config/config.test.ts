import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { ConfigError, describeConfig, loadConfig } from '../../src/config/index.ts';
import { configurationReference } from '../../src/config/reference.ts';

test('defaults: embedded database in ./data, port 8080, key file inside the data folder', () => {
  const config = loadConfig({});
  assert.equal(config.dataDir, resolve('data'));
  assert.equal(config.databaseUrl, undefined);
  assert.equal(config.httpPort, 8080);
  assert.equal(config.publicUrl, 'http://localhost:8080');
  assert.equal(config.masterKeyFile, join(resolve('data'), 'master.key'));
});

test('every mistake is named at once, one line each', () => {
  assert.throws(
    () =>
      loadConfig({
        SEALPOST_HTTP_PORT: '70000',
        SEALPOST_DATABASE_URL: 'mysql://x',
        SEALPOST_PUBLIC_URL: 'not a url',
        SEALPOST_TRUST_PROXY: 'maybe',
        SEALPOST_MASTER_KEY: 'c2hvcnQ=',
        SEALPOST_LOG_LEVEL: 'loud',
        SEALPOST_HTTP_PROT: '1',
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 7, err.message);
      assert.match(err.message, /SEALPOST_HTTP_PORT: must be between 0 and 65535, not 70000/);
      assert.match(err.message, /SEALPOST_DATABASE_URL: must be a postgres:\/\/ URL/);
      assert.match(err.message, /SEALPOST_PUBLIC_URL: must be a URL/);
      assert.match(err.message, /SEALPOST_TRUST_PROXY: must be true or false/);
      assert.match(err.message, /SEALPOST_MASTER_KEY: must be 32 bytes/);
      assert.match(err.message, /SEALPOST_LOG_LEVEL: must be one of/);
      assert.match(err.message, /SEALPOST_HTTP_PROT is not a Sealpost setting/);
      return true;
    },
  );
});

test('address lists: outbound addresses are addresses, private ranges are CIDR', () => {
  const config = loadConfig({
    SEALPOST_OUTBOUND_ADDRESSES: '192.0.2.10, 2001:db8::25',
    SEALPOST_FETCH_PRIVATE_RANGES: '10.20.0.0/16,fd00:1::/48,127.0.0.1',
  });
  assert.deepEqual(config.outboundAddresses, ['192.0.2.10', '2001:db8::25']);
  assert.deepEqual(config.fetchPrivateRanges, ['10.20.0.0/16', 'fd00:1::/48', '127.0.0.1']);
  assert.throws(
    () =>
      loadConfig({
        SEALPOST_OUTBOUND_ADDRESSES: '192.0.2.0/24',
        SEALPOST_FETCH_PRIVATE_RANGES: '10.0.0.0/33',
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(
        err.message,
        /SEALPOST_OUTBOUND_ADDRESSES: must list IP addresses .*not "192\.0\.2\.0\/24"/,
      );
      assert.match(
        err.message,
        /SEALPOST_FETCH_PRIVATE_RANGES: must list address ranges .*not "10\.0\.0\.0\/33"/,
      );
      return true;
    },
  );
});

test('a JSON file supplies settings; the environment wins over it; secrets are masked when shown', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-config-'));
  const file = join(dir, 'sealpost.json');
  writeFileSync(
    file,
    JSON.stringify({ httpPort: 9000, SEALPOST_LOG_LEVEL: 'warn', databaseUrl: 'postgres://u:pw@db/x' }),
  );
  const config = loadConfig({ SEALPOST_CONFIG_FILE: file, SEALPOST_LOG_LEVEL: 'debug' });
  assert.equal(config.httpPort, 9000);
  assert.equal(config.logLevel, 'debug');
  assert.equal(config.publicUrl, 'http://localhost:9000');
  assert.equal(describeConfig(config).databaseUrl, '(set)');

  writeFileSync(file, JSON.stringify({ httpPrt: 1 }));
  assert.throws(() => loadConfig({ SEALPOST_CONFIG_FILE: file }), /httpPrt in .* is not a Sealpost setting/);
  writeFileSync(file, '{ nope');
  assert.throws(() => loadConfig({ SEALPOST_CONFIG_FILE: file }), /cannot read/);
});

test('docs/configuration.md is the reference generated from the schema', () => {
  const onDisk = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  assert.equal(onDisk, configurationReference(), 'run: bin/sealpost config --docs > docs/configuration.md');
});
