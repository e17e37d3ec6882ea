import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { ConnectionOptions, SecureContext } from 'node:tls';
import { type AddressPolicy, isLoopbackAddress } from './address.ts';
import { guardHost, HostRefused } from './host.ts';
import type { Resolve } from './resolve.ts';

// A fetch for a library that takes one (openid-client, for single sign-on), over a host named by
// someone else: the host resolved here, every address checked (see host.ts), and the socket's
// lookup answering with those addresses only, so no second lookup can answer differently (DNS
// rebinding) while the name stays the TLS server name and the Host header. The answer comes back
// as it is (redirects are not followed); the exchange has a time limit and the answer a size limit.

export interface GuardedFetchOptions {
  policy: AddressPolicy;
  resolve: Resolve;
  /** Plain http allowed to this machine's loopback addresses (a local provider, tests); https elsewhere. */
  httpToLoopback?: boolean;
  /** Trusted roots made once, in place of the system's (which also take SEALPOST_EXTRA_CA_FILE's). */
  secureContext?: SecureContext | undefined;
  /** Connection to last byte. */
  timeoutMs: number;
  /** An answer longer than this is an error. */
  maxBytes: number;
}

/** The host was allowed, but no usable answer came (no connection, TLS, time or size limit). */
export class FetchFailed extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'FetchFailed';
  }
}

export type GuardedFetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/** Statuses whose Response has no body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A fetch that throws a HostRefused when the URL's host may not be reached (or plain http goes
 * anywhere but loopback), and a FetchFailed when it gave no usable answer.
 */
export function guardedFetch(options: GuardedFetchOptions): GuardedFetch {
  return async (input, init) => {
    // Headers and body normalised as fetch itself would (a form body gets its content type).
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new HostRefused('forbidden', `Only https requests are made, not ${url.protocol}.`);
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    const addresses = await guardHost(hostname, options.policy, options.resolve);
    if (url.protocol === 'http:' && !(options.httpToLoopback && addresses.every(isLoopbackAddress)))
      throw new HostRefused(
        'forbidden',
        `Plain http to ${hostname} is refused: https only, but on this machine.`,
      );
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    return exchange(url, hostname, addresses, request, body, options);
  };
}

function exchange(
  url: URL,
  hostname: string,
  addresses: string[],
  request: Request,
  body: Buffer | undefined,
  options: GuardedFetchOptions,
): Promise<Response> {
  const checked = addresses.map((address) => ({ address, family: isIP(address) }));
  // Asked for all addresses, node tries each in turn (happy eyeballs), still only these.
  const pinned: LookupFunction = (_name, lookup, callback) => {
    if (lookup.all) callback(null, checked);
    else callback(null, checked[0]!.address, checked[0]!.family);
  };
  const headers: Record<string, string> = Object.fromEntries(request.headers);
  if (body) headers['content-length'] = String(body.length);
  const secure = url.protocol === 'https:';
  // https hands these on to tls.connect: the certificate is verified for the name.
  const connection: https.RequestOptions & ConnectionOptions = {
    // The name, not an address: it is the TLS server name and the Host header.
    host: hostname,
    port: url.port ? Number(url.port) : undefined,
    path: url.pathname + url.search,
    method: request.method,
    headers,
    lookup: pinned,
    agent: false,
    ...(secure ? { rejectUnauthorized: true } : {}),
    ...(secure && options.secureContext ? { secureContext: options.secureContext } : {}),
  };
  return new Promise((resolve, reject) => {
    // Settled with this reason before the socket's own error (a reset) can say less.
    const fail = (message: string, cause?: unknown) => {
      const error = new FetchFailed(`${hostname}: ${message}`, { cause });
      reject(error);
      req.destroy(error);
    };
    const req = (secure ? https : http).request(connection, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      if (Number(res.headers['content-length']) > options.maxBytes)
        fail(`the answer is over ${options.maxBytes} bytes`);
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) fail(`the answer is over ${options.maxBytes} bytes`);
        else chunks.push(chunk);
      });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        try {
          const answer = new Headers();
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
            answer.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
          resolve(
            new Response(NULL_BODY.has(status) ? null : Buffer.concat(chunks), {
              status,
              statusText: res.statusMessage ?? '',
              headers: answer,
            }),
          );
        } catch (err) {
          reject(
            new FetchFailed(`${hostname}: an answer fetch cannot carry (status ${status})`, { cause: err }),
          );
        }
      });
      res.on('error', (err) => reject(wrapped(hostname, err)));
    });
    // Bounds the whole exchange, not each pause in it: a slow drip is a timeout too.
    const timer = setTimeout(() => fail(`no full answer within ${options.timeoutMs} ms`), options.timeoutMs);
    const abort = () => fail('the request was aborted', request.signal.reason);
    if (request.signal.aborted) abort();
    request.signal.addEventListener('abort', abort, { once: true });
    req.on('error', (err) => reject(wrapped(hostname, err)));
    req.on('close', () => {
      clearTimeout(timer);
      request.signal.removeEventListener('abort', abort);
    });
    req.end(body);
  });
}

function wrapped(hostname: string, err: Error): FetchFailed {
  if (err instanceof FetchFailed) return err;
  const code = (err as NodeJS.ErrnoException).code;
  return new FetchFailed(`${hostname}: ${code ?? err.message}`, { cause: err });
}
