// A running Sealpost over a test database, reached over real HTTP like any client would.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type Role } from '../../src/app/index.ts';
import { type Config, loadConfig } from '../../src/config/index.ts';
import { loadMasterKeys } from '../../src/crypto/index.ts';
import type { InitResult } from '../../src/identity/index.ts';
import type { Logger } from '../../src/log/index.ts';
import type { TestDb } from './db.ts';

export interface TestServer {
  app: App;
  url: string;
  config: Config;
  /** Sends a request; `token` goes in the Authorization header, `body` is sent as JSON. */
  request(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: string },
  ): Promise<{ status: number; headers: Headers; body: any; text: string }>;
  /** Creates another organisation with its administrator and an all-permissions API key. */
  createOrg(name: string): Promise<InitResult>;
  close(): Promise<void>;
}

export async function startTestServer(
  testDb: TestDb,
  env: Record<string, string> = {},
  options: { log?: Logger; roles?: Role[]; clock?: () => Date } = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-app-'));
  const config = loadConfig({
    SEALPOST_DATA_DIR: dataDir,
    SEALPOST_HTTP_PORT: '0',
    SEALPOST_MASTER_KEY: randomBytes(32).toString('base64'),
    SEALPOST_LOG_LEVEL: 'silent',
    // Tests deliver to their own mail world; the sandbox is tested on purpose.
    SEALPOST_MODE: 'production',
    ...env,
  });
  const app = await App.create(config, testDb.db, await loadMasterKeys(config), options);
  const { url } = await app.start(options.roles ?? ['api']);
  return {
    app,
    url: url!,
    config,
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined = opts.raw;
      if (opts.body !== undefined) {
        headers['content-type'] ??= 'application/json';
        body = JSON.stringify(opts.body);
      }
      const res = await fetch(`${url}${path}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
      return { status: res.status, headers: res.headers, body: parsed, text };
    },
    createOrg(name) {
      return app.initOrganization({
        name,
        adminEmail: `admin@${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.example`,
        actor: { type: 'system', id: 'test', label: 'test' },
      });
    },
    async close() {
      // The database belongs to the suite: it stays open.
      await app.stopServices({ queueTimeoutMs: 2000 });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
