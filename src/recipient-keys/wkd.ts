// Web Key Directory (draft-koch-openpgp-webkey-service): a recipient's domain publishes OpenPGP
// keys over HTTPS at a path derived from the address. The advanced method (openpgpkey.<domain>)
// comes first; the direct method (<domain> itself) only when that host does not exist. A key
// found is validated like an upload; none published is null, an answer with no usable key a
// WkdKeyRefused, a directory host the guard refuses (a private address) a HostRefused, any other
// failure on the way an error.
import { createHash } from 'node:crypto';
import type { SecureContext } from 'node:tls';
import * as openpgp from 'openpgp';
import { type AddressPolicy, guardedGet, HostRefused, type Resolve } from '../net-guard/index.ts';
import { parseRecipientKey } from './parse.ts';
import type { ParsedRecipientKey } from './types.ts';

export interface WkdOptions {
  /** Host name to addresses; throws when the name does not exist. Injected so tests can pin DNS. */
  resolve: Resolve;
  /** Where the directory may be: its host's addresses are checked before any connection. */
  policy: AddressPolicy;
  /** 443 unless a test says otherwise. */
  port?: number;
  /** Trusted roots in place of the system's (tests use their own CA). */
  ca?: string | string[];
  /** A context made once with the trusted roots: cheaper than `ca` for every lookup. */
  secureContext?: SecureContext;
  /** For each HTTPS request, connection to last byte. */
  timeoutMs?: number;
  /** The time the key must be valid at; now by default. */
  now?: Date;
}

/** The directory answered, but with nothing that passes the checks for the address. */
export class WkdKeyRefused extends Error {
  override name = 'WkdKeyRefused';
}

/** The names a resolver gives up on for good: no such host, or no address for it. */
const NO_HOST = new Set(['ENOTFOUND', 'ENODATA']);

export interface WkdKey {
  method: 'advanced' | 'direct';
  key: ParsedRecipientKey;
}

// A key with a few subkeys and signatures is a few KB; a directory answering more is not one.
const MAX_BYTES = 256 * 1024;
const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

/** The two URLs where a key for `address` may be published: advanced first, then direct. */
export function wkdUrls(address: string): { advanced: URL; direct: URL } {
  const at = address.lastIndexOf('@');
  if (at < 1) throw new Error('not an email address');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1).toLowerCase();
  // The hash is of the local part in ASCII lower case; `l` carries it as written.
  const hu = zbase32(
    createHash('sha1')
      .update(local.replace(/[A-Z]/g, (c) => c.toLowerCase()))
      .digest(),
  );
  const query = `?l=${encodeURIComponent(local)}`;
  return {
    advanced: new URL(`https://openpgpkey.${domain}/.well-known/openpgpkey/${domain}/hu/${hu}${query}`),
    direct: new URL(`https://${domain}/.well-known/openpgpkey/hu/${hu}${query}`),
  };
}

/** Looks up `address` in its domain's Web Key Directory. */
export async function lookupWkd(address: string, options: WkdOptions): Promise<WkdKey | null> {
  const urls = wkdUrls(address);
  let method: WkdKey['method'] = 'advanced';
  let body: Buffer | null;
  try {
    body = await fetchKey(urls.advanced, options);
  } catch (err) {
    // The draft's rule: direct only when the subdomain does not exist, not when DNS is failing.
    if (!(err instanceof HostRefused && NO_HOST.has(err.dnsCode ?? ''))) throw err;
    method = 'direct';
    body = await fetchKey(urls.direct, options);
  }
  if (!body) return null;
  return { method, key: await bestKey(body, address, options.now ?? new Date()) };
}

/**
 * A directory may answer with several keys; the first that passes the upload checks for the
 * address is the one. When none does, the first key's reason is the error.
 */
async function bestKey(body: Buffer, address: string, now: Date): Promise<ParsedRecipientKey> {
  const text = body.toString('latin1');
  let keys: openpgp.Key[];
  try {
    // The draft says binary; some directories serve armor.
    keys = text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')
      ? await openpgp.readKeys({ armoredKeys: text })
      : await openpgp.readKeys({ binaryKeys: body });
  } catch (err) {
    throw new WkdKeyRefused(`the Web Key Directory answered with no OpenPGP key: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let firstError: Error | undefined;
  for (const key of keys) {
    try {
      return await parseRecipientKey(key.armor(), address, now);
    } catch (err) {
      firstError ??= err as Error;
    }
  }
  throw new WkdKeyRefused(firstError?.message ?? 'the Web Key Directory answered with no key', {
    cause: firstError,
  });
}

/** GET over HTTPS, through the guard (src/net-guard). null on 404. */
async function fetchKey(url: URL, options: WkdOptions): Promise<Buffer | null> {
  const answer = await guardedGet(url, {
    policy: options.policy,
    resolve: options.resolve,
    ...(options.port ? { port: options.port } : {}),
    ...(options.ca ? { ca: options.ca } : {}),
    ...(options.secureContext ? { secureContext: options.secureContext } : {}),
    headers: { accept: 'application/octet-stream' },
    timeoutMs: options.timeoutMs ?? 10_000,
    maxBytes: MAX_BYTES,
  });
  if (answer.status === 404) return null;
  if (answer.status !== 200) throw new Error(`WKD lookup at ${url.hostname} answered HTTP ${answer.status}`);
  return answer.body;
}

/** z-base-32 (as WKD uses it): 5 bits a character, most significant first. */
export function zbase32(data: Buffer): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ZBASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ZBASE32[(buffer << (5 - bits)) & 31];
  return out;
}
