// A local SMS carrier speaking the Twilio Messages REST API, as much of it as Sealpost uses:
// POST /2010-04-01/Accounts/{account}/Messages.json with HTTP basic authentication and a form
// body (To, From, Body); 201 with JSON carrying `sid`, or a Twilio-style JSON error
// ({ code, message, more_info, status }). Tests make it fail or stall on purpose.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CarrierMessage {
  to: string;
  from: string;
  body: string;
}

export interface SmsCarrier {
  /** Base URL, e.g. http://127.0.0.1:41234 (for SEALPOST_SMS_API_URL). */
  url: string;
  /** Every message accepted, in order. */
  messages: CarrierMessage[];
  /** Every request seen (accepted or not), for checking what the client sent. */
  requests: { method: string; path: string; headers: IncomingMessage['headers'] }[];
  /** Resolves with the messages once `n` were accepted; rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs?: number): Promise<CarrierMessage[]>;
  /** The next `n` requests answer `status` (a Twilio-style error), before anything is checked. */
  failNext(n: number, status: number): void;
  /** The next `n` requests wait `ms` before they are handled (to exercise client timeouts). */
  delayNext(n: number, ms: number): void;
  close(): Promise<void>;
}

const E164 = /^\+[1-9]\d{7,14}$/;
/** Twilio's magic test number for "invalid To": well-formed, refused all the same (21211). */
export const INVALID_NUMBER = '+15005550001';
const MAX_BODY_BYTES = 64 * 1024;

const TWILIO_CODES: Record<number, [number, string]> = {
  400: [21211, 'Invalid parameter'],
  401: [20003, 'Authenticate'],
  403: [20003, 'Permission denied'],
  404: [20404, 'The requested resource was not found'],
  405: [20004, 'Method not allowed'],
  429: [20429, 'Too Many Requests'],
  500: [20500, 'Internal Server Error'],
  503: [20503, 'Service Unavailable'],
};

function sendError(res: ServerResponse, status: number, code?: number, message?: string): void {
  const [fallbackCode, fallbackMessage] = TWILIO_CODES[status] ?? [status * 100, 'Error'];
  const payload = {
    code: code ?? fallbackCode,
    message: message ?? fallbackMessage,
    more_info: `https://www.twilio.com/docs/errors/${code ?? fallbackCode}`,
    status,
  };
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (status === 401) headers['www-authenticate'] = 'Basic realm="Twilio API"';
  if (status === 429) headers['retry-after'] = '1';
  res.writeHead(status, headers).end(JSON.stringify(payload));
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) resolve(null);
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startSmsCarrier(options: { account: string; token: string }): Promise<SmsCarrier> {
  const messages: CarrierMessage[] = [];
  const requests: SmsCarrier['requests'] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let failures: { left: number; status: number } = { left: 0, status: 500 };
  let delays: { left: number; ms: number } = { left: 0, ms: 0 };
  const stalls = new Set<NodeJS.Timeout>();
  const path = `/2010-04-01/Accounts/${encodeURIComponent(options.account)}/Messages.json`;
  const expectedAuth = `Basic ${Buffer.from(`${options.account}:${options.token}`).toString('base64')}`;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    if (delays.left > 0) {
      delays.left--;
      const ms = delays.ms;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          stalls.delete(timer);
          resolve();
        }, ms);
        stalls.add(timer); // cleared on close: a stalled request never answers then
      });
      if (res.destroyed) return;
    }
    if (failures.left > 0) {
      failures.left--;
      return sendError(res, failures.status);
    }
    if (req.headers.authorization !== expectedAuth) return sendError(res, 401);
    if ((req.url ?? '').split('?')[0] !== path) return sendError(res, 404);
    if (req.method !== 'POST') return sendError(res, 405);
    if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(req.headers['content-type'] ?? ''))
      return sendError(res, 400, 21600, 'Body must be application/x-www-form-urlencoded');
    const raw = await readBody(req);
    if (raw === null) return sendError(res, 413, 21617, 'Request too large');
    const form = new URLSearchParams(raw);
    const to = form.get('To') ?? '';
    const from = form.get('From') ?? '';
    const body = form.get('Body') ?? '';
    if (!to) return sendError(res, 400, 21604, "A 'To' phone number is required.");
    if (!E164.test(to) || to === INVALID_NUMBER)
      return sendError(res, 400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (!from) return sendError(res, 400, 21603, "A 'From' phone number is required.");
    if (!body) return sendError(res, 400, 21602, 'Message body is required.');
    const sid = `SM${randomBytes(16).toString('hex')}`;
    messages.push({ to, from, body });
    for (const waiter of [...waiters])
      if (messages.length >= waiter.n) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    res.writeHead(201, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        sid,
        account_sid: options.account,
        to,
        from,
        body,
        status: 'queued',
        num_segments: '1',
        direction: 'outbound-api',
        api_version: '2010-04-01',
        date_created: new Date().toUTCString(),
        uri: `${path.slice(0, -'.json'.length)}/${sid}.json`,
      }),
    );
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendError(res, 500);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    messages,
    requests,
    waitFor(n, timeoutMs = 5000) {
      if (messages.length >= n) return Promise.resolve([...messages]);
      return new Promise((resolve, reject) => {
        const waiter = {
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve([...messages]);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`SMS carrier: ${messages.length} of ${n} messages after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    failNext(n, status) {
      failures = { left: n, status };
    },
    delayNext(n, ms) {
      delays = { left: n, ms };
    },
    close() {
      for (const timer of stalls) clearTimeout(timer);
      stalls.clear();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
