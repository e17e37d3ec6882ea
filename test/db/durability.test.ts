import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

// PGlite never fsyncs (it runs with fsync=off). Sealpost's embedded database must not acknowledge
// a commit before its write-ahead log is on disk: traced with strace, every acknowledgement must be
// preceded by a write to pg_wal and then an fdatasync of that WAL segment.

const strace = spawnSync('strace', ['-V']).status === 0;
const fixture = new URL('./fixtures/commit-and-ack.ts', import.meta.url).pathname;

interface Step {
  kind: 'wal-write' | 'wal-sync' | 'ack';
}

function trace(mode: 'durable' | 'volatile', count: number): Step[] {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-durability-'));
  try {
    const log = join(dir, 'strace.log');
    execFileSync(
      'strace',
      [
        '-f',
        '-y',
        '-e',
        'trace=write,pwrite64,fdatasync,fsync',
        '-o',
        log,
        process.execPath,
        fixture,
        join(dir, 'db'),
        String(count),
        mode,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const steps: Step[] = [];
    for (const line of readFileSync(log, 'utf8').split('\n')) {
      if (/(fdatasync|fsync)\(\d+<[^>]*\/pg_wal\/[0-9A-F]{24}>/.test(line)) steps.push({ kind: 'wal-sync' });
      else if (/p?write(64)?\(\d+<[^>]*\/pg_wal\/[0-9A-F]{24}>/.test(line)) steps.push({ kind: 'wal-write' });
      else if (/write\(1<[^>]*>, "ack \d+\\n"/.test(line)) steps.push({ kind: 'ack' });
    }
    return steps;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** How many acknowledgements came with their WAL written and then synced since the previous one. */
function durableAcks(steps: Step[]): { acks: number; durable: number } {
  let acks = 0;
  let durable = 0;
  let written = false;
  let synced = false;
  for (const step of steps) {
    if (step.kind === 'wal-write') {
      written = true;
      synced = false;
    } else if (step.kind === 'wal-sync' && written) {
      synced = true;
    } else if (step.kind === 'ack') {
      acks++;
      if (written && synced) durable++;
      written = false;
      synced = false;
    }
  }
  return { acks, durable };
}

describe('embedded database durability', { skip: strace ? false : 'strace is not installed' }, () => {
  test('every acknowledged commit has its WAL fdatasynced first', () => {
    const { acks, durable } = durableAcks(trace('durable', 25));
    assert.equal(acks, 25);
    assert.equal(durable, 25);
  });

  test('the check can fail: without the flusher PGlite acknowledges commits that are only in the page cache', () => {
    const { acks, durable } = durableAcks(trace('volatile', 25));
    assert.equal(acks, 25);
    assert.equal(durable, 0);
  });
});
