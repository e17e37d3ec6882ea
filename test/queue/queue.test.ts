import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDb } from '../../src/db/index.ts';
import { JobQueue } from '../../src/queue/index.ts';
import { describeEachDb } from '../support/db.ts';

const fixture = new URL('./fixtures/worker.ts', import.meta.url).pathname;

async function until<T>(check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(100);
  }
}

describeEachDb('job queue', (suite) => {
  let queue: JobQueue;

  before(async () => {
    queue = new JobQueue(suite.db, { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1 });
    await queue.start();
  });
  after(() => queue.stop({ timeoutMs: 2000 }));

  test('a job that fails twice is retried with growing delays, then completes', async () => {
    await queue.define('flaky', { retryLimit: 3, retryDelaySeconds: 1, retryBackoff: true });
    const attempts: number[] = [];
    await queue.work<{ n: number }>('flaky', async (job) => {
      attempts.push(Date.now());
      if (job.retryCount < 2) throw new Error(`attempt ${job.retryCount} fails`);
    });
    const id = await queue.send('flaky', { n: 1 });
    await until(async () => (await queue.boss.getJobById('flaky', id))?.state === 'completed');
    assert.equal(attempts.length, 3);
    const [first, second, third] = attempts as [number, number, number];
    // pg-boss's backoff waits 1-2 s after the first failure and 2-4 s after the second (random
    // jitter), plus polling: only the lower bounds are certain, so they are what is checked.
    assert.ok(second - first >= 900, `first retry after ${second - first} ms`);
    assert.ok(third - second >= 1900, `second retry after ${third - second} ms: no backoff`);
  });

  test('a loop taking one job at a time drains a backlog without waiting for its next poll', async () => {
    await queue.define('one-by-one', { notify: true });
    for (let i = 0; i < 5; i++) await queue.send('one-by-one', { n: i });
    const done: number[] = [];
    // A 30-second poll: without the wake-up after each job, the second would wait for it.
    await queue.work<{ n: number }>(
      'one-by-one',
      async (job) => {
        done.push(job.data.n);
      },
      { batchSize: 1, loops: 1, pollingIntervalSeconds: 30 },
    );
    await until(async () => done.length === 5, 10_000);
    assert.deepEqual(done.toSorted(), [0, 1, 2, 3, 4]);
  });

  test('a job that always fails ends in the dead-letter queue with its error', async () => {
    await queue.define('doomed', { retryLimit: 1, retryDelaySeconds: 1, retryBackoff: false });
    await queue.work('doomed', async () => {
      throw new Error('recipient domain does not exist');
    });
    const id = await queue.send('doomed', { to: 'job-1' });
    const failed = await until(async () => {
      const job = await queue.boss.getJobById('doomed', id);
      return job?.state === 'failed' ? job : undefined;
    });
    assert.equal(failed.retryCount, 1);
    assert.match(JSON.stringify(failed.output), /recipient domain does not exist/);
    const dead = await until(async () => {
      const jobs = await queue.boss.fetch<{ to: string }>('doomed.dead');
      return jobs.length > 0 ? jobs : undefined;
    });
    assert.equal(dead[0]!.data.to, 'job-1');
  });

  test('a scheduled job does not run before its time', async () => {
    await queue.define('later');
    const ran: number[] = [];
    await queue.work('later', async () => {
      ran.push(Date.now());
    });
    const at = Date.now() + 2500;
    await queue.send('later', {}, { startAfter: new Date(at) });
    await until(async () => ran.length > 0);
    assert.ok(ran[0]! >= at - 50, `ran ${at - ran[0]!} ms early`);
  });

  test('recurring jobs are registered by cron expression', async () => {
    await queue.define('nightly.audit-verify');
    await queue.schedule('nightly.audit-verify', '15 3 * * *', { scope: 'all' });
    const schedules = await queue.boss.getSchedules('nightly.audit-verify');
    assert.equal(schedules[0]?.cron, '15 3 * * *');
  });

  test('a job sent in a transaction that rolls back never exists', async () => {
    await queue.define('tx-bound');
    let kept = '';
    await assert.rejects(
      suite.db.transaction(async (tx) => {
        kept = await queue.send('tx-bound', { x: 1 }, { tx });
        throw new Error('the message insert failed');
      }),
    );
    assert.ok(kept);
    assert.equal(await queue.boss.getJobById('tx-bound', kept), null);
    const committed = await suite.db.transaction((tx) => queue.send('tx-bound', { x: 2 }, { tx }));
    assert.equal((await queue.boss.getJobById('tx-bound', committed))?.state, 'created');
  });

  test('two workers share 50 jobs: each runs once, none twice at a time', async () => {
    await queue.define('shared', { retryLimit: 0 });
    const runs = new Map<number, number>();
    const byWorker = [0, 0];
    const running = new Set<number>();
    for (const w of [0, 1]) {
      await queue.work<{ n: number }>(
        'shared',
        async (job) => {
          assert.ok(!running.has(job.data.n), 'a job runs in one worker at a time');
          running.add(job.data.n);
          await sleep(5);
          running.delete(job.data.n);
          runs.set(job.data.n, (runs.get(job.data.n) ?? 0) + 1);
          byWorker[w]!++;
        },
        { batchSize: 5 },
      );
    }
    for (let n = 0; n < 50; n++) await queue.send('shared', { n });
    await until(async () => runs.size === 50);
    await sleep(300);
    assert.deepEqual(
      [...runs.values()].filter((c) => c !== 1),
      [],
    );
    assert.equal(byWorker[0]! + byWorker[1]!, 50);
  });
});

describeEachDb('job queue crash recovery', (suite) => {
  test('a worker killed mid-job loses nothing: the job is taken again when its lease runs out', async () => {
    // The child process owns the database for the embedded kind, so the test hands it over.
    const isPglite = suite.kind === 'pglite';
    let queue = new JobQueue(suite.db, { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1 });
    await queue.start();
    await queue.define('crash.work', {
      expireInSeconds: 2,
      retryLimit: 3,
      retryDelaySeconds: 1,
      retryBackoff: false,
    });
    const id = await queue.send('crash.work', { step: 'deliver' });
    await queue.stop();
    if (isPglite) await suite.db.close();

    const child = spawn(process.execPath, [fixture, suite.testDb.location], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    await until(async () => out.includes(`holding ${id}`), 30_000);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));

    const db = isPglite ? await openDb({ dataDir: suite.testDb.location, databasePoolSize: 1 }) : suite.db;
    queue = new JobQueue(db, { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1 });
    await queue.start();
    const done: string[] = [];
    await queue.work('crash.work', async (job) => {
      done.push(job.id);
    });
    await until(async () => (await queue.boss.getJobById('crash.work', id))?.state === 'completed', 30_000);
    assert.deepEqual(done, [id]);
    await queue.stop({ timeoutMs: 2000 });
    if (isPglite) await db.close();
  });
});
