import { errors } from '../errors/index.ts';

export type RecipientKeyKind = 'pgp' | 'smime';

export interface ParsedRecipientKey {
  kind: RecipientKeyKind;
  /** OpenPGP: the primary key's fingerprint; X.509: SHA-256 of the certificate. Lower-case hex. */
  fingerprint: string;
  /** When it stops being usable to encrypt; null when it never expires. */
  expiresAt: Date | null;
  /** The encryption key's algorithm, e.g. rsa-3072, ecdh-curve25519Legacy. */
  algorithm: string;
  /** Armored public key or PEM certificate, re-encoded from what was parsed. */
  normalized: string;
}

/** The smallest RSA modulus we encrypt to. */
export const MIN_RSA_BITS = 2048;

export const privateKeyRefused = () =>
  errors.validation(
    'This is a private key. Upload the public key or certificate only: a private key must never leave its owner.',
  );
