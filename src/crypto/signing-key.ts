import { createHash, createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { MasterKeys } from './master-key.ts';

/** An Ed25519 key that signs audit checkpoints, named by its key id. */
export interface SigningKey {
  id: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** What signs checkpoints now, and every public key whose checkpoints this process can check. */
export interface AuditSigningKeys {
  signing: SigningKey;
  trusted: Map<string, KeyObject>;
}

// A label of its own: the master key's other uses (wrapping, its id) never yield this key.
const HKDF_INFO = 'sealpost audit checkpoint signing key v1';
// PKCS#8 for Ed25519 is this fixed prefix and the 32-byte seed (RFC 8410).
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The key id: SHA-256 of the public key's DER (SubjectPublicKeyInfo), hex. openssl computes it too. */
export function signingKeyId(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

function fromPrivate(privateKey: KeyObject): SigningKey {
  const publicKey = createPublicKey(privateKey);
  return { id: signingKeyId(publicKey), privateKey, publicKey };
}

/** The checkpoint key derived from a master key with HKDF-SHA256: no second secret to keep. */
export function deriveSigningKey(masterKey: Buffer): SigningKey {
  const seed = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), HKDF_INFO, 32));
  return fromPrivate(
    createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' }),
  );
}

/** A supplied key: an Ed25519 private key in PEM (`openssl genpkey -algorithm ed25519`), mode 0600. */
export function loadSigningKeyFile(file: string): SigningKey {
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new Error(`${file} is readable by others (mode ${mode.toString(8)}): run chmod 600 ${file}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(file, 'utf8'));
  } catch {
    throw new Error(`${file} does not hold a private key in PEM`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file} must hold an Ed25519 private key`);
  return fromPrivate(key);
}

/**
 * The supplied key signs when there is one, else the key derived from the newest master key. Every
 * key this process can make is trusted: those of all master keys in the file (a rotation keeps the
 * old one there until it is done) and the supplied one.
 */
export function auditSigningKeys(master: MasterKeys, signingKeyFile?: string): AuditSigningKeys {
  const derived = master.keys.map((k) => deriveSigningKey(k.key));
  const supplied = signingKeyFile ? loadSigningKeyFile(signingKeyFile) : null;
  const signing = supplied ?? derived[0]!;
  const trusted = new Map([signing, ...derived].map((k) => [k.id, k.publicKey]));
  return { signing, trusted };
}
