import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { App, PortInUseError, type Role } from '../../src/app/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { loadMasterKeys } from '../../src/crypto/index.ts';
import { describeEachDb } from '../support/db.ts';

// Port sharing (SO_REUSEPORT) is for API-only processes on PostgreSQL, which serve one database;
// any other server on a port in use would split its traffic with a stranger, and refuses to start.
// (test/cli/cli.test.ts shows the refusal as the command prints it.)

describeEachDb('the HTTP port', (suite) => {
  test('only API-only processes on PostgreSQL share a port; any other server refuses one in use', async () => {
    const masterKey = randomBytes(32).toString('base64');
    const started: App[] = [];
    const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-listen-'));
    const start = async (port: number, roles: Role[]) => {
      const config = loadConfig({
        SEALPOST_DATA_DIR: dataDir,
        SEALPOST_MASTER_KEY: masterKey,
        SEALPOST_LOG_LEVEL: 'silent',
        SEALPOST_HTTP_PORT: String(port),
      });
      const app = await App.create(config, suite.db, loadMasterKeys(config));
      started.push(app);
      return app.start(roles);
    };
    try {
      const { url } = await start(0, ['api']);
      const port = Number(new URL(url!).port);
      if (suite.kind === 'postgres') {
        const second = await start(port, ['api']);
        assert.equal(second.url, url, 'a second API process shares the port');
      } else {
        await assert.rejects(start(port, ['api']), PortInUseError);
      }
      await assert.rejects(start(port, ['api', 'worker']), (err: Error) => {
        assert.ok(err instanceof PortInUseError);
        assert.match(err.message, new RegExp(`^port ${port} is in use`));
        return true;
      });
    } finally {
      for (const app of started) await app.stopServices({ queueTimeoutMs: 2000 });
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
