import type { IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { ConnectionOptions, SecureContext } from 'node:tls';
import tls from 'node:tls';
import type { AddressPolicy } from './address.ts';
import { guardHost } from './host.ts';
import type { Resolve } from './resolve.ts';

// A GET over HTTPS to a host named by someone else (a recipient domain's key directory or MTA-STS
// policy host): the host resolved here, every address checked (see host.ts), and the request made
// to a checked address with the certificate verified for the name. Redirects are not followed;
// the exchange has a time limit and the answer a size limit.

export interface GuardedGetOptions {
  policy: AddressPolicy;
  resolve: Resolve;
  /** The URL's port, or 443; tests point it at their own server. */
  port?: number;
  headers?: Record<string, string>;
  /** Trusted roots made once (cheaper than `ca` for every request). */
  secureContext?: SecureContext;
  /** Trusted roots in place of the system's. */
  ca?: string | string[];
  /** Connection to last byte, for each address tried. */
  timeoutMs: number;
  /** An answer longer than this is an error. */
  maxBytes: number;
}

export interface HttpsAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * GETs the URL from the first of the host's checked addresses that answers. Throws a HostRefused
 * when the host may not be reached, and the last address's error when none answered.
 */
export async function guardedGet(url: URL, options: GuardedGetOptions): Promise<HttpsAnswer> {
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  const addresses = await guardHost(hostname, options.policy, options.resolve);
  let lastError: unknown;
  for (const address of addresses) {
    try {
      return await getFrom(url, hostname, address, options);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

function getFrom(
  url: URL,
  hostname: string,
  address: string,
  options: GuardedGetOptions,
): Promise<HttpsAnswer> {
  const port = options.port ?? (url.port ? Number(url.port) : 443);
  // https hands these on to tls.connect, which takes a ready-made context too.
  const request: https.RequestOptions & ConnectionOptions = {
    host: address,
    port,
    path: url.pathname + url.search,
    headers: { ...options.headers, host: port === 443 ? hostname : `${hostname}:${port}` },
    servername: hostname,
    checkServerIdentity: (_name, cert) => tls.checkServerIdentity(hostname, cert),
    rejectUnauthorized: true,
    ...(options.secureContext ? { secureContext: options.secureContext } : {}),
    ...(options.ca ? { ca: options.ca } : {}),
    agent: false,
  };
  return new Promise((resolve, reject) => {
    const get = https.get(request, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes)
          get.destroy(new Error(`the answer from ${hostname} is over ${options.maxBytes} bytes`));
        else chunks.push(chunk);
      });
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
      );
      response.on('error', reject);
    });
    // Bounds the whole exchange, not each pause in it: a slow drip is a timeout too.
    const timer = setTimeout(
      () => get.destroy(new Error(`${hostname} timed out after ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    get.on('error', reject);
    get.on('close', () => clearTimeout(timer));
  });
}
