// Counts the SQL statements a Sealpost process sends to PostgreSQL, by statement, and writes them
// to <BENCH_QUERY_LOG>/<role>-<pid>.json when the process exits. For finding round trips
// to cut, not for production: load it into the servers of a bench run with
//   BENCH_QUERY_LOG=/tmp/q SEALPOST_BENCH_NODE_OPTIONS="--import=$PWD/bench/count-queries.ts" \
//     node bench/secureline.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

const dir = process.env.BENCH_QUERY_LOG;
if (dir) {
  const counts = new Map<string, number>();
  const original = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string } | undefined;
    const text = typeof first === 'string' ? first : (first?.text ?? '?');
    const key = text.replace(/\s+/g, ' ').trim().slice(0, 120);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return original.apply(this, args);
  } as typeof pg.Client.prototype.query;
  const role = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : 'all';
  process.on('exit', () => {
    const sorted = [...counts].sort((a, b) => b[1] - a[1]);
    writeFileSync(join(dir, `${role}-${process.pid}.json`), JSON.stringify(sorted, null, 1));
  });
}
