// Web Key Directory (draft-koch-openpgp-webkey-service): a recipient's domain publishes OpenPGP
// keys over HTTPS at a path derived from the address. The advanced method (openpgpkey.<domain>)
// comes first; the direct method (<domain> itself) only when that host does not exist. A key
// found is validated like an upload; none published is null, an answer with no usable key a
// WkdKeyRefused, any other failure on the way an error.
import { createHash } from 'node:crypto';
import https from 'node:https';
import type { ConnectionOptions, SecureContext } from 'node:tls';
import * as openpgp from 'openpgp';
import { parseRecipientKey } from './parse.ts';
import type { ParsedRecipientKey } from './types.ts';

export interface WkdOptions {
  /** Hostname to IP address; throws when the name does not exist. Injected so tests can pin DNS. */
  resolve(hostname: string): Promise<string>;
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
  let url = urls.advanced;
  let ip: string;
  try {
    ip = await options.resolve(url.hostname);
  } catch (err) {
    // The draft's rule: direct only when the subdomain does not exist, not when DNS is failing.
    if (!NO_HOST.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
    method = 'direct';
    url = urls.direct;
    ip = await options.resolve(url.hostname);
  }
  const body = await fetchKey(url, ip, options);
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

/** GET over HTTPS to `ip`, the certificate checked for the URL's hostname. null on 404. */
function fetchKey(url: URL, ip: string, options: WkdOptions): Promise<Buffer | null> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  // https passes these on to tls.connect, which takes a ready-made context too.
  const requestOptions: https.RequestOptions & ConnectionOptions = {
    host: ip,
    servername: url.hostname,
    port: options.port ?? 443,
    path: url.pathname + url.search,
    headers: { host: url.hostname, accept: 'application/octet-stream' },
    ca: options.ca,
    secureContext: options.secureContext,
    agent: false,
  };
  return new Promise((resolve, reject) => {
    const request = https.get(requestOptions, (response) => {
      if (response.statusCode === 404) {
        response.resume();
        resolve(null);
        return;
      }
      if (response.statusCode !== 200) {
        response.resume();
        reject(new Error(`WKD lookup at ${url.hostname} answered HTTP ${response.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BYTES)
          request.destroy(new Error(`WKD answer from ${url.hostname} is over ${MAX_BYTES} bytes`));
        else chunks.push(chunk);
      });
      response.on('end', () => resolve(Buffer.concat(chunks)));
      response.on('error', reject);
    });
    // Bounds the whole exchange, not each pause in it: a slow drip is a timeout too.
    const timer = setTimeout(
      () => request.destroy(new Error(`WKD lookup at ${url.hostname} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    request.on('error', reject);
    request.on('close', () => clearTimeout(timer));
  });
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
