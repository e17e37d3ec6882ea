import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, describeConfig, loadConfig } from '../../src/config/index.ts';
import type { Keyring } from '../../src/crypto/index.ts';
import type { Db } from '../../src/db/index.ts';
import {
  createSmsSender,
  NotConfiguredSmsSender,
  SmsError,
  smsConfigProblems,
  TwilioCompatibleSender,
} from '../../src/sms/index.ts';

// Not reached: neither sender below touches the database or the keyring.
const deps = { db: {} as Db, keyring: {} as Keyring, sandbox: false };

const TWILIO = {
  SEALPOST_SMS_PROVIDER: 'twilio-compatible',
  SEALPOST_SMS_API_URL: 'https://api.twilio.com/',
  SEALPOST_SMS_ACCOUNT: 'AC0123456789abcdef0123456789abcdef',
  SEALPOST_SMS_TOKEN: 'secret-token',
  SEALPOST_SMS_FROM: '+15550100100',
};

test('SMS is off by default: sending fails, not retryable, saying how to configure it', async () => {
  const config = loadConfig({});
  assert.equal(config.smsProvider, 'none');
  assert.equal(config.smsTimeoutSeconds, 10);
  assert.deepEqual(smsConfigProblems(config), []);
  const sender = createSmsSender(config, deps);
  assert.ok(sender instanceof NotConfiguredSmsSender);
  await assert.rejects(
    sender.send({
      to: '+15550100199',
      body: 'Code 123456',
      context: { orgId: '6f1c1a52-4a0e-4f4e-9f35-2f3a4c7d8e90', purpose: 'portal-otp' },
    }),
    (err: unknown) => {
      assert.ok(err instanceof SmsError);
      assert.equal(err.code, 'sms_not_configured');
      assert.equal(err.retryable, false);
      assert.match(err.message, /SMS is not configured.*SEALPOST_SMS_PROVIDER/);
      return true;
    },
  );
});

test('twilio-compatible with every setting: a client; the token is masked when shown', () => {
  const config = loadConfig({ ...TWILIO, SEALPOST_SMS_TIMEOUT_SECONDS: '5' });
  assert.equal(config.smsApiUrl, 'https://api.twilio.com');
  assert.deepEqual(smsConfigProblems(config), []);
  assert.ok(createSmsSender(config, deps) instanceof TwilioCompatibleSender);
  assert.equal(describeConfig(config).smsToken, '(set)');
  // An alphanumeric sender id, and plain http on a loopback address (a local gateway), are fine.
  for (const extra of [
    { SEALPOST_SMS_FROM: 'Sealpost' },
    { SEALPOST_SMS_API_URL: 'http://127.0.0.1:8089' },
    { SEALPOST_SMS_API_URL: 'http://[::1]:8089' },
    { SEALPOST_SMS_API_URL: 'http://localhost:8089/gateway' },
  ])
    assert.deepEqual(smsConfigProblems(loadConfig({ ...TWILIO, ...extra })), [], JSON.stringify(extra));
});

test('twilio-compatible without its settings names each one missing, at once', () => {
  const config = loadConfig({ SEALPOST_SMS_PROVIDER: 'twilio-compatible' });
  const problems = smsConfigProblems(config);
  assert.deepEqual(problems, [
    'SEALPOST_SMS_API_URL is required when SEALPOST_SMS_PROVIDER is twilio-compatible',
    'SEALPOST_SMS_ACCOUNT is required when SEALPOST_SMS_PROVIDER is twilio-compatible',
    'SEALPOST_SMS_TOKEN is required when SEALPOST_SMS_PROVIDER is twilio-compatible',
    'SEALPOST_SMS_FROM is required when SEALPOST_SMS_PROVIDER is twilio-compatible',
  ]);
  // createSmsSender refuses with the configuration's own error type (in sandbox mode too), so
  // `sealpost serve` prints it as it prints every configuration mistake.
  for (const sandbox of [false, true])
    assert.throws(
      () => createSmsSender(config, { ...deps, sandbox }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.problems, problems);
        assert.match(err.message, /^Invalid configuration:\n {2}- SEALPOST_SMS_API_URL is required/);
        return true;
      },
    );
});

test('mistakes in the SMS settings are named: http to a remote carrier, credentials in the URL, a bad sender', () => {
  const problems = (extra: Record<string, string>) => smsConfigProblems(loadConfig({ ...TWILIO, ...extra }));
  assert.match(problems({ SEALPOST_SMS_API_URL: 'http://api.twilio.com' })[0]!, /must be https:\/\//);
  assert.match(
    problems({ SEALPOST_SMS_API_URL: 'https://AC1:tok@api.twilio.com' })[0]!,
    /must not hold credentials/,
  );
  assert.match(problems({ SEALPOST_SMS_API_URL: 'https://api.twilio.com?x=1' })[0]!, /query/);
  assert.match(problems({ SEALPOST_SMS_ACCOUNT: 'AC:1' })[0]!, /SEALPOST_SMS_ACCOUNT: must not contain ":"/);
  assert.match(problems({ SEALPOST_SMS_FROM: '555-0100' })[0]!, /SEALPOST_SMS_FROM: must be a phone number/);
  assert.match(problems({ SEALPOST_SMS_FROM: 'TwelveLetter' })[0]!, /SEALPOST_SMS_FROM/);
});

test('loadConfig itself checks the types: an unknown provider, a timeout out of range', () => {
  assert.throws(
    () => loadConfig({ SEALPOST_SMS_PROVIDER: 'carrier-pigeon', SEALPOST_SMS_TIMEOUT_SECONDS: '0' }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /SEALPOST_SMS_PROVIDER: must be one of none, twilio-compatible/);
      assert.match(err.message, /SEALPOST_SMS_TIMEOUT_SECONDS: must be between 1 and 120/);
      return true;
    },
  );
});
