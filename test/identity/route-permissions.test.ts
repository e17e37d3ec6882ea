import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createUser, hashPassword, type InitResult, ROLES } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';

// Every route in the live OpenAPI document, with the permission it needs. A route missing from
// this table (a new route nobody gave a permission here) fails the suite; so does a route whose
// declared permission differs from the table's. Then every built-in role, signed in as a person
// (cookie, CSRF token, same origin), calls every route its role must not reach: each answers 403
// problem+json and nothing of the organisation changes.

// 'public': no credentials; 'session': the caller's own session, checked by the route itself.
const ROUTES: Record<string, string> = {
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /v1/events': 'messages:read',
  'GET /v1/event-types': 'messages:read',
  'POST /v1/webhooks': 'webhooks:manage',
  'GET /v1/webhooks': 'webhooks:read',
  'GET /v1/webhooks/{id}': 'webhooks:read',
  'PATCH /v1/webhooks/{id}': 'webhooks:manage',
  'DELETE /v1/webhooks/{id}': 'webhooks:manage',
  'POST /v1/webhooks/{id}/rotate-secret': 'webhooks:manage',
  'POST /v1/webhooks/{id}/test': 'webhooks:manage',
  'POST /v1/webhooks/{id}/replay': 'webhooks:manage',
  'GET /v1/webhooks/{id}/attempts': 'webhooks:read',
  'GET /v1/organization': 'org:read',
  'POST /v1/api-keys': 'api_keys:manage',
  'GET /v1/api-keys': 'api_keys:read',
  'GET /v1/api-keys/{id}': 'api_keys:read',
  'PATCH /v1/api-keys/{id}': 'api_keys:manage',
  'DELETE /v1/api-keys/{id}': 'api_keys:manage',
  'GET /v1/users': 'users:read',
  'POST /v1/users/{id}/unlock': 'users:manage',
  'PUT /v1/users/{id}/role': 'users:manage',
  'POST /v1/auth/sign-in': 'public',
  'POST /v1/auth/second-factor': 'session',
  'POST /v1/auth/second-factor/passkey/options': 'session',
  'POST /v1/auth/second-factor/passkey': 'session',
  'GET /v1/auth/session': 'session',
  'POST /v1/auth/sign-out': 'session',
  'POST /v1/auth/reauthenticate': 'session',
  'POST /v1/auth/password': 'session',
  'GET /v1/auth/sessions': 'session',
  'DELETE /v1/auth/sessions': 'session',
  'DELETE /v1/auth/sessions/{id}': 'session',
  'GET /v1/auth/factors': 'session',
  'POST /v1/auth/factors/totp': 'session',
  'DELETE /v1/auth/factors/totp': 'session',
  'POST /v1/auth/factors/totp/confirm': 'session',
  'POST /v1/auth/factors/passkeys/options': 'session',
  'POST /v1/auth/factors/passkeys': 'session',
  'DELETE /v1/auth/factors/passkeys/{id}': 'session',
  'POST /v1/auth/recovery-codes': 'session',
  'GET /v1/policies/auth': 'policy:read',
  'PATCH /v1/policies/auth': 'policy:manage',
  'GET /v1/policies/access': 'policy:read',
  'PATCH /v1/policies/access': 'policy:manage',
  'GET /v1/policies/secureline': 'policy:read',
  'PATCH /v1/policies/secureline': 'policy:manage',
  'GET /v1/roles': 'roles:read',
  'POST /v1/roles': 'roles:manage',
  'PATCH /v1/roles/{id}': 'roles:manage',
  'DELETE /v1/roles/{id}': 'roles:manage',
  'GET /v1/audit-events': 'audit:read',
  'GET /v1/audit-events/verify': 'audit:read',
  'GET /v1/audit-events/checkpoints': 'audit:export',
  'POST /v1/domains': 'domains:manage',
  'GET /v1/domains': 'domains:read',
  'GET /v1/domains/{domain}': 'domains:read',
  'POST /v1/domains/{domain}/verify': 'domains:manage',
  'POST /v1/domains/{domain}/dkim/rotate': 'domains:manage',
  'POST /v1/recipient-keys': 'recipient_keys:manage',
  'GET /v1/recipient-keys': 'recipient_keys:read',
  'GET /v1/recipient-keys/{id}': 'recipient_keys:read',
  'DELETE /v1/recipient-keys/{id}': 'recipient_keys:manage',
  'POST /v1/recipient-preferences': 'recipient_keys:manage',
  'GET /v1/recipient-preferences': 'recipient_keys:read',
  'DELETE /v1/recipient-preferences/{address}': 'recipient_keys:manage',
  'POST /v1/messages': 'messages:send',
  'GET /v1/messages': 'messages:read',
  'POST /v1/messages/batch': 'messages:send',
  'POST /v1/messages/preview': 'messages:send',
  'GET /v1/messages/{id}': 'messages:read',
  'POST /v1/messages/{id}/revoke': 'messages:revoke',
  'PATCH /v1/messages/{id}/portal': 'messages:revoke',
  'POST /v1/messages/{id}/recipients/{recipient_id}/notice': 'messages:revoke',
  'POST /v1/messages/{id}/recipients/{recipient_id}/unlock': 'messages:revoke',
  'POST /v1/inbound/reports': 'messages:send',
  'GET /v1/suppressions': 'suppressions:read',
  'DELETE /v1/suppressions/{address}': 'suppressions:manage',
  'GET /v1/reports/messages': 'reports:read',
  'GET /v1/reports/portal': 'reports:read',
  'GET /v1/reports/deliverability': 'reports:read',
  'GET /v1/reports/protection': 'reports:read',
  'GET /v1/sandbox/messages': 'sandbox:read',
  'GET /v1/sandbox/messages/{id}': 'sandbox:read',
  'GET /v1/branding': 'org:read',
  'PUT /v1/branding': 'branding:manage',
  // User lifecycle and invitations (src/identity/lifecycle*.ts, invitations*.ts).
  'POST /v1/users/{id}/disable': 'users:manage',
  'POST /v1/users/{id}/enable': 'users:manage',
  'DELETE /v1/users/{id}': 'users:manage',
  'GET /v1/users/access-review': 'users:read',
  'POST /v1/invitations': 'users:manage',
  'GET /v1/invitations': 'users:read',
  'DELETE /v1/invitations/{id}': 'users:manage',
  'POST /v1/invitations/accept': 'public',
  // Break-glass emergency access (src/identity/break-glass*.ts).
  'GET /v1/break-glass/policy': 'policy:read',
  'PUT /v1/break-glass/policy': 'policy:manage',
  'GET /v1/break-glass/accounts': 'users:read',
  'POST /v1/break-glass/accounts': 'users:manage',
  'DELETE /v1/break-glass/accounts/{id}': 'users:manage',
  'POST /v1/break-glass/activate': 'session',
  'POST /v1/break-glass/deactivate': 'session',
  'GET /v1/break-glass/activations': 'audit:read',
  'GET /v1/break-glass/activations/{id}': 'audit:read',
  'POST /v1/break-glass/activations/{id}/review': 'users:manage',
  // Single sign-on (src/identity/oidc*.ts).
  'GET /v1/sso': 'policy:read',
  'PUT /v1/sso': 'sso:manage',
  'GET /v1/sso/domains': 'policy:read',
  'POST /v1/sso/domains': 'sso:manage',
  'POST /v1/sso/domains/{domain}/verify': 'sso:manage',
  'DELETE /v1/sso/domains/{domain}': 'sso:manage',
  'GET /v1/auth/sso/start': 'public',
  'GET /v1/auth/sso/callback': 'public',
};

// Bodies shaped like real requests: the refusal must come before anything is read or done.
const BODIES: Record<string, unknown> = {
  'POST /v1/webhooks': { url: 'https://93.184.215.14/hook' },
  'PATCH /v1/webhooks/{id}': { enabled: false },
  'POST /v1/webhooks/{id}/rotate-secret': { overlap_hours: 0 },
  'POST /v1/webhooks/{id}/replay': { event_id: '5a1db0c5-0000-4000-8000-000000000001' },
  'POST /v1/api-keys': { name: 'probe', scopes: ['org:read'] },
  'PATCH /v1/api-keys/{id}': { rate_limit_per_minute: 1 },
  'PUT /v1/users/{id}/role': { role: 'owner' },
  'PATCH /v1/policies/auth': { idle_minutes: 5 },
  'PATCH /v1/policies/access': { networks: ['192.0.2.0/24'], force: true },
  'PATCH /v1/policies/secureline': { hide_subject: true },
  'POST /v1/roles': { name: 'Probe', permissions: ['org:read'] },
  'PATCH /v1/roles/{id}': { permissions: ['org:read'] },
  'POST /v1/domains': { domain: 'probe.example' },
  'POST /v1/recipient-preferences': { address: 'p@probe.example', protection: 'portal' },
  'POST /v1/messages': { from: 'a@probe.example', to: ['p@probe.example'], subject: 's', text: 't' },
  'POST /v1/messages/batch': {
    messages: [{ from: 'a@probe.example', to: ['p@probe.example'], subject: 's', text: 't' }],
  },
  'POST /v1/messages/preview': { from: 'a@probe.example', to: ['p@probe.example'], subject: 's', text: 't' },
  'POST /v1/messages/{id}/revoke': {},
  'PATCH /v1/messages/{id}/portal': { expires_at: new Date(Date.now() + 86_400_000).toISOString() },
  'POST /v1/inbound/reports': { raw: Buffer.from('To: x@probe.example\r\n\r\n').toString('base64') },
  'PUT /v1/branding': { display_name: 'Probe', color: '#112233' },
  'PUT /v1/sso': { issuer: 'https://login.probe.example', client_id: 'probe', client_secret: 'probe' },
  'POST /v1/sso/domains': { domain: 'probe.example' },
};

const PASSWORD = 'lantern orchard weatherglass';

describeEachDb('every route, every built-in role', (suite) => {
  let server: TestServer;
  let org: InitResult;
  let doc: { paths: Record<string, Record<string, Record<string, unknown>>> };
  const sessions = new Map<string, Record<string, string>>();
  const ids: Record<string, string> = {};

  before(async () => {
    // Every request here comes from one address: the per-address rate limit is not under test.
    server = await startTestServer(suite.testDb, { SEALPOST_RATE_LIMIT_PER_ADDRESS: '100000' });
    org = await server.createOrg('Route Clinic');
    doc = (await server.request('GET', '/openapi.json')).body;
    const hash = await hashPassword(PASSWORD);
    const origin = new URL(server.config.publicUrl).origin;
    for (const role of Object.keys(ROLES)) {
      const user = await createUser(suite.db, org.org_id, { email: `${role}@route.example`, role });
      await suite.db.query('UPDATE users SET password_hash = $3 WHERE org_id = $1 AND user_id = $2', [
        org.org_id,
        user.id,
        hash,
      ]);
      const res = await server.request('POST', '/v1/auth/sign-in', {
        body: { email: user.email, password: PASSWORD },
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.status, 'active');
      sessions.set(role, {
        cookie: /^([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!,
        'x-csrf-token': res.body.csrf_token,
        origin,
      });
      ids[role] = user.id;
    }
    // Real objects behind the path parameters, so a refusal is not a 404 in disguise.
    const role = await server.request('POST', '/v1/roles', {
      token: org.api_key,
      body: { name: 'Front desk', permissions: ['org:read', 'messages:read'] },
    });
    assert.equal(role.status, 201, role.text);
    ids.role = role.body.id;
    const hook = await server.request('POST', '/v1/webhooks', {
      token: org.api_key,
      body: { url: 'https://93.184.215.14/route-hook' },
    });
    assert.equal(hook.status, 201, hook.text);
    ids.webhook = hook.body.id;
    const key = await server.request('POST', '/v1/api-keys', {
      token: org.api_key,
      body: { name: 'route probe', scopes: ['org:read'] },
    });
    ids.key = key.body.id;
    await server.app.flushAudit();
  });
  after(() => server.close());

  function operations(): { name: string; method: string; path: string; declared: unknown }[] {
    return Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        name: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        declared: op['x-permission'],
      })),
    );
  }

  function concrete(path: string): string {
    const samples: Record<string, string> = {
      id: path.startsWith('/v1/webhooks/')
        ? ids.webhook!
        : path.startsWith('/v1/roles/')
          ? ids.role!
          : path.startsWith('/v1/users/')
            ? ids.read_only!
            : path.startsWith('/v1/api-keys/')
              ? ids.key!
              : '5a1db0c5-0000-4000-8000-000000000000',
      domain: 'route.example',
      address: 'p@route.example',
      recipient_id: '5a1db0c5-0000-4000-8000-000000000002',
    };
    return path.replace(/\{(\w+)\}/g, (_m, name: string) => {
      assert.ok(name in samples, `teach this test the path parameter {${name}} of ${path}`);
      return samples[name]!;
    });
  }

  test('the table names every documented route, with the permission the route declares', () => {
    const ops = operations();
    const missing = ops.filter((o) => !(o.name in ROUTES)).map((o) => o.name);
    assert.deepEqual(missing, [], 'routes without a permission in this table: give each one');
    const stale = Object.keys(ROUTES).filter((name) => !ops.some((o) => o.name === name));
    assert.deepEqual(stale, [], 'routes in the table but not in the document');
    for (const op of ops) {
      const expected = ROUTES[op.name]!;
      if (expected === 'public' || expected === 'session')
        assert.equal(
          op.declared,
          undefined,
          `${op.name} is ${expected} here but declares ${String(op.declared)}`,
        );
      else assert.equal(op.declared, expected, `${op.name}`);
    }
  });

  test('each role is refused, with 403 problem+json, every route it must not reach; nothing changes', async () => {
    const state = async () => {
      const tables = [
        'SELECT key_id, revoked_at, scopes FROM api_keys WHERE org_id = $1 ORDER BY key_id',
        'SELECT domain, status FROM sending_domains WHERE org_id = $1 ORDER BY domain',
        'SELECT * FROM secureline_policies WHERE org_id = $1',
        'SELECT * FROM staff_auth_policies WHERE org_id = $1',
        'SELECT * FROM access_policies WHERE org_id = $1',
        'SELECT role_id, name, permissions, updated_at FROM org_roles WHERE org_id = $1 ORDER BY role_id',
        'SELECT user_id, role, status FROM users WHERE org_id = $1 ORDER BY user_id',
        'SELECT * FROM webhook_endpoints WHERE org_id = $1',
        'SELECT * FROM org_branding WHERE org_id = $1',
        'SELECT message_id FROM messages WHERE org_id = $1',
        'SELECT address FROM recipient_preferences WHERE org_id = $1',
        'SELECT count(*)::int AS n FROM audit_events WHERE org_id = $1',
      ];
      const out = [];
      for (const sql of tables) out.push((await suite.db.query(sql, [org.org_id])).rows);
      return out;
    };
    const before = await state();
    let refused = 0;
    let allowed = 0;
    const started = performance.now();
    for (const [role, permissions] of Object.entries(ROLES)) {
      const headers = sessions.get(role)!;
      for (const op of operations()) {
        const needed = ROUTES[op.name];
        // A route missing from the table fails the first test; it is not called here.
        if (!needed || needed === 'public' || needed === 'session') continue;
        const url = concrete(op.path);
        if ((permissions as readonly string[]).includes(needed)) continue;
        const body = ['POST', 'PUT', 'PATCH'].includes(op.method) ? (BODIES[op.name] ?? {}) : undefined;
        const res = await server.request(op.method, url, { headers, body });
        assert.equal(res.status, 403, `${role} ${op.name} answered ${res.status}: ${res.text}`);
        assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
        assert.equal(res.body.code, 'forbidden');
        assert.ok(res.body.detail.includes(needed), res.body.detail);
        refused++;
      }
    }
    const ms = performance.now() - started;
    await server.app.flushAudit();
    assert.deepEqual(await state(), before, 'refused calls changed nothing');
    // A read the role holds is not refused: the table is not stricter than the roles. (After the
    // snapshot: some reads, such as the access review, are themselves audited.)
    for (const [role, permissions] of Object.entries(ROLES)) {
      const headers = sessions.get(role)!;
      for (const op of operations()) {
        const needed = ROUTES[op.name];
        if (!needed || op.method !== 'GET' || op.path.includes('{')) continue;
        if (!(permissions as readonly string[]).includes(needed)) continue;
        const res = await server.request('GET', op.path, { headers });
        assert.notEqual(res.status, 403, `${role} ${op.name}: ${res.text}`);
        allowed++;
      }
    }
    // owner holds everything; the others are each refused something.
    assert.ok(refused > 100, `refused ${refused} calls`);
    assert.ok(allowed > 30, `allowed ${allowed} reads`);
    console.log(`# ${refused} refusals and ${allowed} allowed reads in ${Math.round(ms)} ms`);
  });

  test('the compliance officer reads audit, reports and policy and cannot send; read_only cannot export', async () => {
    const compliance = sessions.get('compliance_officer')!;
    for (const path of [
      '/v1/audit-events',
      '/v1/reports/messages',
      '/v1/policies/auth',
      '/v1/policies/access',
    ]) {
      const res = await server.request('GET', path, { headers: compliance });
      assert.equal(res.status, 200, `${path}: ${res.text}`);
    }
    const exported = await server.request('GET', '/v1/audit-events?format=csv', { headers: compliance });
    assert.equal(exported.status, 200, exported.text);
    const send = await server.request('POST', '/v1/messages', {
      headers: compliance,
      body: BODIES['POST /v1/messages'],
    });
    assert.equal(send.status, 403);
    // A custom role with audit:read but not audit:export may page through the trail, not export it.
    const auditor = await server.request('POST', '/v1/roles', {
      token: org.api_key,
      body: { name: 'Auditor (no export)', permissions: ['audit:read'] },
    });
    const moved = await server.request('PUT', `/v1/users/${ids.read_only}/role`, {
      token: org.api_key,
      body: { role: auditor.body.id },
    });
    assert.equal(moved.status, 200, moved.text);
    const res = await server.request('POST', '/v1/auth/sign-in', {
      body: { email: 'read_only@route.example', password: PASSWORD },
    });
    const headers = {
      cookie: /^([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!,
      'x-csrf-token': res.body.csrf_token,
      origin: new URL(server.config.publicUrl).origin,
    };
    assert.equal((await server.request('GET', '/v1/audit-events', { headers })).status, 200);
    const csv = await server.request('GET', '/v1/audit-events?format=csv', { headers });
    assert.equal(csv.status, 403, csv.text);
    assert.match(csv.body.detail, /audit:export/);
  });
});
