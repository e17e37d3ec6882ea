import { generateKeyPairSync, randomBytes } from 'node:crypto';

export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';

/**
 * pending: published by a rotation, not signing yet. active: signing. retired: replaced by a
 * rotation, its record kept published a while for mail signed before the switch.
 */
export type DkimKeyStatus = 'pending' | 'active' | 'retired';

export interface DkimKeyPair {
  selector: string;
  algorithm: DkimAlgorithm;
  /** The p= value of the DNS record: base64 SubjectPublicKeyInfo for RSA, the raw 32-byte key for Ed25519. */
  publicKey: string;
  privateKeyPem: string;
}

/**
 * A new RSA-2048 and Ed25519 pair for a domain. Receivers that do not know Ed25519 (RFC 8463)
 * still verify the RSA signature, so every message carries both. The selectors share a random
 * tag, so two organisations sending for one domain never collide.
 */
export function generateDkimKeys(): DkimKeyPair[] {
  const tag = randomBytes(3).toString('hex');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ed = generateKeyPairSync('ed25519');
  const edSpki = ed.publicKey.export({ format: 'der', type: 'spki' });
  return [
    {
      selector: `sp${tag}r`,
      algorithm: 'rsa-sha256',
      publicKey: rsa.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
      privateKeyPem: rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    },
    {
      selector: `sp${tag}e`,
      algorithm: 'ed25519-sha256',
      // The last 32 bytes of the SPKI are the key itself.
      publicKey: edSpki.subarray(edSpki.length - 32).toString('base64'),
      privateKeyPem: ed.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    },
  ];
}

export function dkimRecordValue(algorithm: DkimAlgorithm, publicKey: string): string {
  return `v=DKIM1; k=${algorithm === 'rsa-sha256' ? 'rsa' : 'ed25519'}; p=${publicKey}`;
}
