// Sealed writes per second: each row's 2 KB body sealed (fresh data key, AES-256-GCM, bound to
// its tenant, table and row) and committed durably; plus sealing alone, in memory.
//   node --disable-warning=ExperimentalWarning bench/seal.ts [--seconds=5]
import { randomBytes, randomUUID } from 'node:crypto';
import { Keyring } from '../src/crypto/index.ts';
import { masterKeyId } from '../src/crypto/master-key.ts';
import type { Db } from '../src/db/types.ts';
import { type BenchRow, formatRows, onEachDatabase, rateFor } from './support.ts';

const BODY = randomBytes(2048);

async function setup(db: Db) {
  const key = randomBytes(32);
  const keyring = new Keyring(db, { keys: [{ id: masterKeyId(key), key }], file: null });
  await db.exec(
    'CREATE TABLE IF NOT EXISTS bench_sealed (org_id uuid NOT NULL, id uuid NOT NULL, body bytea NOT NULL, PRIMARY KEY (org_id, id))',
  );
  const { rows } = await db.query<{ org_id: string }>(
    "INSERT INTO organizations (name) VALUES ('bench') RETURNING org_id",
  );
  const orgId = rows[0]!.org_id;
  await keyring.createOrgKey(db, orgId);
  return { keyring, orgId };
}

export async function runSealBench(seconds = 5, log: (line: string) => void = () => {}): Promise<string> {
  const rows: BenchRow[] = [];
  const notes = await onEachDatabase(async (kind, db) => {
    const { keyring, orgId } = await setup(db);
    const write = async (tx: { query: Db['query'] }) => {
      const id = randomUUID();
      const sealed = await keyring.seal(orgId, { table: 'bench_sealed', row: id }, BODY);
      await tx.query('INSERT INTO bench_sealed (org_id, id, body) VALUES ($1, $2, $3)', [orgId, id, sealed]);
    };
    if (kind === 'pglite') {
      log('memory: seal + open');
      const binding = { table: 't', row: 'r' };
      const r = await rateFor(seconds, 1, 1, async () => {
        await keyring.open(orgId, binding, await keyring.seal(orgId, binding, BODY));
      });
      rows.push({
        database: 'memory',
        scenario: 'seal + open 2 KB',
        count: r.count,
        seconds: r.seconds,
        perSecond: r.perSecond,
      });
    }
    const writers = kind === 'postgres' ? [1, 4] : [1];
    for (const w of writers) {
      log(`${kind}: ${w} writer(s), one sealed row per transaction`);
      const r = await rateFor(seconds, w, 1, () => db.transaction((tx) => write(tx)));
      rows.push({
        database: kind,
        scenario: `sealed write, ${w} writer(s)`,
        count: r.count,
        seconds: r.seconds,
        perSecond: r.perSecond,
      });
    }
    log(`${kind}: 100 sealed rows per transaction`);
    const batch = await rateFor(seconds, 1, 100, () =>
      db.transaction(async (tx) => {
        for (let i = 0; i < 100; i++) await write(tx);
      }),
    );
    rows.push({
      database: kind,
      scenario: 'sealed write, 100 per transaction',
      count: batch.count,
      seconds: batch.seconds,
      perSecond: batch.perSecond,
    });
  });
  return formatRows('Sealpost sealed writes (2 KB bodies, every commit durable)', notes, rows);
}

if (import.meta.main) {
  const arg = process.argv.find((a) => a.startsWith('--seconds='));
  process.stdout.write(
    await runSealBench(arg ? Number(arg.slice(10)) : 5, (l) => process.stderr.write(`${l}\n`)),
  );
}
