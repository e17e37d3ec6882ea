// What a recipient key upload must be: one OpenPGP public key or one X.509 certificate, usable
// now to encrypt to the address it is filed under. Everything else is refused with the reason.
import { createPrivateKey } from 'node:crypto';
import { errors } from '../errors/index.ts';
import { normalizeAddress as messageAddress } from '../messages/index.ts';
import { parsePgpKey } from './pgp.ts';
import { type ParsedRecipientKey, privateKeyRefused } from './types.ts';
import { parseCertificate } from './x509.ts';

/** The address as messages are addressed (so keys are found at delivery), or a validation error. */
export function normalizeAddress(address: string): string {
  const normalized = messageAddress(address);
  if (!normalized) throw errors.validation('The address is not an email address.');
  return normalized;
}

/**
 * Detects and validates a recipient key: an armored OpenPGP public key, or an X.509 certificate
 * in PEM or base64 DER, for `address` (compared without regard to case).
 */
export async function parseRecipientKey(
  input: string,
  address: string,
  now: Date,
): Promise<ParsedRecipientKey> {
  const text = input.trim();
  const wanted = address.trim().toLowerCase();
  if (/-----BEGIN PGP PRIVATE KEY BLOCK-----|-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text))
    throw privateKeyRefused();
  if (text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) {
    const blocks = text.split('-----BEGIN PGP PUBLIC KEY BLOCK-----').length - 1;
    if (blocks !== 1) throw errors.validation(`The text holds ${blocks} OpenPGP key blocks; upload one key.`);
    return parsePgpKey(text, wanted, now);
  }
  if (text.includes('-----BEGIN CERTIFICATE-----')) {
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length !== 1)
      throw errors.validation(`The text holds ${blocks.length} certificates; upload the recipient's only.`);
    return parseCertificate(pemBody(blocks[0]!), wanted, now);
  }
  if (/^[A-Za-z0-9+/=\s]+$/.test(text)) {
    const der = Buffer.from(text.replace(/\s+/g, ''), 'base64');
    if (isPrivateKeyDer(der)) throw privateKeyRefused();
    return parseCertificate(der, wanted, now);
  }
  throw errors.validation(
    'The key is neither an armored OpenPGP public key nor an X.509 certificate (PEM or base64 DER).',
  );
}

function pemBody(block: string): Buffer {
  return Buffer.from(block.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, ''), 'base64');
}

/** Base64 DER can hide a private key as well as PEM can. */
function isPrivateKeyDer(der: Buffer): boolean {
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      createPrivateKey({ key: der, format: 'der', type });
      return true;
    } catch {
      // not this kind of private key
    }
  }
  return false;
}
