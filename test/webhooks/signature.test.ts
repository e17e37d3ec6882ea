import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { generateSecret, secretKey, sign, signedHeaders } from '../../src/webhooks/index.ts';

// Sealpost's signer against the `standardwebhooks` package, an independent implementation of
// the Standard Webhooks specification.

test('a generated secret is whsec_ and 32 random bytes in base64, different each time', () => {
  const a = generateSecret();
  assert.match(a, /^whsec_[A-Za-z0-9+/]+={0,2}$/);
  assert.equal(secretKey(a).length, 32);
  assert.notEqual(a, generateSecret());
  assert.throws(() => secretKey('sk_nope'));
  assert.throws(() => secretKey(`whsec_${Buffer.alloc(8).toString('base64')}`));
});

test('our signature is the one standardwebhooks computes, and it verifies there', () => {
  const secret = generateSecret();
  const body = JSON.stringify({
    id: 'e1',
    type: 'message.delivered',
    data: { smtp_code: 250, note: 'ünïcødé' },
  });
  const id = '6f1c3a52-7b7e-4d39-9a0e-1f2f4b5d6e7f';
  const now = new Date();
  const timestamp = Math.floor(now.getTime() / 1000);
  const ours = sign(secretKey(secret), id, timestamp, body);
  const theirs = new Webhook(secret).sign(id, new Date(timestamp * 1000), body);
  assert.equal(ours, theirs);
  const headers = signedHeaders([secretKey(secret)], id, timestamp, body);
  assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
});

test('with two secrets both signatures are sent, and a receiver with either one accepts', () => {
  const [oldSecret, newSecret, stranger] = [generateSecret(), generateSecret(), generateSecret()];
  const body = '{"id":"x"}';
  const headers = signedHeaders(
    [secretKey(newSecret), secretKey(oldSecret)],
    'msg_1',
    Math.floor(Date.now() / 1000),
    body,
  );
  assert.equal(headers['webhook-signature'].split(' ').length, 2);
  assert.ok(new Webhook(oldSecret).verify(body, headers));
  assert.ok(new Webhook(newSecret).verify(body, headers));
  assert.throws(() => new Webhook(stranger).verify(body, headers), /signature/i);
  // A changed body, id or timestamp no longer verifies.
  assert.throws(() => new Webhook(newSecret).verify('{"id":"y"}', headers));
  assert.throws(() => new Webhook(newSecret).verify(body, { ...headers, 'webhook-id': 'msg_2' }));
  const old = signedHeaders([secretKey(newSecret)], 'msg_1', Math.floor(Date.now() / 1000) - 3600, body);
  assert.throws(() => new Webhook(newSecret).verify(body, old), /timestamp/i);
});
