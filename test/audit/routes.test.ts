// The audit routes on the real HTTP server (deny by default, scopes, problem answers, OpenAPI), with
// ONE TEST-ONLY SHORTCUT: `authenticate` below believes the x-test-org and x-test-scopes headers
// instead of checking an API key. It tests what the routes do for an authenticated caller, not
// authentication; end-to-end tests with real API keys live with the application's tests.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { appendAudit, writeCheckpoints } from '../../src/audit/index.ts';
import { auditRoutes } from '../../src/audit/routes.ts';
import { loadConfig } from '../../src/config/index.ts';
import { deriveSigningKey } from '../../src/crypto/index.ts';
import { errors } from '../../src/errors/index.ts';
import { buildHttpServer, type HttpServer } from '../../src/http/index.ts';
import { createLogger } from '../../src/log/index.ts';
import { Metrics } from '../../src/metrics/index.ts';
import { asSuperuser, cutTail } from '../support/audit-tamper.ts';
import { describeEachDb } from '../support/db.ts';

const T0 = Date.parse('2026-04-01T00:00:00.000Z');
const MINUTE = 60_000;

describeEachDb('audit routes', (suite) => {
  let app: HttpServer;
  let dataDir: string;
  const orgId = randomUUID();
  const otherOrg = randomUUID();
  const key = deriveSigningKey(randomBytes(32));

  const get = (url: string, options: { org?: string | null; scopes?: string } = {}) => {
    const headers: Record<string, string> = { 'x-test-scopes': options.scopes ?? 'audit:read audit:export' };
    if (options.org !== null) headers['x-test-org'] = options.org ?? orgId;
    return app.inject({ method: 'GET', url, headers });
  };

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sealpost-audit-routes-'));
    app = await buildHttpServer({
      config: loadConfig({ SEALPOST_DATA_DIR: dataDir, SEALPOST_LOG_LEVEL: 'silent' }),
      log: createLogger('silent'),
      metrics: new Metrics(),
      // TEST ONLY: trusts headers; see the comment at the top of this file.
      async authenticate(request) {
        const org = request.headers['x-test-org'];
        if (typeof org !== 'string') throw errors.unauthorized();
        const scopes = String(request.headers['x-test-scopes'] ?? '').split(' ');
        return { orgId: org, actor: { type: 'api_key', id: 'test', label: 'spk_test' }, scopes };
      },
      async ready() {},
      routes: [
        (server) =>
          auditRoutes(server, { db: suite.db, checkpointKeys: () => new Map([[key.id, key.publicKey]]) }),
      ],
    });
    await app.ready();
    for (let i = 0; i < 12; i++) {
      for (const org of [orgId, otherOrg]) {
        await appendAudit(
          suite.db,
          {
            orgId: org,
            actor: { type: 'user', id: i < 6 ? 'u-1' : 'u-2', label: 'user' },
            action: i % 4 === 0 ? 'auth.login_failed' : 'api_key.created',
            objectType: i % 4 === 0 ? 'user' : 'api_key',
            objectId: `obj-${i % 3}`,
            outcome: i % 4 === 0 ? 'failure' : 'success',
            ip: '198.51.100.7',
            requestId: `r${i}`,
            details: { i, text: i === 11 ? '=2+3' : 'x' },
          },
          { clock: () => new Date(T0 + i * MINUTE) },
        );
      }
    }
  });
  after(async () => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('needs credentials and the audit:read permission', async () => {
    assert.equal((await get('/v1/audit-events', { org: null })).statusCode, 401);
    const denied = await get('/v1/audit-events', { scopes: 'org:read api_keys:read' });
    assert.equal(denied.statusCode, 403);
    assert.equal(denied.json().code, 'forbidden');
    assert.equal((await get('/v1/audit-events/verify', { scopes: 'org:read' })).statusCode, 403);
    assert.equal((await get('/v1/audit-events/checkpoints', { scopes: 'audit:read' })).statusCode, 403);
  });

  test("json: a page of the caller's organisation only, filtered, with a cursor to the next", async () => {
    const res = await get('/v1/audit-events?limit=5');
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const body = res.json();
    assert.equal(body.data.length, 5);
    assert.ok(body.data.every((e: { org_id: string }) => e.org_id === orgId));
    assert.deepEqual(Object.keys(body.data[0]).sort(), [
      'action',
      'actor_id',
      'actor_label',
      'actor_type',
      'details',
      'event_id',
      'hash',
      'ip',
      'object_id',
      'object_type',
      'occurred_at',
      'org_id',
      'outcome',
      'prev_hash',
      'request_id',
      'seq',
    ]);
    assert.equal(body.data[0].occurred_at, '2026-04-01T00:00:00.000Z');
    assert.deepEqual(body.data[0].details, { i: 0, text: 'x' });
    assert.equal(body.data[1].prev_hash, body.data[0].hash);

    const all: number[] = [];
    let url = '/v1/audit-events?limit=5';
    for (;;) {
      const page = (await get(url)).json();
      all.push(...page.data.map((e: { seq: number }) => e.seq));
      if (!page.next_cursor) break;
      url = `/v1/audit-events?limit=5&cursor=${encodeURIComponent(page.next_cursor)}`;
    }
    assert.deepEqual(
      all,
      Array.from({ length: 12 }, (_, i) => i + 1),
    );

    const seqs = async (query: string) =>
      (await get(`/v1/audit-events?${query}`)).json().data.map((e: { seq: number }) => e.seq);
    assert.deepEqual(await seqs('from=2026-04-01T00:03:00Z&to=2026-04-01T00:06:00.000Z'), [4, 5, 6]);
    assert.deepEqual(await seqs('actor_id=u-2&action=auth.login_failed'), [9]);
    assert.deepEqual(await seqs('object_type=api_key&object_id=obj-1'), [2, 8, 11]);
    assert.deepEqual(await seqs('from=2026-04-01T00:03:00%2B00:00&actor_id=u-1'), [4, 5, 6]);
  });

  test('jsonl and csv: every matching event as a download', async () => {
    // An export needs audit:export besides audit:read.
    const refused = await get('/v1/audit-events?format=jsonl', { scopes: 'audit:read' });
    assert.equal(refused.statusCode, 403);
    assert.match(refused.json().detail, /audit:export/);
    const jsonl = await get('/v1/audit-events?format=jsonl&actor_id=u-2');
    assert.equal(jsonl.statusCode, 200);
    assert.equal(jsonl.headers['content-type'], 'application/x-ndjson; charset=utf-8');
    assert.equal(jsonl.headers['content-disposition'], 'attachment; filename="audit-events.jsonl"');
    assert.equal(jsonl.headers['cache-control'], 'no-store');
    const lines = jsonl.body.trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).seq),
      [7, 8, 9, 10, 11, 12],
    );

    // Bounded: every export adds its own audit.exported event, now.
    const csv = await get('/v1/audit-events?format=csv&from=2026-04-01T00:10:00Z&to=2026-04-02T00:00:00Z');
    assert.equal(csv.statusCode, 200);
    assert.equal(csv.headers['content-type'], 'text/csv; charset=utf-8');
    assert.equal(csv.headers['content-disposition'], 'attachment; filename="audit-events.csv"');
    const rows = csv.body.trimEnd().split('\n');
    assert.equal(rows.length, 3);
    assert.match(rows[0]!, /^org_id,seq,event_id,occurred_at,/);
    assert.ok(rows[2]!.includes(`"{""i"":11,""text"":""=2+3""}"`), rows[2]);
    assert.ok(!rows.some((r) => r.includes(otherOrg)));
  });

  test('every export is on the record: who, which part, in which format and why', async () => {
    const reason = 'OCR audit request 2026-117, November sample';
    const res = await get(
      `/v1/audit-events?format=jsonl&action=auth.login_failed&reason=${encodeURIComponent(reason)}`,
    );
    assert.equal(res.statusCode, 200);
    // The export's own event is chained before the export reads the trail, and carries the reason.
    const after = await get('/v1/audit-events?action=audit.exported&limit=1000');
    const events = after.json().data as { actor_type: string; details: Record<string, unknown> }[];
    const mine = events.find((e) => e.details.reason === reason);
    assert.ok(mine, JSON.stringify(events));
    assert.equal(mine.actor_type, 'api_key');
    assert.equal(mine.details.format, 'jsonl');
    assert.equal(mine.details.action, 'auth.login_failed');
    // A page of the trail (format=json) is reading, not exporting: no event.
    await get('/v1/audit-events?limit=5');
    const again = await get('/v1/audit-events?action=audit.exported&limit=1000');
    assert.equal(again.json().data.length, events.length);
  });

  test('a wrong query is a 400 problem', async () => {
    for (const query of [
      'limit=0',
      'limit=1001',
      'from=yesterday',
      'format=xml',
      'org_id=someone-else',
      'cursor=bm9wZQ',
      'format=csv&limit=10',
      'format=jsonl&cursor=abc',
    ]) {
      const res = await get(`/v1/audit-events?${query}`);
      assert.equal(res.statusCode, 400, query);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8', query);
    }
  });

  test("verify: the caller's chain intact with its head, or its first broken event", async () => {
    const ok = await get('/v1/audit-events/verify');
    assert.equal(ok.statusCode, 200);
    const body = ok.json();
    assert.equal(body.ok, true);
    assert.equal(body.chains, 1);
    // The twelve seeded events and the three exports' own events.
    assert.equal(body.events, 15);
    assert.equal(body.head.seq, 15);
    assert.match(body.head.hash, /^[0-9a-f]{64}$/);

    // An attacker with superuser rights edits event 5 of the other organisation.
    await suite.db.transaction(async (tx) => {
      await tx.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
      await tx.query("UPDATE audit_events SET outcome = 'success' WHERE org_id = $1 AND seq = 5", [otherOrg]);
      await tx.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
    });
    assert.equal(
      (await get('/v1/audit-events/verify')).json().ok,
      true,
      "the caller's chain is still intact",
    );
    const broken = (await get('/v1/audit-events/verify', { org: otherOrg })).json();
    assert.equal(broken.ok, false);
    assert.equal(broken.org_id, otherOrg);
    assert.equal(broken.seq, 5);
    assert.equal(broken.reason, 'hash_mismatch');
    assert.match(broken.event_id, /^[0-9a-f-]{36}$/);
    assert.equal(broken.events, 4);
  });

  test('the OpenAPI document describes both routes and the export media types', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const list = doc.paths['/v1/audit-events'].get;
    assert.deepEqual(Object.keys(list.responses['200'].content).sort(), [
      'application/json',
      'application/x-ndjson',
      'text/csv',
    ]);
    assert.ok(list.parameters.some((p: { name: string }) => p.name === 'actor_id'));
    assert.ok(doc.paths['/v1/audit-events/verify'].get.responses['200']);
    assert.ok(doc.paths['/v1/audit-events/checkpoints'].get.responses['200'].content['application/x-ndjson']);
  });

  test("checkpoints: the organisation's own as JSON lines; verify holds its chain to them", async () => {
    const signedAt = new Date(T0 + 60 * MINUTE);
    assert.equal(await writeCheckpoints(suite.db, key, signedAt), 2);
    const res = await get('/v1/audit-events/checkpoints');
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/x-ndjson; charset=utf-8');
    assert.equal(res.headers['content-disposition'], 'attachment; filename="audit-checkpoints.jsonl"');
    const lines = res.body
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 1, "the caller's chain only");
    assert.equal(lines[0].org_id, orgId);
    assert.equal(lines[0].key_id, key.id);
    assert.equal(lines[0].signed_at, signedAt.toISOString());
    assert.equal(
      lines[0].public_key,
      key.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    );
    // Taking them is on the record.
    const taken = (await get('/v1/audit-events?action=audit.checkpoints_exported')).json().data;
    assert.equal(taken.length, 1);

    const ok = (await get('/v1/audit-events/verify')).json();
    assert.equal(ok.ok, true);
    assert.deepEqual(ok.checkpoints, {
      checked: 1,
      unverifiable: 0,
      key_ids: [key.id],
      latest: signedAt.toISOString(),
    });

    // The tail cut and the head moved back: the head alone no longer tells, the checkpoint does.
    await asSuperuser(suite.db, (tx) => cutTail(tx, orgId, 10));
    const cut = (await get('/v1/audit-events/verify')).json();
    assert.equal(cut.ok, false);
    assert.equal(cut.reason, 'truncated');
    assert.equal(cut.seq, 11);
    assert.equal(cut.event_id, null);
    assert.deepEqual(
      cut.breaks.map((b: { reason: string }) => b.reason),
      ['truncated'],
    );
    assert.equal(cut.checkpoints.checked, 1);
  });
});
