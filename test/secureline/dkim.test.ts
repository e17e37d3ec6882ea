import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { simpleParser } from 'mailparser';
import { dkimRecordValue, generateDkimKeys } from '../../src/domains/dkim.ts';
import type { MessageContent } from '../../src/messages/index.ts';
import { SIGNED_HEADERS as HEADERS } from '../../src/secureline/dkim.ts';
import { buildMessage, signDkim } from '../../src/secureline/index.ts';

// signDkim signs with keys parsed once; what it writes must be exactly what mailauth's own signer
// writes with the PEM keys, and verify.

const content = (subject: string): MessageContent =>
  ({
    from: { name: 'Dr Ünal, Clinic', address: 'notify@clinic.test' },
    to: [{ address: 'patient@example.test' }],
    cc: [
      { name: 'A very long name that makes the header fold across more than one line', address: 'cc@x.test' },
    ],
    bcc: [],
    reply_to: [],
    subject,
    text: `Line with trailing spaces   \n\tand a tab\n${'x'.repeat(2000)}\n\n\n`,
    html: '<p>Héllo</p>',
    headers: { 'List-Unsubscribe': '<mailto:u@clinic.test>' },
    attachments: [{ filename: 'a.bin', content_type: 'application/octet-stream', content: 'AAEC/w==' }],
  }) as unknown as MessageContent;

const signingKeys = () =>
  generateDkimKeys().map((k) => ({
    pair: k,
    key: { selector: k.selector, algorithm: k.algorithm, privateKeyPem: k.privateKeyPem },
  }));

test('signatures are byte for byte those of mailauth, and verify; a new key set signs with the new keys', async () => {
  const now = new Date('2026-11-23T10:00:00Z');
  for (const keys of [signingKeys(), signingKeys()]) {
    for (const subject of [
      'Results',
      'A subject  with  runs of spaces that is long enough to be folded by the composer ok',
    ]) {
      const raw = await buildMessage(content(subject), '<m1@clinic.test>', now);
      const ours = await signDkim(
        raw,
        'clinic.test',
        keys.map((k) => k.key),
        now,
      );
      const theirs = await dkimSign(raw, {
        signingDomain: 'clinic.test',
        selector: keys[0]!.key.selector,
        privateKey: keys[0]!.key.privateKeyPem,
        canonicalization: 'relaxed/relaxed',
        signTime: now,
        headerList: HEADERS,
        signatureData: keys.map((k) => ({
          signingDomain: 'clinic.test',
          selector: k.key.selector,
          privateKey: k.key.privateKeyPem,
          algorithm: k.key.algorithm,
          canonicalization: 'relaxed/relaxed',
          headerList: HEADERS,
        })),
      });
      assert.deepEqual(theirs.errors, []);
      assert.equal(ours.toString('latin1'), theirs.signatures + raw.toString('latin1'));

      const records = new Map(
        keys.map((k) => [
          `${k.pair.selector}._domainkey.clinic.test`,
          dkimRecordValue(k.pair.algorithm, k.pair.publicKey),
        ]),
      );
      const verified = await dkimVerify(ours, {
        curTime: now,
        resolver: async (name: string) => {
          const value = records.get(name);
          if (!value) throw Object.assign(new Error('no record'), { code: 'ENOTFOUND' });
          return [[value]];
        },
      });
      assert.deepEqual(verified.results.map((r) => `${r.algo} ${r.status.result}`).sort(), [
        'ed25519-sha256 pass',
        'rsa-sha256 pass',
      ]);
    }
  }
});

test('a key of the wrong type for its algorithm is refused, not used', async () => {
  const [rsa, ed] = generateDkimKeys();
  const raw = await buildMessage(content('x'), '<m2@clinic.test>', new Date());
  await assert.rejects(
    signDkim(
      raw,
      'clinic.test',
      [{ selector: 's1', algorithm: 'ed25519-sha256', privateKeyPem: rsa!.privateKeyPem }],
      new Date(),
    ),
    /is rsa, not ed25519/,
  );
  await assert.rejects(signDkim(raw, 'clinic.test', [], new Date()), /no active DKIM key/);
  assert.ok(ed);
});

test('a message is built with CRLF line breaks only, and its text and HTML read back unchanged', async () => {
  const c = content('Line breaks');
  const raw = await buildMessage(c, '<m3@clinic.test>', new Date());
  const bare = raw.toString('latin1').match(/(?<!\r)\n/g);
  assert.equal(bare, null, 'no bare LF in the message');
  const parsed = await simpleParser(raw);
  assert.equal(parsed.text?.replace(/\r\n/g, '\n'), c.text);
  assert.equal(parsed.html, c.html);
  assert.deepEqual(
    parsed.attachments.map((a) => a.content.toString('base64')),
    ['AAEC/w=='],
  );
});
