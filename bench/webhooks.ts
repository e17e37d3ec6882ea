// Webhooks: how many signed deliveries a second Sealpost hands to a local HTTPS receiver, how far
// behind the events they arrive, and that a slow receiver does not slow mail delivery. Sealpost
// runs as a real `sealpost serve`; this process plays the API clients, the receiving mail server
// and the webhook receiver (HTTPS, a certificate from a test CA).
//   node --disable-warning=ExperimentalWarning bench/webhooks.ts [--messages=1000] [--clients=16]
//
// For each database, one server, in phases:
//   1. mail alone: N messages, delivered per second (the baseline);
//   2. a fast webhook endpoint subscribed to every event: N messages, mail delivered per second,
//      and how long after each event its webhook arrived;
//   3. a slow endpoint (2 s per answer) subscribed to every event: N messages, mail delivered per
//      second (it must not drop), and how few webhooks the slow receiver got meanwhile;
//   4. mail alone again (the baseline, on a database that has grown);
//   5. replay of every event so far to one fast endpoint, then to four at once: deliveries per second.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { initResult, randomMasterKey, type RunningServer, runCli, startServe } from '../test/support/cli.ts';
import { startMailWorld } from '../test/support/mail-world.ts';
import { startWebhookReceiver } from '../test/support/webhook-receiver.ts';
import { machineLine } from './support.ts';

const { values } = parseArgs({
  options: { messages: { type: 'string', default: '1000' }, clients: { type: 'string', default: '16' } },
  strict: false, // bench/run.ts hands every benchmark the same arguments
});
const MESSAGES = Number(values.messages);
const CLIENTS = Number(values.clients);
const ADMIN_URL = process.env.SEALPOST_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const HOST = 'hooks.test';
const SLOW_MS = 2000;

interface Row {
  database: string;
  phase: string;
  mailPerSecond?: number;
  hooksPerSecond?: number;
  hooks?: number;
  lagMs?: number[];
}

const percentiles = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return [0.5, 0.95, 0.99].map((p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!);
};

async function run(database: 'pglite' | 'postgres'): Promise<Row[]> {
  const world = await startMailWorld();
  const receiver = await startWebhookReceiver(world.ca, [HOST]);
  world.dns.setA(HOST, ['127.0.0.1']);
  receiver.on('/slow', { delayMs: SLOW_MS });
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-bench-webhooks-'));
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
    SEALPOST_WEBHOOK_ALLOW_PRIVATE: 'true',
    ...(databaseUrl ? { SEALPOST_DATABASE_URL: databaseUrl } : {}),
  };
  let server: RunningServer | null = null;
  const rows: Row[] = [];
  try {
    const init = await runCli(
      ['init', '--org', 'Bench Clinic', '--admin', 'admin@bench.test', '--json'],
      env,
    );
    if (init.code !== 0) throw new Error(init.stderr);
    const apiKey = initResult(init.stdout).api_key as string;
    server = await startServe(env);
    const url = server.url;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${apiKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (res.status === 204 ? {} : await res.json()) as Record<string, unknown>;
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const domain = await call('POST', '/v1/domains', { domain: 'bench.test' });
    for (const r of domain.records as { name: string; value: string; required: boolean }[])
      if (r.required) world.dns.setTxt(r.name, [r.value]);
    await call('POST', '/v1/domains/bench.test/verify');
    const endpoint = async (path: string) =>
      (await call('POST', '/v1/webhooks', { url: receiver.url(HOST, path) })).id as string;

    let sent = 0;
    /** Posts MESSAGES messages; resolves with mail delivered per second once all are received. */
    const mail = async () => {
      const target = world.receiver('tls').messages.length + MESSAGES;
      const first = sent;
      const start = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          while (next < MESSAGES) {
            const i = first + next++;
            await call('POST', '/v1/messages', {
              from: 'notify@bench.test',
              to: [`patient${i}@tls.test`],
              subject: `Your appointment reminder ${i}`,
              text: `See you on Tuesday. Reference ${i}.`,
            });
          }
        }),
      );
      sent += MESSAGES;
      await world.waitForMessages('tls', target, 900_000);
      return MESSAGES / ((performance.now() - start) / 1000);
    };

    process.stderr.write(`webhooks (${database}): mail alone\n`);
    rows.push({ database, phase: 'mail, no webhook', mailPerSecond: await mail() });

    process.stderr.write(`webhooks (${database}): a fast endpoint on every event\n`);
    const fast = await endpoint('/fast');
    const fastRate = await mail();
    const fastHooks = await receiver.waitFor('/fast', 2 * MESSAGES, 300_000);
    rows.push({
      database,
      phase: 'mail + fast webhook',
      mailPerSecond: fastRate,
      hooks: fastHooks.length,
      lagMs: fastHooks.map((h) => h.at - Date.parse(h.json.occurred_at)),
    });
    await call('DELETE', `/v1/webhooks/${fast}`);

    process.stderr.write(
      `webhooks (${database}): a slow endpoint (${SLOW_MS} ms per answer) on every event\n`,
    );
    const slow = await endpoint('/slow');
    const slowRate = await mail();
    rows.push({
      database,
      phase: `mail + slow webhook (${SLOW_MS / 1000} s)`,
      mailPerSecond: slowRate,
      hooks: receiver.at('/slow').length,
    });
    await call('PATCH', `/v1/webhooks/${slow}`, { enabled: false });
    await new Promise((r) => setTimeout(r, SLOW_MS + 500)); // its requests under way end

    // The baseline again: the database has grown and the process has warmed up meanwhile.
    process.stderr.write(`webhooks (${database}): mail alone, again\n`);
    rows.push({ database, phase: 'mail, no webhook (again)', mailPerSecond: await mail() });

    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    for (const count of [1, 4]) {
      process.stderr.write(`webhooks (${database}): replay to ${count} endpoint(s)\n`);
      const paths = Array.from({ length: count }, (_, i) => `/replay-${count}-${i}`);
      const ids = await Promise.all(paths.map(endpoint));
      const start = performance.now();
      const replayed = await Promise.all(
        ids.map((id) => call('POST', `/v1/webhooks/${id}/replay`, { from, to })),
      );
      const total = replayed.reduce((n, r) => n + (r.replayed as number), 0);
      await Promise.all(paths.map((p, i) => receiver.waitFor(p, replayed[i]!.replayed as number, 600_000)));
      rows.push({
        database,
        phase: `replay, ${count} endpoint${count > 1 ? 's' : ''}`,
        hooks: total,
        hooksPerSecond: total / ((performance.now() - start) / 1000),
      });
      for (const id of ids) await call('DELETE', `/v1/webhooks/${id}`);
    }
    return rows;
  } finally {
    await server?.stop();
    await receiver.close();
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
const only = process.env.SEALPOST_BENCH_ONLY; // e.g. "postgres"
for (const database of ['pglite', 'postgres'] as const)
  if (!only || only === database) rows.push(...(await run(database)));

const n = (v: number | undefined, width: number) =>
  (v === undefined ? '-' : Math.round(v).toString()).padStart(width);
const lines = [
  'Sealpost webhooks (events from the audit trail -> fan-out -> signed HTTPS POST to a local receiver)',
  `Machine: ${machineLine()}`,
  `${MESSAGES} messages per mail phase (one recipient each, enforced TLS to a local SMTP receiver), ${CLIENTS} HTTP clients; one \`sealpost serve\` with every role; default webhook settings (16 endpoints at once per worker, 8 requests in flight per endpoint)`,
  '',
  `${'database'.padEnd(10)}${'phase'.padEnd(30)}${'mail/s'.padStart(8)}${'webhooks'.padStart(10)}${'webhooks/s'.padStart(12)}  lag ms p50/p95/p99`,
  ...rows.map(
    (r) =>
      `${r.database.padEnd(10)}${r.phase.padEnd(30)}${n(r.mailPerSecond, 8)}${n(r.hooks, 10)}${n(r.hooksPerSecond, 12)}  ${
        r.lagMs
          ? percentiles(r.lagMs)
              .map((v) => `${Math.round(v)}`.padStart(6))
              .join('')
          : ''
      }`,
  ),
];
process.stdout.write(`${lines.join('\n')}\n`);
