// SecureLine end to end: messages posted to the HTTP API (validated, DLP-scanned, sealed, queued
// per recipient), then taken by the worker (policy, build, DKIM RSA + Ed25519, SMTP with enforced
// TLS 1.2+ to a local receiver), and recorded. Prints accepted and delivered per second, latency
// percentiles and peak memory, on the embedded database and on PostgreSQL.
//   node --disable-warning=ExperimentalWarning bench/secureline.ts [--messages=2000] [--clients=16]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { App } from '../src/app/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { loadMasterKeys } from '../src/crypto/index.ts';
import type { Db } from '../src/db/types.ts';
import { startMailWorld } from '../test/support/mail-world.ts';
import { machineLine, onEachDatabase } from './support.ts';

const { values } = parseArgs({
  options: { messages: { type: 'string', default: '2000' }, clients: { type: 'string', default: '16' } },
});
const MESSAGES = Number(values.messages);
const CLIENTS = Number(values.clients);
// 10 KB of ordinary text: the size of a typical notification with its HTML.
const BODY = randomBytes(7680)
  .toString('base64')
  .replace(/(.{76})/g, '$1\n');

interface Row {
  database: string;
  accepted: number;
  acceptSeconds: number;
  delivered: number;
  deliverSeconds: number;
  acceptLatency: number[];
  endToEnd: { p50: number; p95: number; p99: number };
  peakRssMb: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

async function run(kind: string, db: Db): Promise<Row> {
  const world = await startMailWorld();
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-bench-secureline-'));
  const config = loadConfig({
    SEALPOST_DATA_DIR: dataDir,
    SEALPOST_HTTP_PORT: '0',
    SEALPOST_MASTER_KEY: randomBytes(32).toString('base64'),
    SEALPOST_LOG_LEVEL: 'silent',
    SEALPOST_DNS_SERVERS: world.dnsServer,
    SEALPOST_DELIVERY_PORT: String(world.port),
    SEALPOST_EXTRA_CA_FILE: world.writeCaFile(),
    SEALPOST_MAIL_HOSTNAME: 'mail.sealpost.test',
    SEALPOST_DELIVERY_CONCURRENCY: '100',
    SEALPOST_RATE_LIMIT_PER_KEY: '1000000',
  });
  const app = await App.create(config, db, loadMasterKeys(config));
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  try {
    const { url } = await app.start(['api', 'worker']);
    const org = await app.initOrganization({
      name: 'Bench Clinic',
      adminEmail: 'admin@bench.test',
      actor: { type: 'system', id: 'bench', label: 'bench' },
    });
    const call = async (path: string, body?: unknown) => {
      const res = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${org.api_key}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, unknown>;
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const domain = (await call('/v1/domains', { domain: 'bench.test' })) as {
      records: { name: string; value: string; required: boolean }[];
    };
    for (const r of domain.records) if (r.required) world.dns.setTxt(r.name, [r.value]);
    await call('/v1/domains/bench.test/verify');

    const acceptLatency: number[] = [];
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < MESSAGES) {
          const i = next++;
          const t0 = performance.now();
          await call('/v1/messages', {
            from: 'notify@bench.test',
            to: [`patient${i}@tls.test`],
            subject: `Your appointment reminder ${i}`,
            text: BODY,
          });
          acceptLatency.push(performance.now() - t0);
        }
      }),
    );
    const acceptSeconds = (performance.now() - start) / 1000;
    await world.waitForMessages('tls', MESSAGES, 600_000);
    const deliverSeconds = (performance.now() - start) / 1000;
    // Wait for the last outcomes to be recorded, then read the end-to-end latencies.
    for (;;) {
      const { rows } = await db.query<{ n: string }>(
        "SELECT count(*) AS n FROM message_recipients WHERE state = 'delivered'",
      );
      if (Number(rows[0]!.n) >= MESSAGES) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const { rows } = await db.query<{ ms: number }>(
      `SELECT extract(epoch FROM r.finished_at - m.created_at)::float8 * 1000 AS ms
       FROM message_recipients r JOIN messages m USING (org_id, message_id) ORDER BY 1`,
    );
    const e2e = rows.map((r) => r.ms);
    acceptLatency.sort((a, b) => a - b);
    return {
      database: kind,
      accepted: MESSAGES,
      acceptSeconds,
      delivered: world.receiver('tls').messages.length,
      deliverSeconds,
      acceptLatency: [
        percentile(acceptLatency, 0.5),
        percentile(acceptLatency, 0.95),
        percentile(acceptLatency, 0.99),
      ],
      endToEnd: { p50: percentile(e2e, 0.5), p95: percentile(e2e, 0.95), p99: percentile(e2e, 0.99) },
      peakRssMb: peakRss / 1024 / 1024,
    };
  } finally {
    clearInterval(sampler);
    await app.http?.close();
    await app.queue.stop({ timeoutMs: 5000 });
    await app.outbound?.close();
    await world.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const rows: Row[] = [];
const notes = await onEachDatabase(async (kind, db) => {
  process.stderr.write(`secureline: ${kind}, ${MESSAGES} messages, ${CLIENTS} clients\n`);
  rows.push(await run(kind, db));
});
const ms = (n: number) => `${Math.round(n)}`.padStart(6);
const lines = [
  `Sealpost SecureLine end to end (HTTP accept -> seal -> queue -> policy -> DKIM -> enforced TLS delivery)`,
  `Machine: ${machineLine()}`,
  ...notes,
  `${MESSAGES} messages of 10 KB, one recipient each, ${CLIENTS} HTTP clients in the same process; receiver on loopback`,
  '',
  `${'database'.padEnd(10)}${'accepted/s'.padStart(11)}${'delivered/s'.padStart(12)}   accept ms p50/p95/p99   end-to-end ms p50/p95/p99   peak RSS MB`,
  ...rows.map(
    (r) =>
      `${r.database.padEnd(10)}${Math.round(r.accepted / r.acceptSeconds)
        .toString()
        .padStart(11)}${Math.round(r.delivered / r.deliverSeconds)
        .toString()
        .padStart(
          12,
        )}   ${r.acceptLatency.map(ms).join('')}      ${[r.endToEnd.p50, r.endToEnd.p95, r.endToEnd.p99].map(ms).join('')}          ${Math.round(r.peakRssMb)}`,
  ),
];
process.stdout.write(`${lines.join('\n')}\n`);
