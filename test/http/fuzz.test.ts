// Property-based fuzzing of every route of the live OpenAPI document, on both databases.
//
// One run walks every operation once, each with a hostile request made from its schema (see
// test/support/fuzz.ts): as the owner's API key, as a signed-in owner (session cookie and CSRF
// token), without credentials, and with hostile credentials. Whatever is sent, the answer is
// below 500, and every 4xx is RFC 9457 problem+json with a stable code. Runs repeat until the
// time budget ends. Settings:
//
//   SEALPOST_FUZZ_SEED=n       the seed (fixed by default, so every run of the suite sends the same
//                              requests); a failure prints the seed and the failing requests.
//   SEALPOST_FUZZ_SECONDS=n    the time budget per database (default 20).
//   SEALPOST_FUZZ_RUNS=n       the most walks of every route per database (default 1000; the time
//                              budget ends most runs first).
//
// A long run: SEALPOST_FUZZ_SECONDS=600 SEALPOST_FUZZ_RUNS=100000 SEALPOST_FUZZ_SEED=$RANDOM
// node --test test/http/fuzz.test.ts
//
// The requests change state (a valid body creates what it describes), so a run replays exactly only
// from the same fresh database; the seed and the printed requests are what a failure needs.
// Nothing is excluded: routes that send mail only queue it (no worker runs here), and routes that
// do slow crypto (sign-in, DKIM keys) take their time within the budget.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { before, after, test } from 'node:test';
import fc from 'fast-check';
import { errorCodes } from '../../src/errors/index.ts';
import type { InitResult } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import {
  describeRequest,
  type FuzzRequest,
  type Operation,
  operationsOf,
  requestFor,
} from '../support/fuzz.ts';

const SEED = Number(process.env.SEALPOST_FUZZ_SEED ?? 20_261_118);
const SECONDS = Number(process.env.SEALPOST_FUZZ_SECONDS ?? 20);
const RUNS = Number(process.env.SEALPOST_FUZZ_RUNS ?? 1000);

interface Answer {
  status: number;
  type: string;
  text: string;
}

/** Sends a request as written (node:http leaves paths and bodies alone), on a fresh connection. */
function send(base: URL, r: FuzzRequest, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: base.hostname, port: base.port, method: r.method, path: r.path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            type: res.headers['content-type'] ?? '',
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('no answer in 30 s')));
    req.on('error', reject);
    req.end(r.body);
  });
}

/**
 * Why an answer breaks the rules, or null when it keeps them. A 5xx is a fault unless the operation
 * documents it (a 502 when the identity provider an administrator configured is down): a 500 never is.
 * A 4xx is problem+json with a code, unless HTML was asked for and given.
 */
function fault(r: FuzzRequest, answer: Answer): string | null {
  if (answer.status >= 500 && (answer.status === 500 || !r.operation.serverErrors.includes(answer.status)))
    return `server error ${answer.status}`;
  if (answer.status < 400) return null;
  // A browser that asks a page-facing route (the single sign-on callback) for HTML gets a page.
  if (r.headers.accept?.includes('text/html') && answer.type.startsWith('text/html')) return null;
  if (!answer.type.startsWith('application/problem+json')) return `${answer.status} as "${answer.type}"`;
  let problem: { code?: unknown; status?: unknown };
  try {
    problem = JSON.parse(answer.text);
  } catch {
    return `${answer.status} problem+json that is not JSON`;
  }
  if (typeof problem.code !== 'string' || !problem.code) return `${answer.status} problem without a code`;
  if (!(errorCodes as string[]).includes(problem.code))
    return `${answer.status} problem with code ${problem.code}, which is not in the error catalogue`;
  if (problem.status !== answer.status)
    return `${answer.status} problem saying status ${String(problem.status)}`;
  return null;
}

describeEachDb('Fuzzing every route of the OpenAPI document', (suite) => {
  let server: TestServer;
  let org: InitResult;
  let operations: Operation[];
  let session: Record<string, string> = {};

  /** Signs the owner in again when a fuzzed request ended or changed the session. */
  async function ensureSession() {
    if (session.cookie) {
      const check = await server.request('GET', '/v1/auth/session', { headers: session });
      if (check.status === 200 && check.body.status === 'active') return;
    }
    const res = await server.request('POST', '/v1/auth/sign-in', {
      body: { email: org.admin_email, password: org.admin_password },
    });
    session =
      res.status === 200
        ? {
            cookie: /^([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!,
            'x-csrf-token': res.body.csrf_token,
            origin: new URL(server.config.publicUrl).origin,
          }
        : {};
  }

  before(async () => {
    server = await startTestServer(suite.testDb, {
      // Refusals by the limiter are fine answers, but they would hide every route behind them.
      SEALPOST_RATE_LIMIT_PER_ADDRESS: '1000000',
      SEALPOST_RATE_LIMIT_PER_KEY: '1000000',
      SEALPOST_HTTP_BODY_LIMIT: String(256 * 1024),
    });
    org = await server.createOrg('Fuzz Clinic');
    operations = operationsOf((await server.request('GET', '/openapi.json')).body);
  });
  after(() => server.close());

  test('what fuzzing found stays refused: a 400 with a code, never a server error', async () => {
    const cursor = (text: string) => Buffer.from(text).toString('base64url');
    const id = '00000000-0000-4000-8000-000000000000';
    const cases: [method: string, path: string, body: string | undefined, code: string][] = [
      // Ajv coerces these to Infinity, which passes `integer` with a minimum only.
      ['GET', '/v1/suppressions?limit=Infinity', undefined, 'invalid_request'],
      ['GET', '/v1/events?limit=1e309', undefined, 'invalid_request'],
      ['GET', '/v1/reports/protection?limit=-Infinity', undefined, 'invalid_request'],
      // JSON.parse reads 1e309 as Infinity.
      ['PATCH', '/v1/policies/auth', '{"idle_minutes":1e309}', 'invalid_request'],
      // PostgreSQL's text holds no NUL: in a body (before authentication), a path, a query.
      [
        'POST',
        '/v1/auth/sign-in',
        '{"email":"a\\u0000@b.example","password":"long enough password"}',
        'invalid_request',
      ],
      ['DELETE', '/v1/suppressions/patient%00%40example.org', undefined, 'invalid_request'],
      ['GET', '/v1/messages?tag=a%00', undefined, 'invalid_request'],
      ['GET', '/v1/auth/sso/start?org=a%00', undefined, 'invalid_request'],
      [
        'POST',
        '/v1/messages',
        '{"from":"care@clinic.example","to":["patient@example.org"],"subject":"s","text":"t","metadata":{"k\\u0000":"v"}}',
        'invalid_request',
      ],
      // Year 0001 at +14:00 is year 0, which no date reads back.
      [
        'GET',
        '/v1/reports/messages?from=0001-01-01T00:00:00%2B14:00&to=0001-01-02T00:00:00Z',
        undefined,
        'date_out_of_range',
      ],
      [
        'GET',
        '/v1/reports/portal?from=0001-01-01&to=0001-01-02&tz=Pacific/Kiritimati',
        undefined,
        'date_out_of_range',
      ],
      // Forged cursors with dates PostgreSQL refuses and Date.parse does not.
      ['GET', `/v1/messages?cursor=${cursor(`2024-02-30 00:00:00+00|${id}`)}`, undefined, 'bad_request'],
      ['GET', `/v1/messages?cursor=${cursor(`1|${'-'.repeat(36)}`)}`, undefined, 'bad_request'],
      ['GET', `/v1/audit-events?cursor=${cursor('0000-01-01T00:00:00.000Z|1')}`, undefined, 'bad_request'],
      [
        'GET',
        `/v1/recipient-keys?cursor=${cursor(`2026-99-99T00:00:00.000Z|${id}`)}`,
        undefined,
        'bad_request',
      ],
      [
        'GET',
        `/v1/reports/protection?cursor=${cursor(JSON.stringify({ from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', tz: 'UTC', time: '2024-02-30 00:00:00', message: id, position: 0 }))}`,
        undefined,
        'bad_request',
      ],
    ];
    for (const [method, path, body, code] of cases) {
      const res = await server.request(method, path, {
        token: path.startsWith('/v1/auth/') ? undefined : org.api_key,
        ...(body === undefined ? {} : { raw: body, headers: { 'content-type': 'application/json' } }),
      });
      assert.equal(res.status, 400, `${method} ${path}: ${res.text}`);
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(res.body.code, code, `${method} ${path}`);
    }
  });

  test('every route answers hostile requests below 500, and every refusal is problem+json with a code', async (t) => {
    assert.ok(operations.length > 100, `the document lists ${operations.length} operations`);
    const base = new URL(server.url);
    const deadline = Date.now() + SECONDS * 1000;
    let walks = 0;
    let sent = 0;
    let inFlight: Promise<void> = Promise.resolve();

    const walk = async (requests: FuzzRequest[]) => {
      const failures: string[] = [];
      await ensureSession();
      for (const r of requests) {
        if (Date.now() > deadline) return; // the walk the budget cut short is not counted
        const headers = { ...r.headers };
        if (r.credential === 'owner') headers.authorization = `Bearer ${org.api_key}`;
        if (r.credential === 'session') Object.assign(headers, session);
        if (r.hostileAuth) headers[r.hostileAuth.header] = r.hostileAuth.value;
        let why: string | null;
        try {
          const answer = await send(base, r, headers);
          why = fault(r, answer);
          if (why) why += `: ${answer.text.slice(0, 300)}`;
        } catch (err) {
          why = `no answer: ${(err as Error).message}`;
        }
        sent++;
        if (why) failures.push(`${why}\n    ${describeRequest(r)}`);
      }
      walks++;
      if (failures.length) throw new Error(`${failures.length} bad answer(s):\n  ${failures.join('\n  ')}`);
    };

    const result = await fc.check(
      fc.asyncProperty(fc.tuple(...operations.map(requestFor)), (requests) => {
        inFlight = walk(requests);
        return inFlight;
      }),
      {
        seed: SEED,
        numRuns: RUNS,
        endOnFailure: true,
        plugins: [fc.interruptAfterTimeLimit(SECONDS * 1000)],
      },
    );
    await inFlight.catch(() => {});
    if (result.failed) {
      const error = result.errorInstance as Error | null;
      assert.fail(
        `fuzzing failed (SEALPOST_FUZZ_SEED=${SEED}, walk ${result.numRuns}, path ${result.counterexamplePath}):\n` +
          (error?.message ?? 'interrupted before one walk of every route was done'),
      );
    }
    assert.ok(walks > 0, 'at least one walk of every route');
    t.diagnostic(`${walks} walks, ${sent} requests, seed ${SEED}`);
  });
});
