import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { encryptPgpMime } from '../../src/encryption/index.ts';
import { splitMessage } from '../../src/mime/index.ts';
import { type GnupgHome, gnupgHome, type PgpKeyPair, pgpKeyPair } from '../support/keys.ts';
import { assertNothingInClear, assertSameContent, outerFields, sampleMessage } from './sample.ts';

/** The armored OpenPGP message inside a PGP/MIME message. */
function armoredPart(message: Buffer): string {
  const text = message.toString('latin1');
  const match = /-----BEGIN PGP MESSAGE-----[\s\S]+?-----END PGP MESSAGE-----/.exec(text);
  assert.ok(match, 'an armored OpenPGP message');
  return match[0];
}

describe('PGP/MIME', () => {
  let raw: Buffer;
  let ecc: PgpKeyPair;
  let rsa: PgpKeyPair;
  let sender: PgpKeyPair;
  let stranger: PgpKeyPair;
  const homes: GnupgHome[] = [];
  const home = async (keys: string[]) => {
    const h = await gnupgHome(keys);
    homes.push(h);
    return h;
  };

  before(async () => {
    raw = await sampleMessage();
    [ecc, rsa, sender, stranger] = await Promise.all([
      pgpKeyPair(),
      pgpKeyPair({ type: 'rsa', rsaBits: 3072, email: 'colleague@example.net' }),
      pgpKeyPair({ email: 'clinic@example.org' }),
      pgpKeyPair({ email: 'someone-else@example.net' }),
    ]);
  });
  after(async () => {
    for (const h of homes) await h.dispose();
  });

  test('gpg decrypts the exact inner entity, for each of two recipients (v4 ECC and RSA)', async () => {
    const encrypted = await encryptPgpMime(raw, [ecc.publicKey, rsa.publicKey]);
    const entity = splitMessage(raw).entity;
    for (const pair of [ecc, rsa]) {
      const gpg = await home([pair.privateKey]);
      const out = await gpg.gpg(['--decrypt'], armoredPart(encrypted));
      assert.equal(out.code, 0, out.stderr);
      assert.ok(out.stdout.equals(entity), 'byte for byte the entity that went in');
      await assertSameContent(out.stdout, raw);
    }
  });

  test('the outer message is RFC 3156 multipart/encrypted with the transport headers and nothing else in clear', async () => {
    const encrypted = await encryptPgpMime(raw, [ecc.publicKey]);
    const fields = outerFields(encrypted);
    const original = outerFields(raw);
    for (const name of ['from', 'to', 'subject', 'date', 'message-id']) {
      assert.equal(fields.get(name), original.get(name), name);
    }
    assert.equal(fields.get('mime-version'), '1.0');
    assert.match(
      fields.get('content-type')!,
      /^multipart\/encrypted; protocol="application\/pgp-encrypted";\s+boundary="[^"]+"$/,
    );
    assertNothingInClear(encrypted, raw);
    assert.ok(!/[^\r]\n/.test(encrypted.toString('latin1')), 'CRLF line ends only');

    // Any MIME parser sees the two parts RFC 3156 asks for.
    const parsed = await simpleParser(encrypted);
    assert.equal(parsed.text, undefined);
    assert.deepEqual(
      parsed.attachments.map((a) => a.contentType),
      ['application/pgp-encrypted', 'application/octet-stream'],
    );
    assert.equal(parsed.attachments[0]!.content.toString().trim(), 'Version: 1');
    assert.equal(parsed.attachments[1]!.filename, 'encrypted.asc');
    assert.equal(parsed.attachments[1]!.contentDisposition, 'inline');
  });

  test('a signed message: the signature is inside the encryption and gpg verifies it', async () => {
    const encrypted = await encryptPgpMime(raw, [ecc.publicKey], {
      signingKey: sender.privateKey,
      passphrase: sender.passphrase,
    });
    const gpg = await home([ecc.privateKey, sender.publicKey]);
    const out = await gpg.gpg(['--status-fd', '2', '--decrypt'], armoredPart(encrypted));
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stderr, /\[GNUPG:\] GOODSIG/);
    assert.match(out.stderr, new RegExp(`\\[GNUPG:\\] VALIDSIG \\S+ .* ${sender.fingerprint.toUpperCase()}`));
    assert.ok(out.stdout.equals(splitMessage(raw).entity));
    // Without the passphrase the locked signing key is refused, not silently skipped.
    await assert.rejects(
      encryptPgpMime(raw, [ecc.publicKey], { signingKey: sender.privateKey }),
      /signing key is locked/,
    );
  });

  test("another recipient's key cannot decrypt", async () => {
    const encrypted = await encryptPgpMime(raw, [ecc.publicKey]);
    const gpg = await home([stranger.privateKey]);
    const out = await gpg.gpg(['--decrypt'], armoredPart(encrypted));
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, /No secret key/);
    assert.equal(out.stdout.length, 0);
  });

  test('outerSubject replaces the Subject outside; the original travels inside as a protected header', async () => {
    const encrypted = await encryptPgpMime(raw, [ecc.publicKey], { outerSubject: 'Secure message' });
    assert.equal(outerFields(encrypted).get('subject'), 'Secure message');
    assert.ok(!encrypted.toString('latin1').includes('Results for'), 'original subject not outside');
    const gpg = await home([ecc.privateKey]);
    const out = await gpg.gpg(['--decrypt'], armoredPart(encrypted));
    assert.equal(out.code, 0, out.stderr);
    const inner = await simpleParser(out.stdout);
    assert.equal(inner.subject, 'Results for Pat Doe');
    assert.match(
      out.stdout.toString('latin1'),
      /^Content-Type: multipart\/mixed;[\s\S]*protected-headers="v1"/,
    );
    await assertSameContent(out.stdout, raw);

    const accented = await encryptPgpMime(raw, [ecc.publicKey], { outerSubject: 'Message sécurisé' });
    assert.equal((await simpleParser(accented)).subject, 'Message sécurisé');
    await assert.rejects(
      encryptPgpMime(raw, [ecc.publicKey], { outerSubject: 'x\r\nBcc: a@b.example' }),
      /one line/,
    );
  });

  test('unusable keys are refused with the reason', async () => {
    const signOnly = await pgpKeyPair({ signOnly: true });
    await assert.rejects(encryptPgpMime(raw, [signOnly.publicKey]), /cannot encrypt/);
    const expired = await pgpKeyPair({
      date: new Date(Date.now() - 3 * 86_400_000),
      keyExpirationTime: 86_400,
    });
    await assert.rejects(encryptPgpMime(raw, [expired.publicKey]), /cannot encrypt.*expired/i);
    await assert.rejects(encryptPgpMime(raw, ['not a key']), /not an OpenPGP public key/);
    await assert.rejects(encryptPgpMime(raw, []), /at least one recipient/);
  });
});
