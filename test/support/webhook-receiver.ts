// A webhook receiver on loopback over HTTPS (a certificate from a test CA), as an integrator runs
// one: it keeps every request it gets, and answers each path as the test says (a status, a
// redirect, a slow answer). Signatures are checked by the tests with the `standardwebhooks`
// package, an implementation independent of Sealpost's.
import { EventEmitter } from 'node:events';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestCa } from './test-ca.ts';

export interface ReceivedHook {
  path: string;
  headers: Record<string, string>;
  body: string;
  json: any;
  at: number;
}

/** How a path answers: a status, or a list of statuses used up one per request (then 200). */
export type Behaviour =
  { status: number } | { statuses: number[] } | { redirect: string } | { delayMs: number; status?: number };

export interface WebhookReceiver {
  port: number;
  /** https://<host>:<port><path> */
  url(host: string, path: string): string;
  /** Every request, in arrival order (empty with keepRecords: false). */
  received: ReceivedHook[];
  on(path: string, behaviour: Behaviour): void;
  /** Requests to a path (prefix match when it ends with *). */
  at(path: string): ReceivedHook[];
  /** How many requests reached a path (prefix match when it ends with *), kept or not. */
  count(path: string): number;
  /** Resolves once `count` requests to the path have arrived. */
  waitFor(path: string, count: number, timeoutMs?: number): Promise<ReceivedHook[]>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(
  ca: TestCa,
  names: string[],
  options: { keepRecords?: boolean } = {},
): Promise<WebhookReceiver> {
  const { key, cert } = await ca.issue(names);
  const keep = options.keepRecords ?? true;
  const received: ReceivedHook[] = [];
  const byPath = new Map<string, ReceivedHook[]>();
  const counts = new Map<string, number>();
  const behaviours = new Map<string, Behaviour>();
  const events = new EventEmitter();
  events.setMaxListeners(0);

  const paths = (path: string) =>
    path.endsWith('*') ? [...counts.keys()].filter((p) => p.startsWith(path.slice(0, -1))) : [path];
  const count = (path: string) => paths(path).reduce((n, p) => n + (counts.get(p) ?? 0), 0);
  const at = (path: string) => {
    const hooks = paths(path).flatMap((p) => byPath.get(p) ?? []);
    return path.endsWith('*') ? hooks.sort((a, b) => received.indexOf(a) - received.indexOf(b)) : hooks;
  };

  const server = https.createServer({ key, cert, keepAliveTimeout: 30_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '/';
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]),
      );
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {
        // not JSON: kept as text
      }
      const hook = { path, headers, body, json, at: Date.now() };
      counts.set(path, (counts.get(path) ?? 0) + 1);
      if (keep) {
        received.push(hook);
        const list = byPath.get(path);
        if (list) list.push(hook);
        else byPath.set(path, [hook]);
      }
      events.emit('hook');
      const answer = (status: number) => {
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(status < 300 ? 'ok' : 'no');
      };
      const b = behaviours.get(path);
      if (!b) return answer(200);
      if ('statuses' in b) return answer(b.statuses.shift() ?? 200);
      if ('redirect' in b) {
        res.writeHead(302, { location: b.redirect });
        return res.end();
      }
      if ('delayMs' in b) {
        setTimeout(() => answer(b.status ?? 200), b.delayMs);
        return;
      }
      answer(b.status);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    url: (host, path) => `https://${host}:${port}${path}`,
    received,
    on(path, behaviour) {
      behaviours.set(path, behaviour);
    },
    at,
    count,
    waitFor(path, wanted, timeoutMs = 20_000) {
      if (count(path) >= wanted) return Promise.resolve(at(path));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          events.removeListener('hook', onHook);
          reject(new Error(`${path}: ${count(path)} of ${wanted} webhook requests arrived`));
        }, timeoutMs);
        const onHook = () => {
          if (count(path) < wanted) return;
          clearTimeout(timer);
          events.removeListener('hook', onHook);
          resolve(at(path));
        };
        events.on('hook', onHook);
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
