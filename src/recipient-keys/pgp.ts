// OpenPGP public keys: valid now, not revoked, with a user ID for the address and a key that can
// encrypt.
import * as openpgp from 'openpgp';
import { errors } from '../errors/index.ts';
import { MIN_RSA_BITS, type ParsedRecipientKey, privateKeyRefused } from './types.ts';

export async function parsePgpKey(armored: string, address: string, now: Date): Promise<ParsedRecipientKey> {
  let keys: openpgp.Key[];
  try {
    keys = await openpgp.readKeys({ armoredKeys: armored });
  } catch (err) {
    throw errors.validation(`The OpenPGP key does not read: ${(err as Error).message}`);
  }
  if (keys.length !== 1) throw errors.validation(`The text holds ${keys.length} OpenPGP keys; upload one.`);
  const key = keys[0]!;
  if (key.isPrivate()) throw privateKeyRefused();

  if (await key.isRevoked(undefined, undefined, now)) throw errors.validation('The OpenPGP key is revoked.');
  const expires = await key.getExpirationTime();
  if (expires instanceof Date && expires <= now)
    throw errors.validation(`The OpenPGP key expired on ${expires.toISOString()}.`);
  try {
    await key.verifyPrimaryKey(now);
  } catch (err) {
    throw errors.validation(`The OpenPGP key is not valid: ${(err as Error).message}`);
  }

  for (const packet of [key, ...key.subkeys]) {
    const { algorithm, bits } = packet.getAlgorithmInfo();
    if (algorithm.startsWith('rsa') && (bits ?? 0) < MIN_RSA_BITS)
      throw errors.validation(
        `The OpenPGP key holds an RSA-${bits} key; at least ${MIN_RSA_BITS} bits are required.`,
      );
  }

  if (!(await hasUserId(key, address, now)))
    throw errors.validation('No valid user ID of the OpenPGP key has the recipient address.');

  let encryptionKey: openpgp.PublicKey | openpgp.Subkey;
  try {
    encryptionKey = await key.getEncryptionKey(undefined, now);
  } catch (err) {
    throw errors.validation(
      `The OpenPGP key has no key that can encrypt now (a signing-only key, or its encryption subkey expired or was revoked): ${(err as Error).message}`,
    );
  }
  const subkeyExpires =
    encryptionKey instanceof openpgp.Subkey ? await encryptionKey.getExpirationTime(now) : expires;

  return {
    kind: 'pgp',
    fingerprint: key.getFingerprint().toLowerCase(),
    expiresAt: earliest(expires, subkeyExpires),
    algorithm: algorithmName(encryptionKey.getAlgorithmInfo()),
    normalized: key.armor(),
  };
}

/** A user ID with the address (in any case) that is self-certified and not revoked at `now`. */
async function hasUserId(key: openpgp.Key, address: string, now: Date): Promise<boolean> {
  for (const user of key.users) {
    if (user.userID?.email.toLowerCase() !== address) continue;
    try {
      await user.verify(now);
      return true;
    } catch {
      // revoked or badly signed: look further
    }
  }
  return false;
}

type Expiry = Date | number | null;

function earliest(...times: Expiry[]): Date | null {
  const dates = times.filter((t): t is Date => t instanceof Date);
  if (dates.length === 0) return null;
  return new Date(Math.min(...dates.map((d) => d.getTime())));
}

function algorithmName(info: { algorithm: string; bits?: number; curve?: string }): string {
  if (info.algorithm.startsWith('rsa')) return `rsa-${info.bits}`;
  return info.curve ? `${info.algorithm}-${info.curve}` : info.algorithm;
}
