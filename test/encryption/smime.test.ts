import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { encryptSmime } from '../../src/encryption/index.ts';
import { splitMessage } from '../../src/mime/index.ts';
import { run, scratchDir, type SmimeIdentity, smimeIdentity } from '../support/keys.ts';
import { assertNothingInClear, assertSameContent, outerFields, sampleMessage } from './sample.ts';

const DAY = 86_400_000;

describe('S/MIME', () => {
  const files = scratchDir();
  let raw: Buffer;
  let patient: SmimeIdentity;
  let colleague: SmimeIdentity;
  let stranger: SmimeIdentity;

  /** `openssl cms -decrypt` as the holder of `identity`'s private key. */
  const opensslDecrypt = (message: Buffer, identity: SmimeIdentity) =>
    run('openssl', [
      'cms',
      '-decrypt',
      '-binary',
      '-in',
      files.write('message.eml', message),
      '-recip',
      files.write('recip.pem', identity.certificate),
      '-inkey',
      files.write('recip.key', identity.privateKey),
    ]);

  /** The DER envelope of an S/MIME message (its base64 body). */
  const der = (message: Buffer) =>
    Buffer.from(message.toString('latin1').split('\r\n\r\n').slice(1).join(''), 'base64');

  before(async () => {
    raw = await sampleMessage();
    [patient, colleague, stranger] = await Promise.all([
      smimeIdentity(),
      smimeIdentity({ email: 'colleague@example.net' }),
      smimeIdentity({ email: 'someone-else@example.net' }),
    ]);
  });
  after(() => files.dispose());

  for (const [algorithm, smimeType, cms, cipher] of [
    ['aes-256-gcm', 'authEnveloped-data', 'id-smime-ct-authEnvelopedData', 'aes-256-gcm'],
    ['aes-256-cbc', 'enveloped-data', 'pkcs7-envelopedData', 'aes-256-cbc'],
  ] as const) {
    test(`${algorithm}: openssl decrypts the exact inner entity, for each of two recipients`, async () => {
      const encrypted = await encryptSmime(raw, [patient.certificate, colleague.certificate], { algorithm });
      for (const identity of [patient, colleague]) {
        const out = await opensslDecrypt(encrypted, identity);
        assert.equal(out.code, 0, out.stderr);
        assert.ok(out.stdout.equals(splitMessage(raw).entity), 'byte for byte the entity that went in');
        await assertSameContent(out.stdout, raw);
      }

      const fields = outerFields(encrypted);
      const original = outerFields(raw);
      for (const name of ['from', 'to', 'subject', 'date', 'message-id']) {
        assert.equal(fields.get(name), original.get(name), name);
      }
      assert.equal(fields.get('mime-version'), '1.0');
      assert.equal(
        fields.get('content-type')!.replace(/\s+/g, ' '),
        `application/pkcs7-mime; smime-type=${smimeType}; name=smime.p7m`,
      );
      assert.equal(fields.get('content-transfer-encoding'), 'base64');
      assert.equal(fields.get('content-disposition'), 'attachment; filename=smime.p7m');
      assertNothingInClear(encrypted, raw);
      assert.ok(
        encrypted
          .toString('latin1')
          .split('\r\n')
          .every((line) => line.length <= 78),
      );

      // What is inside, as openssl reads it: the content type, the cipher, RSA-OAEP with SHA-256.
      const parsed = await run('openssl', [
        'asn1parse',
        '-inform',
        'DER',
        '-in',
        files.write('envelope.der', der(encrypted)),
      ]);
      const dump = parsed.stdout.toString();
      assert.match(dump, new RegExp(`OBJECT\\s+:${cms}`));
      assert.match(dump, new RegExp(`OBJECT\\s+:${cipher}\\b`));
      assert.equal(dump.match(/OBJECT\s+:rsaesOaep/g)?.length, 2);
      assert.equal(dump.match(/OBJECT\s+:mgf1/g)?.length, 2);
      assert.equal(dump.match(/OBJECT\s+:sha256/g)?.length, 4);
    });
  }

  test("another recipient's key cannot decrypt", async () => {
    for (const algorithm of ['aes-256-gcm', 'aes-256-cbc'] as const) {
      const encrypted = await encryptSmime(raw, [patient.certificate], { algorithm });
      const out = await opensslDecrypt(encrypted, stranger);
      assert.notEqual(out.code, 0);
      assert.match(out.stderr, /Error decrypting CMS using private key/);
      assert.equal(out.stdout.length, 0);
    }
  });

  test('openssl refuses a GCM message altered in its ciphertext or its tag; CBC cannot tell', async () => {
    // The same change, one bit of ciphertext 100 bytes before the end of the content.
    const alter = async (algorithm: 'aes-256-gcm' | 'aes-256-cbc', fromEnd: number) => {
      const encrypted = await encryptSmime(raw, [patient.certificate], { algorithm });
      const head = encrypted.subarray(0, encrypted.indexOf('\r\n\r\n') + 4);
      const envelope = der(encrypted);
      envelope[envelope.length - fromEnd]! ^= 0x01;
      const body = envelope.toString('base64').replace(/.{76}/g, '$&\r\n');
      return opensslDecrypt(Buffer.concat([head, Buffer.from(body)]), patient);
    };
    // A GCM envelope ends with the tag, an OCTET STRING of 16 bytes, right after the ciphertext.
    for (const fromEnd of [18 + 100, 1]) {
      const out = await alter('aes-256-gcm', fromEnd);
      assert.notEqual(out.code, 0, `altered byte ${fromEnd} from the end accepted`);
      assert.match(out.stderr, /Error decrypting CMS structure/);
      // openssl streams: what it wrote before the tag check failed is not to be used.
    }
    // The CBC envelope ends with the ciphertext: an altered block decrypts to garbage, silently.
    const cbc = await alter('aes-256-cbc', 100);
    assert.equal(cbc.code, 0);
    assert.ok(!cbc.stdout.equals(splitMessage(raw).entity));
  });

  test('outerSubject replaces the Subject outside; the original travels inside', async () => {
    const encrypted = await encryptSmime(raw, [patient.certificate], {
      algorithm: 'aes-256-gcm',
      outerSubject: 'Secure message',
    });
    assert.equal(outerFields(encrypted).get('subject'), 'Secure message');
    assert.ok(!encrypted.toString('latin1').includes('Results for'));
    const out = await opensslDecrypt(encrypted, patient);
    assert.equal(out.code, 0, out.stderr);
    assert.equal((await simpleParser(out.stdout)).subject, 'Results for Pat Doe');
    await assertSameContent(out.stdout, raw);
  });

  test('unusable certificates are refused with the reason', async () => {
    const options = { algorithm: 'aes-256-gcm' } as const;
    const ec = await smimeIdentity({ ec: true });
    await assert.rejects(
      encryptSmime(raw, [ec.certificate], options),
      /has a ec key; S\/MIME here needs RSA/,
    );
    const weak = await smimeIdentity({ rsaBits: 1024 });
    await assert.rejects(encryptSmime(raw, [weak.certificate], options), /RSA-1024 key; at least 2048/);
    const expired = await smimeIdentity({
      notBefore: new Date(Date.now() - 30 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    await assert.rejects(encryptSmime(raw, [expired.certificate], options), /expired on/);
    await assert.rejects(encryptSmime(raw, ['garbage'], options), /not an X\.509 certificate/);
    await assert.rejects(encryptSmime(raw, [], options), /at least one recipient/);
  });
});
