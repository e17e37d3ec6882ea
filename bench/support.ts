// What every benchmark shares: a fresh database of each kind, and the line that names the machine.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { migrate } from '../src/db/migrate.ts';
import { openPglite } from '../src/db/pglite.ts';
import { openPostgres } from '../src/db/postgres.ts';
import type { Db } from '../src/db/types.ts';

export type BenchDbKind = 'pglite' | 'postgres';

export function machineLine(): string {
  const cpu = cpus();
  return `${new Date().toISOString().slice(0, 10)}; ${cpu.length} cores, ${cpu[0]?.model.trim() ?? 'unknown CPU'}; Node ${process.version}`;
}

/**
 * Runs `fn` on a migrated PGlite folder (durable commits) and on a fresh PostgreSQL database
 * (SEALPOST_TEST_POSTGRES_URL), removing both afterwards. Returns notes (PostgreSQL settings, skips).
 */
export async function onEachDatabase(fn: (kind: BenchDbKind, db: Db) => Promise<void>): Promise<string[]> {
  const notes: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-bench-'));
  try {
    const db = await openPglite(join(dir, 'db'));
    try {
      await migrate(db);
      await fn('pglite', db);
    } finally {
      await db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const adminUrl = process.env.SEALPOST_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `sealpost_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    notes.push(`PostgreSQL skipped: ${adminUrl} unreachable (${(err as Error).message})`);
    return notes;
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
      await fn('postgres', db);
    } finally {
      await db.close();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
  return notes;
}

/** Runs `writers` loops of `step` until `seconds` pass; each step does `perStep` units of work. */
export async function rateFor(
  seconds: number,
  writers: number,
  perStep: number,
  step: (writer: number) => Promise<void>,
): Promise<{ count: number; seconds: number; perSecond: number }> {
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      while (performance.now() < deadline) {
        await step(w);
        count += perStep;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  return { count, seconds: elapsed, perSecond: count / elapsed };
}

export interface BenchRow {
  database: string;
  scenario: string;
  count: number;
  seconds: number;
  perSecond: number;
}

export function formatRows(title: string, notes: string[], rows: BenchRow[]): string {
  const lines = [
    title,
    `Machine: ${machineLine()}`,
    ...notes,
    '',
    `${'database'.padEnd(10)}${'scenario'.padEnd(34)}${'count'.padStart(9)}${'seconds'.padStart(9)}${'per second'.padStart(12)}`,
  ];
  for (const r of rows) {
    lines.push(
      `${r.database.padEnd(10)}${r.scenario.padEnd(34)}${String(r.count).padStart(9)}${r.seconds.toFixed(1).padStart(9)}${Math.round(r.perSecond).toLocaleString('en-US').padStart(12)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
