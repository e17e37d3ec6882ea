// Audit appends per second on both databases, one durable transaction per append, and verify speed.
//   node --disable-warning=ExperimentalWarning bench/audit.ts [--seconds=5]
// PostgreSQL: a fresh database on SEALPOST_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres),
// dropped afterwards. PGlite: a data folder in the temporary directory, removed afterwards.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { type AuditInput, appendAudit, verifyAudit } from '../src/audit/index.ts';
import { migrate } from '../src/db/migrate.ts';
import { openPglite } from '../src/db/pglite.ts';
import { openPostgres } from '../src/db/postgres.ts';
import type { Db } from '../src/db/types.ts';

/** Events per transaction in the batched scenario (an action that audits many objects at once). */
const BATCH = 100;

export interface AuditBenchRow {
  database: 'pglite' | 'postgres';
  scenario: string;
  events: number;
  seconds: number;
  perSecond: number;
}

function sampleEvent(orgId: string, i: number): AuditInput {
  return {
    orgId,
    actor: { type: 'api_key', id: '0123456789abcdef', label: 'spk_0123456789abcdef' },
    action: i % 5 === 0 ? 'message.delivered' : 'message.queued',
    objectType: 'message',
    objectId: randomUUID(),
    outcome: 'success',
    ip: '203.0.113.24',
    requestId: randomUUID(),
    details: { method: 'portal', recipients: 1 + (i % 3), tls: 'TLSv1.3' },
  };
}

/**
 * `writers` loops, each appending `perTransaction` events per transaction to its org until time
 * runs out.
 */
async function appendFor(db: Db, orgIds: string[], writers: number, seconds: number, perTransaction = 1) {
  const deadline = performance.now() + seconds * 1000;
  const start = performance.now();
  let events = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const orgId = orgIds[w % orgIds.length]!;
      while (performance.now() < deadline) {
        await db.transaction(async (tx) => {
          for (let i = 0; i < perTransaction; i++) await appendAudit(tx, sampleEvent(orgId, events + i));
        });
        events += perTransaction;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  return { events, seconds: elapsed, perSecond: events / elapsed };
}

async function verifySpeed(db: Db) {
  const start = performance.now();
  const result = await verifyAudit(db);
  const elapsed = (performance.now() - start) / 1000;
  if (!result.ok) throw new Error(`verify failed: ${JSON.stringify(result)}`);
  return { events: result.events, seconds: elapsed, perSecond: result.events / elapsed };
}

export async function runAuditBench(
  options: { seconds?: number; postgresUrl?: string; log?: (line: string) => void } = {},
): Promise<{ rows: AuditBenchRow[]; notes: string[] }> {
  const seconds = options.seconds ?? 5;
  const log = options.log ?? (() => {});
  const rows: AuditBenchRow[] = [];
  const notes: string[] = [];

  // PGlite: one connection, one transaction at a time, every commit fdatasync'ed (durable mode).
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-audit-'));
  try {
    log('pglite: opening and migrating a new data folder');
    const db = await openPglite(join(dir, 'db'));
    try {
      await migrate(db);
      log(`pglite: appending for ${seconds} s`);
      rows.push({
        database: 'pglite',
        scenario: 'append, 1 writer, 1 org',
        ...(await appendFor(db, [randomUUID()], 1, seconds)),
      });
      log(`pglite: appending ${BATCH} per transaction for ${seconds} s`);
      rows.push({
        database: 'pglite',
        scenario: `append, ${BATCH} per transaction`,
        ...(await appendFor(db, [randomUUID()], 1, seconds, BATCH)),
      });
      rows.push({ database: 'pglite', scenario: 'verify (all events above)', ...(await verifySpeed(db)) });
    } finally {
      await db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // PostgreSQL: a fresh database, dropped afterwards.
  const adminUrl =
    options.postgresUrl ??
    process.env.SEALPOST_TEST_POSTGRES_URL ??
    'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `sealpost_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    notes.push(`PostgreSQL skipped: ${adminUrl} unreachable (${(err as Error).message})`);
    return { rows, notes };
  }
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    const db = openPostgres(url.toString(), 8);
    try {
      await migrate(db);
      const settings = await db.query<{ name: string; setting: string }>(
        "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'server_version')",
      );
      notes.push(`PostgreSQL ${settings.rows.map((r) => `${r.name}=${r.setting}`).join(', ')}`);
      const one = randomUUID();
      log(`postgres: 1 writer for ${seconds} s`);
      rows.push({
        database: 'postgres',
        scenario: 'append, 1 writer, 1 org',
        ...(await appendFor(db, [one], 1, seconds)),
      });
      log(`postgres: 4 writers on 1 org for ${seconds} s`);
      rows.push({
        database: 'postgres',
        scenario: 'append, 4 writers, 1 org',
        ...(await appendFor(db, [one], 4, seconds)),
      });
      log(`postgres: 4 writers on 4 orgs for ${seconds} s`);
      const four = Array.from({ length: 4 }, () => randomUUID());
      rows.push({
        database: 'postgres',
        scenario: 'append, 4 writers, 4 orgs',
        ...(await appendFor(db, four, 4, seconds)),
      });
      log(`postgres: appending ${BATCH} per transaction for ${seconds} s`);
      rows.push({
        database: 'postgres',
        scenario: `append, ${BATCH} per transaction`,
        ...(await appendFor(db, [randomUUID()], 1, seconds, BATCH)),
      });
      rows.push({ database: 'postgres', scenario: 'verify (all events above)', ...(await verifySpeed(db)) });
    } finally {
      await db.close();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
  return { rows, notes };
}

export function formatAuditBench(result: { rows: AuditBenchRow[]; notes: string[] }): string {
  const cpu = cpus();
  const lines = [
    `Sealpost audit benchmark, ${new Date().toISOString().slice(0, 10)}`,
    `Machine: ${cpu.length} cores, ${cpu[0]?.model.trim() ?? 'unknown CPU'}; Node ${process.version}`,
    ...result.notes,
    'One event per transaction unless said otherwise; every commit durable. Verify reads every chain.',
    '',
    `${'database'.padEnd(10)}${'scenario'.padEnd(28)}${'events'.padStart(9)}${'seconds'.padStart(9)}${'per second'.padStart(12)}`,
  ];
  for (const r of result.rows) {
    lines.push(
      `${r.database.padEnd(10)}${r.scenario.padEnd(28)}${String(r.events).padStart(9)}${r.seconds.toFixed(1).padStart(9)}${Math.round(r.perSecond).toLocaleString('en-US').padStart(12)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

if (import.meta.main) {
  const arg = process.argv.find((a) => a.startsWith('--seconds='));
  const seconds = arg ? Number(arg.slice('--seconds='.length)) : 5;
  const result = await runAuditBench({ seconds, log: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(formatAuditBench(result));
}
