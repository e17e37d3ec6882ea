import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { App } from '../../src/app/index.ts';
import { controlSocketPath, runRemote } from '../../src/cli/control.ts';
import { loadConfig } from '../../src/config/index.ts';
import { loadMasterKeys, signingKeyId } from '../../src/crypto/index.ts';
import { embeddedDbDir } from '../../src/db/index.ts';
import { openPglite } from '../../src/db/pglite.ts';
import { createLogger } from '../../src/log/index.ts';
import { asSuperuser, cutTail, deleteChain, rehash } from '../support/audit-tamper.ts';
import { cliEnv, initResult, runCli, SEALPOST_BIN, startServe } from '../support/cli.ts';
import { createTestDb, postgresOrSkip } from '../support/db.ts';

const folders: string[] = [];
function dataDir() {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-cli-'));
  folders.push(dir);
  return dir;
}
after(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

const api = async (url: string, path: string, token: string, init: RequestInit = {}) => {
  const res = await fetch(`${url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers },
  });
  const body: any = res.status === 204 ? null : await res.json();
  return { status: res.status, body };
};

describe('sealpost CLI on the embedded database', () => {
  test('init --json creates an organisation, its administrator and a working API key; the key file is 0600', async () => {
    const dir = dataDir();
    const init = await runCli(
      ['init', '--org', 'Northside Clinic', '--admin', 'it@northside.example', '--json'],
      {
        SEALPOST_DATA_DIR: dir,
      },
    );
    assert.equal(init.code, 0, init.stderr);
    // Standard output is no terminal here: the secrets are in a file only this user reads.
    const printed = JSON.parse(init.stdout);
    assert.equal(printed.admin_password, undefined);
    assert.equal(printed.api_key, undefined);
    assert.equal(printed.credentials_file, join(dir, `credentials-${printed.org_id}.txt`));
    assert.equal(statSync(printed.credentials_file).mode & 0o777, 0o600);
    const result = initResult(init.stdout);
    assert.match(result.org_id, /^[0-9a-f-]{36}$/);
    assert.equal(result.admin_email, 'it@northside.example');
    assert.ok(result.admin_password.length >= 20);
    assert.match(result.api_key, /^spk_/);
    assert.ok(!init.stdout.includes(result.api_key) && !init.stdout.includes(result.admin_password));
    assert.equal(statSync(join(dir, 'master.key')).mode & 0o777, 0o600);

    const serve = await startServe({ SEALPOST_DATA_DIR: dir });
    try {
      assert.equal(serve.apiKey, null, 'an organisation exists: no first-start organisation is made');
      const org = await api(serve.url, '/v1/organization', result.api_key);
      assert.equal(org.body.name, 'Northside Clinic');
    } finally {
      await serve.stop();
    }
  });

  test('first start prints the URL and an admin login, with the password and API key in a 0600 file; the CLI works while serve runs', async () => {
    const dir = dataDir();
    const serve = await startServe({ SEALPOST_DATA_DIR: dir });
    try {
      assert.match(serve.output(), /Admin login: admin@sealpost\.localhost/);
      // Standard error is no terminal here (a log system would keep it): no secret is printed.
      assert.doesNotMatch(serve.output(), /Password: |spk_/);
      const file = join(dir, 'first-start-credentials.txt');
      assert.match(serve.output(), new RegExp(`in ${file} \\(readable by you only`));
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.match(serve.firstStart!, /Password: +\S{20,}/);
      assert.ok(serve.apiKey);
      assert.ok(!serve.output().includes(serve.apiKey));
      assert.deepEqual(await (await fetch(`${serve.url}/healthz`)).json(), { status: 'ok' });
      // Metrics are served only to a scraper with SEALPOST_METRICS_TOKEN: by default, not at all.
      const metrics = await fetch(`${serve.url}/metrics`);
      assert.equal(metrics.status, 404);
      assert.match(metrics.headers.get('content-type') ?? '', /^application\/problem\+json/);
      const org = await api(serve.url, '/v1/organization', serve.apiKey);
      assert.equal(org.status, 200);

      // A server of another data folder may not take the same port (it would answer half the
      // requests with its own data): it says so and exits.
      const port = new URL(serve.url).port;
      const other = await createTestDb('pglite');
      await other.db.close();
      try {
        const refused = await runCli(['serve'], {
          SEALPOST_DATA_DIR: other.location,
          SEALPOST_HTTP_PORT: port,
        });
        assert.equal(refused.code, 1, refused.stderr);
        assert.match(refused.stderr, new RegExp(`sealpost: port ${port} is in use`));
        assert.doesNotMatch(refused.stderr, /First start/, 'a refused server creates nothing');
      } finally {
        await other.dispose();
      }

      const init = await runCli(['init', '--org', 'Second', '--admin', 'b@second.example', '--json'], {
        SEALPOST_DATA_DIR: dir,
      });
      assert.equal(init.code, 0, init.stderr);
      assert.match(init.stderr, /running "init" inside it/);
      const second = initResult(init.stdout);
      assert.equal((await api(serve.url, '/v1/organization', second.api_key)).body.name, 'Second');
      // The control socket runs the CLI's own commands, not what every object inherits.
      for (const name of ['constructor', '__proto__', 'valueOf', 'hasOwnProperty'])
        await assert.rejects(runRemote(controlSocketPath(dir), name, {}, { progress() {}, write() {} }), {
          name: 'UsageError',
          message: `unknown command "${name}"`,
        });

      const verify = await runCli(['audit', 'verify', '--json'], { SEALPOST_DATA_DIR: dir });
      assert.equal(verify.code, 0, verify.stderr);
      assert.equal(JSON.parse(verify.stdout).ok, true);

      const csv = await runCli(['audit', 'export', '--org', second.org_id, '--format', 'csv'], {
        SEALPOST_DATA_DIR: dir,
      });
      assert.equal(csv.code, 0, csv.stderr);
      const lines = csv.stdout.trim().split('\n');
      assert.match(lines[0]!, /action/);
      assert.ok(lines.some((l) => l.includes('organization.created')));
      assert.ok(!csv.stdout.includes(org.body.id), "only the named organisation's events");
      // The export itself went on the record, under the name of the user who ran the command.
      const jsonl = await runCli(['audit', 'export', '--org', second.org_id], { SEALPOST_DATA_DIR: dir });
      const exported = jsonl.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .find((e) => e.action === 'audit.exported');
      assert.ok(exported, jsonl.stdout);
      assert.equal(exported.actor_type, 'cli');
      assert.deepEqual(exported.details, { format: 'csv', lines: lines.length });

      const rotate = await runCli(['keys', 'rotate'], { SEALPOST_DATA_DIR: dir });
      assert.equal(rotate.code, 0, rotate.stderr);
      assert.match(rotate.stderr, /re-wrapped 2 organisation key/);
      assert.equal(
        (await api(serve.url, '/v1/organization', second.api_key)).status,
        200,
        'serving on after rotation',
      );

      const unconfirmed = await runCli(['keys', 'destroy', '--org', second.org_id], {
        SEALPOST_DATA_DIR: dir,
      });
      assert.equal(unconfirmed.code, 2);
      assert.match(unconfirmed.stderr, /--confirm/);
      const destroy = await runCli(['keys', 'destroy', '--org', second.org_id, '--confirm', second.org_id], {
        SEALPOST_DATA_DIR: dir,
      });
      assert.equal(destroy.code, 0, destroy.stderr);
      assert.equal(JSON.parse(destroy.stdout).destroyed_key_versions, 1);
      const migrate = await runCli(['migrate'], { SEALPOST_DATA_DIR: dir });
      assert.equal(migrate.code, 0, migrate.stderr);
      assert.match(migrate.stderr, /up to date/);
    } finally {
      assert.equal(await serve.stop(), 0);
    }
  });

  test("audit checkpoints: signed with the supplied key, exported, and three tamperings named against the auditor's file", async () => {
    // A migrated embedded database (copied from the test template: quicker than a first start),
    // with three organisations of three events each, made in this process.
    const testDb = await createTestDb('pglite');
    const dir = testDb.location;
    folders.push(dir);
    const keyFile = join(dir, 'audit-signing.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', keyFile]);
    chmodSync(keyFile, 0o600);
    const env = { SEALPOST_DATA_DIR: dir, SEALPOST_AUDIT_SIGNING_KEY_FILE: keyFile };
    const config = loadConfig({ ...env, SEALPOST_LOG_LEVEL: 'silent' });
    const app = await App.create(config, testDb.db, loadMasterKeys(config), { log: createLogger('silent') });
    const orgIds: string[] = [];
    for (const name of ['Cut', 'Deleted', 'Rehashed']) {
      const actor = { type: 'system' as const, id: 'test', label: 'test' };
      const org = await app.initOrganization({ name, adminEmail: `it@${name.toLowerCase()}.example`, actor });
      orgIds.push(org.org_id);
    }
    await app.stop();
    const [cut, deleted, rehashed] = orgIds as [string, string, string];

    const signed = await runCli(['audit', 'checkpoint', '--json'], env);
    assert.equal(signed.code, 0, signed.stderr);
    const key = JSON.parse(signed.stdout);
    assert.equal(key.written, 3);
    // The supplied key signed, and its id is the SHA-256 of its public key.
    const publicKey = createPublicKey(readFileSync(keyFile, 'utf8'));
    assert.equal(key.key_id, signingKeyId(publicKey));
    assert.equal(key.public_key, publicKey.export({ type: 'spki', format: 'pem' }));

    const file = join(dir, 'checkpoints.jsonl');
    const exported = await runCli(['audit', 'checkpoints', 'export', '--output', file], env);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stderr, /Exported 3 checkpoint\(s\)/);
    assert.equal(statSync(file).mode & 0o777, 0o600);

    // The attacker has the database: cuts one chain, deletes another, re-hashes the third, and
    // deletes the checkpoints the database held.
    const db = await openPglite(embeddedDbDir(config));
    await asSuperuser(db, async (tx) => {
      await cutTail(tx, cut, 2);
      await deleteChain(tx, deleted);
      await rehash(tx, rehashed, 2);
      await tx.query('DELETE FROM audit_checkpoints');
    });
    await db.close();

    const verify = await runCli(['audit', 'verify', '--checkpoints', file, '--json'], env);
    assert.equal(verify.code, 1, verify.stderr);
    const result = JSON.parse(verify.stdout);
    assert.equal(result.ok, false);
    assert.deepEqual(
      Object.fromEntries(
        result.breaks.map((b: { org_id: string; reason: string; seq: number }) => [
          b.org_id,
          [b.reason, b.seq],
        ]),
      ),
      { [cut]: ['truncated', 3], [deleted]: ['chain_missing', 1], [rehashed]: ['rewritten', 3] },
    );
    assert.deepEqual(result.checkpoints.key_ids, [key.key_id]);
  });

  test('at a terminal, init shows the password and API key and writes no file', async (t) => {
    const dir = dataDir();
    // script(1) runs the command on a pseudo-terminal, as a person at a shell would.
    const args = ['init', '--org', 'Terminal Clinic', '--admin', 'it@terminal.example'];
    const command = [SEALPOST_BIN, ...args].map((a) => `'${a}'`).join(' ');
    const shown = await new Promise<{ error: Error | null; stdout: string }>((resolve) =>
      execFile(
        'script',
        ['-qec', command, '/dev/null'],
        { env: cliEnv({ SEALPOST_DATA_DIR: dir }) },
        (error, stdout) => resolve({ error, stdout }),
      ),
    );
    if ((shown.error as NodeJS.ErrnoException | null)?.code === 'ENOENT')
      return t.skip('script(1) is not installed');
    assert.equal(shown.error, null, shown.stdout);
    assert.match(shown.stdout, /Password: +\S{20,}/);
    assert.match(shown.stdout, /API key: +spk_\S+/);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('credentials-')),
      [],
      'no credentials file when a terminal showed them',
    );
    assert.ok(!existsSync(join(dir, 'first-start-credentials.txt')));
  });

  test('bad configuration and bad usage are named clearly', async () => {
    const bad = await runCli(['migrate'], { SEALPOST_HTTP_PORT: 'eighty', SEALPOST_PUBLIC_URL: 'nope' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /SEALPOST_HTTP_PORT: must be a whole number/);
    assert.match(bad.stderr, /SEALPOST_PUBLIC_URL: must be a URL/);
    const usage = await runCli(['frobnicate'], {});
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unknown command "frobnicate"/);
    const missing = await runCli(['init', '--org', 'x'], { SEALPOST_DATA_DIR: dataDir() });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--admin is required/);
  });

  test('kill -9 loses nothing that was acknowledged', async () => {
    const dir = dataDir();
    const first = await startServe({ SEALPOST_DATA_DIR: dir });
    const token = first.apiKey!;
    const acknowledged: string[] = [];
    // Requests in flight when the process dies: each one is either acknowledged or not, never lost.
    const inFlight = Array.from({ length: 40 }, (_, i) =>
      api(first.url, '/v1/api-keys', token, {
        method: 'POST',
        body: JSON.stringify({ name: `key ${i}`, scopes: ['org:read'] }),
      })
        .then((res) => {
          if (res.status === 201) acknowledged.push(res.body.id);
        })
        .catch(() => {}),
    );
    while (acknowledged.length < 15) await new Promise((r) => setTimeout(r, 5));
    await first.stop('SIGKILL');
    await Promise.all(inFlight);

    const second = await startServe({ SEALPOST_DATA_DIR: dir });
    try {
      const list = await api(second.url, '/v1/api-keys', token);
      const stored = new Set(list.body.data.map((k: { id: string }) => k.id));
      for (const id of acknowledged) assert.ok(stored.has(id), `acknowledged key ${id} survived kill -9`);
      const verify = await runCli(['audit', 'verify', '--json'], { SEALPOST_DATA_DIR: dir });
      assert.equal(JSON.parse(verify.stdout).ok, true, 'the audit chain is intact after the crash');
    } finally {
      await second.stop();
    }
  });
});

describe('sealpost CLI on PostgreSQL', () => {
  test('init, then serve with the api and worker roles in separate processes', async (t) => {
    const testDb = await postgresOrSkip(t);
    if (!testDb) return;
    await testDb.db.close();
    const env = { SEALPOST_DATABASE_URL: testDb.location, SEALPOST_DATA_DIR: dataDir() };
    try {
      const init = await runCli(['init', '--org', 'PG Org', '--admin', 'a@pg.example', '--json'], env);
      assert.equal(init.code, 0, init.stderr);
      const { api_key } = initResult(init.stdout);
      const apiRole = await startServe(env, ['--only', 'api']);
      const workerRole = await startServe({ ...env, SEALPOST_HTTP_PORT: '0' }, ['--only', 'worker']).catch(
        (err: Error) => err,
      );
      try {
        assert.match(apiRole.output(), /roles: api; PostgreSQL/);
        assert.equal((await api(apiRole.url, '/v1/organization', api_key)).body.name, 'PG Org');
        assert.ok(!(workerRole instanceof Error), String(workerRole));
      } finally {
        await apiRole.stop();
        if (!(workerRole instanceof Error)) await workerRole.stop();
      }
    } finally {
      await testDb.dispose();
    }
  });
});
