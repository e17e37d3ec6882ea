// PGP/MIME (RFC 3156): the whole MIME entity, attachments included, encrypted to every recipient
// key as one OpenPGP message, inside a multipart/encrypted whose outer header keeps only what
// mail transport needs.
import * as openpgp from 'openpgp';
import { splitMessage } from '../mime/index.ts';
import { type EnvelopeOptions, envelope, newBoundary } from './envelope.ts';

export interface PgpMimeOptions extends EnvelopeOptions {
  /** An armored private key: the entity is signed, then encrypted (the signature inside). */
  signingKey?: string;
  /**
   * Unlocks `signingKey` when it is protected. The S2K makes that cost many times the signing and
   * encryption (docs/benchmarks.md): a sender of many messages hands in an unlocked key.
   */
  passphrase?: string;
  /** When the keys must be valid; now by default. */
  date?: Date;
}

const CRLF = '\r\n';

export async function encryptPgpMime(
  raw: Buffer,
  recipientKeys: string[],
  options: PgpMimeOptions = {},
): Promise<Buffer> {
  if (recipientKeys.length === 0) throw new Error('PGP/MIME needs at least one recipient key');
  const date = options.date ?? new Date();
  const encryptionKeys = await Promise.all(recipientKeys.map((k) => recipientKey(k, date)));
  const signingKeys = options.signingKey
    ? [await signingKey(options.signingKey, options.passphrase, date)]
    : undefined;

  const boundary = newBoundary();
  const { inner, head } = envelope(
    splitMessage(raw),
    [
      `Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";${CRLF} boundary="${boundary}"`,
    ],
    options,
  );
  // Binary literal data: what the recipient decrypts is the entity byte for byte, CRLFs and all.
  const armored = await openpgp.encrypt({
    message: await openpgp.createMessage({ binary: inner }),
    encryptionKeys,
    signingKeys,
    date,
    format: 'armored',
  });
  const body = [
    'This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)',
    `--${boundary}`,
    'Content-Type: application/pgp-encrypted',
    'Content-Description: PGP/MIME version identification',
    '',
    'Version: 1',
    '',
    `--${boundary}`,
    'Content-Type: application/octet-stream; name="encrypted.asc"',
    'Content-Description: OpenPGP encrypted message',
    'Content-Disposition: inline; filename="encrypted.asc"',
    '',
    armored.replace(/\r?\n/g, CRLF).trimEnd(),
    '',
    `--${boundary}--`,
    '',
  ].join(CRLF);
  return Buffer.concat([head, Buffer.from(body, 'ascii')]);
}

/** A recipient's public key, refused with a reason when it cannot encrypt at `date`. */
async function recipientKey(armored: string, date: Date): Promise<openpgp.PublicKey> {
  const key = await explain('not an OpenPGP public key', () => openpgp.readKey({ armoredKey: armored }));
  const publicKey = key.isPrivate() ? key.toPublic() : key;
  await explain(`OpenPGP key ${publicKey.getFingerprint()} cannot encrypt`, () =>
    publicKey.getEncryptionKey(undefined, date),
  );
  return publicKey;
}

async function signingKey(armored: string, passphrase: string | undefined, date: Date) {
  const key = await explain('not an OpenPGP private key', () =>
    openpgp.readPrivateKey({ armoredKey: armored }),
  );
  let unlocked = key;
  if (!key.isDecrypted()) {
    if (passphrase === undefined) throw new Error('the signing key is locked and no passphrase was given');
    unlocked = await explain('cannot unlock the signing key', () =>
      openpgp.decryptKey({ privateKey: key, passphrase }),
    );
  }
  await explain(`OpenPGP key ${key.getFingerprint()} cannot sign`, () =>
    unlocked.getSigningKey(undefined, date),
  );
  return unlocked;
}

/** Runs `fn`; its failure becomes "<what>: <its message>". */
async function explain<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
  }
}
