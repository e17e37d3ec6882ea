// Audit appends per second on both databases, one durable transaction per append unless said
// otherwise, and verify speed.
//   node --disable-warning=ExperimentalWarning bench/audit.ts [--seconds=5]
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type AuditInput, appendAudit, verifyAudit } from '../src/audit/index.ts';
import type { Db } from '../src/db/types.ts';
import { type BenchRow, formatRows, onEachDatabase, rateFor } from './support.ts';

/** Events per transaction in the batched scenario (an action that audits many objects at once). */
const BATCH = 100;

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

async function append(db: Db, orgIds: string[], writers: number, seconds: number, perTransaction = 1) {
  let n = 0;
  const r = await rateFor(seconds, writers, perTransaction, (w) =>
    db.transaction(async (tx) => {
      for (let i = 0; i < perTransaction; i++)
        await appendAudit(tx, sampleEvent(orgIds[w % orgIds.length]!, n++));
    }),
  );
  return { count: r.count, seconds: r.seconds, perSecond: r.perSecond };
}

async function verifySpeed(db: Db) {
  const start = performance.now();
  const result = await verifyAudit(db);
  const elapsed = (performance.now() - start) / 1000;
  if (!result.ok) throw new Error(`verify failed: ${JSON.stringify(result)}`);
  return { count: result.events, seconds: elapsed, perSecond: result.events / elapsed };
}

export async function runAuditBench(seconds = 5, log: (line: string) => void = () => {}): Promise<string> {
  const rows: BenchRow[] = [];
  const notes = await onEachDatabase(async (database, db) => {
    log(`${database}: appending for ${seconds} s per scenario`);
    const one = randomUUID();
    rows.push({ database, scenario: 'append, 1 writer, 1 org', ...(await append(db, [one], 1, seconds)) });
    if (database === 'postgres') {
      // PGlite runs one transaction at a time: concurrent writers only queue there.
      rows.push({ database, scenario: 'append, 4 writers, 1 org', ...(await append(db, [one], 4, seconds)) });
      const four = Array.from({ length: 4 }, () => randomUUID());
      rows.push({ database, scenario: 'append, 4 writers, 4 orgs', ...(await append(db, four, 4, seconds)) });
    }
    rows.push({
      database,
      scenario: `append, ${BATCH} per transaction`,
      ...(await append(db, [randomUUID()], 1, seconds, BATCH)),
    });
    rows.push({ database, scenario: 'verify (all events above)', ...(await verifySpeed(db)) });
  });
  return formatRows('Sealpost audit appends (every commit durable)', notes, rows);
}

if (import.meta.main) {
  const arg = process.argv.find((a) => a.startsWith('--seconds='));
  process.stdout.write(
    await runAuditBench(arg ? Number(arg.slice(10)) : 5, (l) => process.stderr.write(`${l}\n`)),
  );
}
