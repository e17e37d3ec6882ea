import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SecureContext } from 'node:tls';
import type { Target } from './guard.ts';

// One POST to a webhook endpoint, to the address already checked (see guard.ts): the request's
// own `lookup` answers with that address, so Node never asks DNS again. Redirects are never
// followed (a 3xx is a failure), the connection and the whole exchange have time limits, and the
// answer's body is read up to a small limit and thrown away.

export interface SendOptions {
  /** Connecting (TCP and TLS) may take this long. */
  connectTimeoutMs: number;
  /** The whole exchange, connecting to the last byte read, may take this long. */
  timeoutMs: number;
  /** Trusted roots (the system's, plus SEALPOST_EXTRA_CA_FILE's). */
  secureContext?: SecureContext;
  /** Most response bytes read before the answer is cut off. */
  maxResponseBytes?: number;
  /** Keep-alive pools, one per process. */
  agents?: { http: http.Agent; https: https.Agent };
  /** Aborts the attempt (the worker is stopping). */
  signal?: AbortSignal;
}

export interface SendOutcome {
  ok: boolean;
  /** The HTTP status, or null when no answer came. */
  status: number | null;
  durationMs: number;
  /** Why it failed, for the delivery log (never the response body). */
  error: string | null;
}

export function keepAliveAgents(maxSockets = 64): { http: http.Agent; https: https.Agent } {
  const options = { keepAlive: true, maxSockets, maxFreeSockets: 16, scheduling: 'lifo' as const };
  return { http: new http.Agent(options), https: new https.Agent(options) };
}

const USER_AGENT = 'Sealpost-Webhooks/1';

export function sendWebhook(
  target: Target,
  body: string,
  headers: Record<string, string>,
  options: SendOptions,
): Promise<SendOutcome> {
  const started = performance.now();
  const maxBytes = options.maxResponseBytes ?? 64 * 1024;
  const lookup: LookupFunction = (_hostname, lookupOptions, callback) => {
    if ((lookupOptions as { all?: boolean }).all)
      (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
        { address: target.address, family: target.family },
      ]);
    else callback(null, target.address, target.family);
  };
  const secure = target.url.protocol === 'https:';
  return new Promise<SendOutcome>((resolve) => {
    let settled = false;
    const finish = (status: number | null, error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(connectTimer);
      options.signal?.removeEventListener('abort', onAbort);
      const ok = error === null && status !== null && status >= 200 && status < 300;
      resolve({ ok, status, durationMs: Math.round(performance.now() - started), error });
    };
    const request = (secure ? https : http).request({
      method: 'POST',
      host: target.hostname,
      port: target.port,
      path: `${target.url.pathname}${target.url.search}`,
      lookup,
      headers: {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'user-agent': USER_AGENT,
        ...headers,
      },
      ...(options.agents ? { agent: secure ? options.agents.https : options.agents.http } : { agent: false }),
      ...(secure
        ? {
            ...(isIP(target.hostname) ? {} : { servername: target.hostname }),
            ...(options.secureContext ? { secureContext: options.secureContext } : {}),
          }
        : {}),
    });
    const fail = (message: string) => {
      finish(null, message);
      request.destroy();
    };
    const deadline = setTimeout(
      () => fail(`no complete answer within ${Math.round(options.timeoutMs / 1000)} s`),
      options.timeoutMs,
    );
    let connectTimer: NodeJS.Timeout | undefined;
    const onAbort = () => fail('the worker stopped');
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    request.on('socket', (socket) => {
      if (!socket.connecting) return; // a kept-alive connection
      connectTimer = setTimeout(
        () => fail(`could not connect within ${Math.round(options.connectTimeoutMs / 1000)} s`),
        options.connectTimeoutMs,
      );
      socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    });
    request.on('error', (err: NodeJS.ErrnoException) => finish(null, describe(err)));
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      let read = 0;
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > maxBytes) {
          // Enough: the answer's body is never used, only its status.
          response.destroy();
          finish(status, status >= 300 && status < 400 ? redirected(response) : errorFor(status));
        }
      });
      response.on('end', () =>
        finish(status, status >= 300 && status < 400 ? redirected(response) : errorFor(status)),
      );
      response.on('error', (err: NodeJS.ErrnoException) => finish(status, describe(err)));
    });
    request.end(body);
  });
}

function redirected(response: http.IncomingMessage): string {
  return `answered ${response.statusCode} (a redirect): redirects are not followed, register the final URL`;
}

function errorFor(status: number): string | null {
  return status >= 200 && status < 300 ? null : `answered HTTP ${status}`;
}

function describe(err: NodeJS.ErrnoException): string {
  const text = err.code ? `${err.code}: ${err.message}` : err.message;
  return text.slice(0, 300);
}
