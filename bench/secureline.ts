// SecureLine end to end: messages posted to the HTTP API of a running `sealpost serve` (validated,
// DLP-scanned, sealed, queued per recipient), taken by its worker (policy, build, DKIM RSA +
// Ed25519, SMTP with enforced TLS 1.2+ to a receiver on loopback), and recorded. Sealpost runs in
// its own processes, as in production; this process plays the clients and the receiving server.
// Prints accepted and delivered per second, latency percentiles and the servers' peak memory,
// measured after a warm-up through the same path (--warmup=0 measures servers just started).
//   node --disable-warning=ExperimentalWarning bench/secureline.ts [--messages=2000] [--clients=16] [--warmup=1000]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { initResult, randomMasterKey, type RunningServer, runCli, startServe } from '../test/support/cli.ts';
import { startMailWorld } from '../test/support/mail-world.ts';
import { machineLine } from './support.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '2000' },
    clients: { type: 'string', default: '16' },
    warmup: { type: 'string', default: '1000' },
  },
  strict: false, // bench/run.ts hands every benchmark the same arguments (e.g. --seconds)
});
const MESSAGES = Number(values.messages);
const CLIENTS = Number(values.clients);
const WARMUP = Number(values.warmup);
// 10 KB of ordinary text: the size of a typical notification with its HTML.
const BODY = randomBytes(7680)
  .toString('base64')
  .replace(/(.{76})/g, '$1\n');
const ADMIN_URL = process.env.SEALPOST_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface Row {
  scenario: string;
  acceptPerSecond: number;
  deliverPerSecond: number;
  accept: number[];
  endToEnd: number[];
  peakRssMb: number;
  /** CPU (user + system) per message, in ms: API processes, worker processes, the bench itself. */
  cpuMs: { api: number; worker: number; bench: number; postgres: number | null };
}

const percentiles = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return [0.5, 0.95, 0.99].map((p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!);
};

/** The most memory a process has held (VmHWM), in MB. */
const peakRss = (server: RunningServer) =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.process.pid}/status`, 'utf8'))![1]) / 1024;

/** CPU time a process has used so far (user + system), in ms, from /proc (clock ticks of 10 ms). */
const cpuOfPid = (pid: number) => {
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0; // gone
  }
};
const cpuTime = (server: RunningServer) => cpuOfPid(server.process.pid!);

/**
 * CPU of the PostgreSQL backends serving one database, by pid (the server runs on this machine).
 * Connections that close before the end are missed, so it is a floor.
 */
async function postgresCpu(dbName: string): Promise<Map<number, number>> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = $1',
      [dbName],
    );
    return new Map(rows.map((r) => [r.pid, cpuOfPid(r.pid)]));
  } finally {
    await admin.end();
  }
}

/** split: how many `--only api` processes beside one `--only worker`; 0 runs one process with every role. */
/** backlog: the worker starts only once every message is accepted, and delivered/s is timed from then. */
/** batch: messages per POST /v1/messages/batch call; 1 posts each to /v1/messages. */
async function scenario(
  name: string,
  database: 'pglite' | 'postgres',
  split: number,
  batch = 1,
  backlog = false,
): Promise<Row> {
  const world = await startMailWorld();
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-bench-secureline-'));
  const dbName = `sealpost_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  let databaseUrl: string | undefined;
  if (database === 'postgres') {
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const url = new URL(ADMIN_URL);
    url.pathname = `/${dbName}`;
    databaseUrl = url.toString();
  }
  const env: Record<string, string> = {
    ...world.env(),
    SEALPOST_DATA_DIR: dataDir,
    SEALPOST_MASTER_KEY: randomMasterKey(),
    SEALPOST_LOG_LEVEL: 'error',
    SEALPOST_MAIL_HOSTNAME: 'mail.sealpost.test',
    SEALPOST_MODE: 'production',
    ...(databaseUrl ? { SEALPOST_DATABASE_URL: databaseUrl } : {}),
    // e.g. SEALPOST_BENCH_NODE_OPTIONS=--cpu-prof to profile the servers.
    ...(process.env.SEALPOST_BENCH_NODE_OPTIONS
      ? { NODE_OPTIONS: process.env.SEALPOST_BENCH_NODE_OPTIONS }
      : {}),
    // With bench/count-queries.ts loaded (above): where it writes each server's statement counts.
    ...(process.env.BENCH_QUERY_LOG ? { BENCH_QUERY_LOG: process.env.BENCH_QUERY_LOG } : {}),
  };
  const servers: RunningServer[] = [];
  let agent: http.Agent | undefined;
  try {
    const init = await runCli(
      ['init', '--org', 'Bench Clinic', '--admin', 'admin@bench.test', '--json'],
      env,
    );
    if (init.code !== 0) throw new Error(init.stderr);
    const apiKey = initResult(init.stdout).api_key as string;
    if (split > 0) {
      servers.push(await startServe(env, ['--only', 'api']));
      // The others share the first one's port (SO_REUSEPORT).
      const port = new URL(servers[0]!.url).port;
      for (let i = 1; i < split; i++)
        servers.push(await startServe({ ...env, SEALPOST_HTTP_PORT: port }, ['--only', 'api']));
      if (!backlog) servers.push(await startServe(env, ['--only', 'worker']));
    } else {
      servers.push(await startServe(env));
    }
    const url = servers[0]!.url;
    // node:http on kept-alive sockets rather than fetch: the clients share the two cores with
    // Sealpost, and fetch's WHATWG streams cost them about twice as much per request.
    agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
    const call = (method: string, path: string, body?: unknown) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
        const req = http.request(
          `${url}${path}`,
          {
            method,
            agent,
            headers: {
              authorization: `Bearer ${apiKey}`,
              ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => {
              const json = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
              if (res.statusCode! >= 300)
                reject(new Error(`${path}: ${res.statusCode} ${JSON.stringify(json)}`));
              else resolve(json);
            });
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
    const domain = (await call('POST', '/v1/domains', { domain: 'bench.test' })) as {
      records: { name: string; value: string; required: boolean }[];
    };
    for (const r of domain.records) if (r.required) world.dns.setTxt(r.name, [r.value]);
    await call('POST', '/v1/domains/bench.test/verify');

    const message = (i: number, tag: string) => ({
      from: 'notify@bench.test',
      to: [`patient${i}@tls.test`],
      subject: `Your appointment reminder ${i}`,
      text: BODY,
      tags: [tag],
    });
    /** Messages first..first+count-1 posted by the clients; the time each call took. */
    const post = async (first: number, count: number, tag: string) => {
      const took: number[] = [];
      let next = first;
      const end = first + count;
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          while (next < end) {
            const from = next;
            next += batch;
            const t0 = performance.now();
            if (batch === 1) await call('POST', '/v1/messages', message(from, tag));
            else {
              const ids = Array.from({ length: Math.min(batch, end - from) }, (_, k) => from + k);
              await call('POST', '/v1/messages/batch', { messages: ids.map((i) => message(i, tag)) });
            }
            took.push(performance.now() - t0);
          }
        }),
      );
      return took;
    };

    // Warm-up, not counted: the same path until V8 has optimised it and every pool, prepared
    // statement and TLS session is open, as in a server that has been running. (A backlog
    // scenario's worker starts afterwards, cold.)
    if (WARMUP > 0) {
      if (backlog) servers.push(await startServe(env, ['--only', 'worker']));
      await post(MESSAGES, WARMUP, 'warmup');
      await world.waitForMessages('tls', WARMUP, 900_000);
      if (backlog) await servers.pop()!.stop();
    }
    const warm = world.receiver('tls').messages.length;

    const cpuBefore = servers.map(cpuTime);
    const pgBefore = databaseUrl ? await postgresCpu(dbName) : null;
    const benchBefore = process.cpuUsage();
    const start = performance.now();
    const accept = await post(0, MESSAGES, 'measured');
    const acceptSeconds = (performance.now() - start) / 1000;
    let deliverFrom = start;
    if (backlog) {
      servers.push(await startServe(env, ['--only', 'worker']));
      cpuBefore.push(cpuTime(servers.at(-1)!));
      deliverFrom = performance.now();
    }
    await world.waitForMessages('tls', warm + MESSAGES, 900_000);
    const deliverSeconds = (performance.now() - deliverFrom) / 1000;
    const cpuUsed = servers.map((s, i) => cpuTime(s) - cpuBefore[i]!);
    const benchCpu = process.cpuUsage(benchBefore);
    let pgUsed: number | null = null;
    if (pgBefore) {
      pgUsed = 0;
      for (const [pid, ms] of await postgresCpu(dbName)) pgUsed += ms - (pgBefore.get(pid) ?? 0);
    }
    // With split > 0 the last server is the worker; with one process, all of it counts as both.
    const apiCpu = split > 0 ? cpuUsed.slice(0, -1).reduce((a, b) => a + b, 0) : cpuUsed[0]!;
    const workerCpu = split > 0 ? cpuUsed.at(-1)! : 0;

    // End-to-end latency per message, from its acceptance to its recorded delivery.
    const endToEnd: number[] = [];
    let cursor: string | null = null;
    while (endToEnd.length < MESSAGES) {
      const page = (await call(
        'GET',
        `/v1/messages?limit=200&tag=measured${cursor ? `&cursor=${cursor}` : ''}`,
      )) as {
        data: { created_at: string; recipients: { finished_at: string | null }[] }[];
        next_cursor: string | null;
      };
      for (const m of page.data) {
        const finished = m.recipients[0]!.finished_at;
        if (finished) endToEnd.push(Date.parse(finished) - Date.parse(m.created_at));
      }
      cursor = page.next_cursor;
      if (!cursor) {
        if (endToEnd.length < MESSAGES) {
          endToEnd.length = 0; // the last outcomes are still being recorded: read again
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
    return {
      scenario: name,
      acceptPerSecond: MESSAGES / acceptSeconds,
      deliverPerSecond: (world.receiver('tls').messages.length - warm) / deliverSeconds,
      accept: percentiles(accept),
      endToEnd: percentiles(endToEnd),
      peakRssMb: servers.reduce((sum, s) => sum + peakRss(s), 0),
      cpuMs: {
        api: apiCpu / MESSAGES,
        worker: workerCpu / MESSAGES,
        bench: (benchCpu.user + benchCpu.system) / 1000 / MESSAGES,
        postgres: pgUsed === null ? null : pgUsed / MESSAGES,
      },
    };
  } finally {
    agent?.destroy();
    for (const s of servers) await s.stop();
    await world.close();
    rmSync(dataDir, { recursive: true, force: true });
    if (databaseUrl) {
      const admin = new pg.Client({ connectionString: ADMIN_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
    }
  }
}

const rows: Row[] = [];
const only = process.env.SEALPOST_BENCH_ONLY; // run one scenario, e.g. "postgres, one process"
for (const [name, database, split, batch, backlog] of [
  ['pglite, one process', 'pglite', 0, 1],
  ['postgres, one process', 'postgres', 0, 1],
  ['postgres, api + worker', 'postgres', 1, 1],
  ['postgres, 2 api + worker', 'postgres', 2, 1],
  ['postgres, batches of 50', 'postgres', 2, 50],
  // The API and the worker each alone on the machine: accepted/s with no delivery going on, then
  // delivered/s draining the backlog.
  ['postgres, backlog', 'postgres', 1, 1, true],
  ['postgres, batches of 50, backlog', 'postgres', 1, 50, true],
] as const) {
  if (only && only !== name) continue;
  process.stderr.write(`secureline: ${name}, ${MESSAGES} messages, ${CLIENTS} clients\n`);
  rows.push(await scenario(name, database, split, batch, backlog));
}
const ms = (values: number[]) => values.map((n) => `${Math.round(n)}`.padStart(6)).join('');
const lines = [
  'Sealpost SecureLine end to end (HTTP accept -> seal -> queue -> policy -> DKIM -> enforced TLS delivery)',
  `Machine: ${machineLine()}`,
  `${MESSAGES} messages of 10 KB, one recipient each, after ${WARMUP} of warm-up; ${CLIENTS} HTTP clients and the receiving SMTP server in the bench process`,
  'accept ms: per call (one message, or a batch of 50 in the "batches of 50" row)',
  'CPU ms/msg: user + system CPU per message from the first POST to the last delivery, of the API process(es), the worker process, the bench (clients + receiver) and the PostgreSQL backends of the database; one process: all of Sealpost under api',
  '',
  `${'scenario'.padEnd(34)}${'accepted/s'.padStart(11)}${'delivered/s'.padStart(12)}  accept ms p50/p95/p99  end-to-end ms p50/p95/p99  peak RSS MB  CPU ms/msg api worker bench pg`,
  ...rows.map(
    (r) =>
      `${r.scenario.padEnd(34)}${Math.round(r.acceptPerSecond).toString().padStart(11)}${Math.round(r.deliverPerSecond).toString().padStart(12)}  ${ms(r.accept)}    ${ms(r.endToEnd)}       ${String(Math.round(r.peakRssMb)).padStart(4)}  ${[r.cpuMs.api, r.cpuMs.worker, r.cpuMs.bench, r.cpuMs.postgres].map((n) => (n === null ? '-' : n.toFixed(2)).padStart(6)).join('')}`,
  ),
];
process.stdout.write(`${lines.join('\n')}\n`);
