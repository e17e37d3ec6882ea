import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { InitResult } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { pgpKeyPair } from '../support/keys.ts';

// Every documented route, called with a second tenant's all-permissions key against the first
// tenant's objects, must show nothing of the first tenant and change nothing of it. A new route
// with a path parameter or body this test does not know fails here until the test learns it.

// undefined: the operation takes no body.
const SAMPLE_BODIES: Record<string, unknown> = {
  'POST /v1/api-keys': { name: 'tenant probe', scopes: ['org:read'] },
  'PATCH /v1/api-keys/{id}': { name: 'tenant probe', rate_limit_per_minute: 1 },
  'POST /v1/domains': { domain: 'probe.example' },
  'POST /v1/domains/{domain}/verify': undefined,
  'POST /v1/domains/{domain}/dkim/rotate': undefined,
  // 'POST /v1/recipient-keys' is set in before(): it needs a key made at test time.
  'POST /v1/messages': {
    from: 'probe@beta-probe.example',
    to: ['p@beta-probe.example'],
    subject: 's',
    text: 't',
  },
  'POST /v1/messages/batch': {
    messages: [{ from: 'probe@beta-probe.example', to: ['p@beta-probe.example'], subject: 's', text: 't' }],
  },
  'POST /v1/messages/preview': {
    from: 'probe@beta-probe.example',
    to: ['p@beta-probe.example'],
    subject: 's',
    text: 't',
  },
  'PATCH /v1/policies/secureline': { hide_subject: false },
  'POST /v1/recipient-preferences': { address: 'probe@beta-probe.example', protection: 'portal' },
  'POST /v1/messages/{id}/revoke': {},
  'PATCH /v1/messages/{id}/portal': { expires_at: new Date(Date.now() + 86_400_000).toISOString() },
  'POST /v1/messages/{id}/recipients/{recipient_id}/notice': undefined,
  'POST /v1/messages/{id}/recipients/{recipient_id}/unlock': undefined,
  'PUT /v1/branding': { display_name: 'Beta probe', color: '#112233' },
  'PUT /v1/sso': {
    issuer: 'https://login.beta-probe.example',
    client_id: 'beta-probe',
    client_secret: 'beta-probe-secret',
  },
  // A's claimed domain (see before()): B can neither claim it nor prove or release A's claim.
  'POST /v1/sso/domains': { domain: 'alpha-clinic.example' },
  'POST /v1/sso/domains/{domain}/verify': undefined,
  'POST /v1/webhooks': { url: 'https://93.184.215.14/beta-hook' },
  'PATCH /v1/webhooks/{id}': { description: 'probe', enabled: false },
  'POST /v1/webhooks/{id}/rotate-secret': { overlap_hours: 0 },
  'POST /v1/webhooks/{id}/test': undefined,
  'POST /v1/webhooks/{id}/replay': { event_id: '5a1db0c5-0000-4000-8000-000000000001' },
  // The /v1/auth routes act on the caller's own session: B calls them signed in (see bSession).
  // 'POST /v1/auth/sign-in' and 'POST /v1/auth/reauthenticate' are set in before(): B's password.
  'POST /v1/auth/second-factor': { method: 'totp', code: '123456' },
  'POST /v1/auth/second-factor/passkey/options': undefined,
  'POST /v1/auth/second-factor/passkey': { credential: {} },
  'POST /v1/auth/sign-out': undefined,
  'POST /v1/auth/password': { current_password: 'not the password', new_password: 'x' },
  'POST /v1/auth/factors/totp': undefined,
  'POST /v1/auth/factors/totp/confirm': { code: '000000' },
  'POST /v1/auth/factors/passkeys/options': undefined,
  'POST /v1/auth/factors/passkeys': { credential: {} },
  'POST /v1/auth/recovery-codes': undefined,
  'PATCH /v1/policies/auth': { idle_minutes: 20 },
  'POST /v1/users/{id}/unlock': undefined,
  'POST /v1/roles': { name: 'Beta probe role', permissions: ['org:read'] },
  'PATCH /v1/roles/{id}': { permissions: ['org:read'] },
  'PUT /v1/users/{id}/role': { role: 'read_only' },
  'PATCH /v1/policies/access': { networks: [] },
  'POST /v1/users/{id}/disable': undefined,
  'POST /v1/users/{id}/enable': undefined,
  'POST /v1/invitations': { email: 'probe@beta-probe.example', role: 'read_only' },
  'POST /v1/invitations/accept': { token: 'x'.repeat(43), password: 'tenant probe long password' },
  'PUT /v1/break-glass/policy': { max_minutes: 30 },
  'POST /v1/break-glass/accounts': { user_id: '5a1db0c5-0000-4000-8000-000000000003' },
  // Activation and deactivation act on the caller's own session: B's key has none (401).
  'POST /v1/break-glass/activate': {
    reason: 'tenant probe reason',
    second_factor: { method: 'totp', code: '123456' },
  },
  'POST /v1/break-glass/deactivate': undefined,
  'POST /v1/break-glass/activations/{id}/review': { note: 'probe' },
};

// Query strings tried besides none. A route with a format parameter (a download) must be taught
// here: the downloads are where a whole tenant's data would leave at once.
const SAMPLE_QUERIES: Record<string, string[]> = {
  'GET /v1/audit-events': ['format=csv'],
  'GET /v1/reports/messages': ['group_by=sender&format=csv', 'group_by=domain&interval=week'],
  'GET /v1/reports/portal': ['group_by=tag&format=csv'],
  'GET /v1/reports/deliverability': ['group_by=domain&format=csv'],
  'GET /v1/reports/protection': ['format=csv', 'limit=1'],
  'GET /v1/users/access-review': ['format=csv'],
};

describeEachDb('tenant isolation on every route', (suite) => {
  let server: TestServer;
  let a: InitResult;
  let b: InitResult;
  let aKeyId: string;
  let aRecipientKey: { id: string; fingerprint: string };
  let aMessageId: string;
  let aRecipientId: string;
  let aWebhookId: string;
  let aRoleId: string;
  let aInvitationId: string;
  let aSessionId: string;
  let aUserId: string;

  /** B's administrator, freshly signed in: the cookie, the CSRF token and the same origin. */
  async function bSession(): Promise<Record<string, string>> {
    const res = await server.request('POST', '/v1/auth/sign-in', {
      body: { email: b.admin_email, password: b.admin_password },
    });
    assert.equal(res.status, 200, res.text);
    return {
      cookie: /^([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!,
      'x-csrf-token': res.body.csrf_token,
      origin: new URL(server.config.publicUrl).origin,
    };
  }

  before(async () => {
    server = await startTestServer(suite.testDb);
    a = await server.createOrg('Alpha Clinic');
    b = await server.createOrg('Beta Health');
    const created = await server.request('POST', '/v1/api-keys', {
      token: a.api_key,
      body: { name: 'alpha integration', scopes: ['org:read'] },
    });
    aKeyId = created.body.id;
    await server.request('POST', '/v1/domains', {
      token: a.api_key,
      body: { domain: 'alpha-clinic.example' },
    });
    const [aPgp, bPgp] = await Promise.all([
      pgpKeyPair({ email: 'patient@alpha-clinic.example' }),
      pgpKeyPair({ email: 'probe@beta.example' }),
    ]);
    aRecipientKey = (
      await server.request('POST', '/v1/recipient-keys', {
        token: a.api_key,
        body: { address: 'patient@alpha-clinic.example', key: aPgp.publicKey },
      })
    ).body;
    SAMPLE_BODIES['POST /v1/recipient-keys'] = { address: 'probe@beta.example', key: bPgp.publicKey };
    // A's domain made verified directly: this test is about tenancy, not DNS.
    await suite.db.query("UPDATE sending_domains SET status = 'verified' WHERE org_id = $1", [a.org_id]);
    // Which proves it for A's single sign-on too.
    await server.request('POST', '/v1/sso/domains', {
      token: a.api_key,
      body: { domain: 'alpha-clinic.example' },
    });
    const proven = await server.request('POST', '/v1/sso/domains/alpha-clinic.example/verify', {
      token: a.api_key,
    });
    assert.equal(proven.body.status, 'verified', proven.text);
    const sent = await server.request('POST', '/v1/messages', {
      token: a.api_key,
      body: {
        from: 'care@alpha-clinic.example',
        to: ['pat@alpha-patients.example'],
        subject: 's',
        text: 't',
      },
    });
    assert.equal(sent.status, 202, sent.text);
    aMessageId = sent.body.id;
    aRecipientId = sent.body.recipients[0].id;
    // A bounce report naming A's recipient, handed in by B: it must touch nothing.
    SAMPLE_BODIES['POST /v1/inbound/reports'] = {
      raw: Buffer.from(
        [
          `To: bounces+${aRecipientId}@alpha-clinic.example`,
          'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
          '',
          '--B',
          'Content-Type: message/delivery-status',
          '',
          'Reporting-MTA: dns; mx.example',
          '',
          'Final-Recipient: rfc822; pat@alpha-patients.example',
          'Action: failed',
          'Status: 5.1.1',
          '',
          '--B--',
          '',
        ].join('\r\n'),
      ).toString('base64'),
    };
    // A's recipient waiting in the portal, so revoke, unlock and notice have something to refuse B.
    await suite.db.query(
      `INSERT INTO portal_deliveries (org_id, recipient_id, token_hash, token_sealed, reason, expires_at, locked_at)
       VALUES ($1, $2, '\\x01', '\\x02', 'test', now() + interval '1 day', now())`,
      [a.org_id, aRecipientId],
    );
    await server.request('PUT', '/v1/branding', {
      token: a.api_key,
      body: { display_name: 'Alpha Clinic Care', color: '#0b5cad' },
    });
    await suite.db.query(
      "INSERT INTO suppressions (org_id, address, reason) VALUES ($1, 'gone@alpha-patients.example', 'complaint')",
      [a.org_id],
    );
    await server.request('PATCH', '/v1/policies/secureline', {
      token: a.api_key,
      body: { tls_for_phi: false },
    });
    await server.request('POST', '/v1/recipient-preferences', {
      token: a.api_key,
      body: { address: 'gone@alpha-patients.example', protection: 'e2e' },
    });
    const hook = await server.request('POST', '/v1/webhooks', {
      token: a.api_key,
      body: { url: 'https://93.184.215.14/alpha-hook', include_phi: true },
    });
    assert.equal(hook.status, 201, hook.text);
    aWebhookId = hook.body.id;
    const role = await server.request('POST', '/v1/roles', {
      token: a.api_key,
      body: { name: 'Alpha front desk', permissions: ['org:read'] },
    });
    assert.equal(role.status, 201, role.text);
    aRoleId = role.body.id;
    const access = await server.request('PATCH', '/v1/policies/access', {
      token: a.api_key,
      body: { networks: ['127.0.0.0/8', '::1/128'] },
    });
    assert.equal(access.status, 200, access.text);
    const invitation = await server.request('POST', '/v1/invitations', {
      token: a.api_key,
      body: { email: 'invited@alpha-clinic.example', role: 'read_only' },
    });
    assert.equal(invitation.status, 201, invitation.text);
    aInvitationId = invitation.body.id;
    SAMPLE_BODIES['POST /v1/auth/sign-in'] = { email: b.admin_email, password: b.admin_password };
    SAMPLE_BODIES['POST /v1/auth/reauthenticate'] = { password: b.admin_password };
    // A's administrator signed in: a session B must not see or end.
    const aSignIn = await server.request('POST', '/v1/auth/sign-in', {
      body: { email: a.admin_email, password: a.admin_password },
    });
    assert.equal(aSignIn.status, 200, aSignIn.text);
    aSessionId = (
      await suite.db.query<{ session_id: string }>(
        'SELECT session_id FROM staff_sessions WHERE org_id = $1',
        [a.org_id],
      )
    ).rows[0]!.session_id;
    aUserId = (
      await suite.db.query<{ user_id: string }>('SELECT user_id FROM users WHERE org_id = $1', [a.org_id])
    ).rows[0]!.user_id;
    await server.app.flushAudit(); // staged events chained now, before the test takes its snapshot
  });
  after(() => server.close());

  test("B's key sees and changes nothing of A's", async () => {
    const aState = async () => [
      ...(
        await suite.db.query(
          'SELECT key_id, revoked_at, name FROM api_keys WHERE org_id = $1 ORDER BY key_id',
          [a.org_id],
        )
      ).rows,
      ...(
        await suite.db.query(
          'SELECT domain, status, last_checked_at FROM sending_domains WHERE org_id = $1',
          [a.org_id],
        )
      ).rows,
      ...(await suite.db.query('SELECT key_id, key_text FROM recipient_keys WHERE org_id = $1', [a.org_id]))
        .rows,
      ...(await suite.db.query('SELECT message_id FROM messages WHERE org_id = $1', [a.org_id])).rows,
      ...(await suite.db.query('SELECT address FROM suppressions WHERE org_id = $1', [a.org_id])).rows,
      ...(await suite.db.query('SELECT * FROM secureline_policies WHERE org_id = $1', [a.org_id])).rows,
      ...(await suite.db.query('SELECT * FROM recipient_preferences WHERE org_id = $1', [a.org_id])).rows,
      ...(
        await suite.db.query('SELECT recipient_id, state FROM message_recipients WHERE org_id = $1', [
          a.org_id,
        ])
      ).rows,
      ...(await suite.db.query('SELECT * FROM portal_deliveries WHERE org_id = $1', [a.org_id])).rows,
      ...(await suite.db.query('SELECT * FROM org_branding WHERE org_id = $1', [a.org_id])).rows,
      ...(await suite.db.query('SELECT * FROM webhook_endpoints WHERE org_id = $1', [a.org_id])).rows,
      ...(await suite.db.query('SELECT * FROM webhook_secrets WHERE org_id = $1', [a.org_id])).rows,
      ...(await suite.db.query('SELECT * FROM webhook_deliveries WHERE org_id = $1', [a.org_id])).rows,
      ...(
        await suite.db.query(
          'SELECT session_id, stage, ended_at, authenticated_at FROM staff_sessions WHERE org_id = $1',
          [a.org_id],
        )
      ).rows,
      ...(await suite.db.query('SELECT * FROM staff_auth_policies WHERE org_id = $1', [a.org_id])).rows,
      ...(await suite.db.query('SELECT * FROM org_roles WHERE org_id = $1', [a.org_id])).rows,
      ...(await suite.db.query('SELECT * FROM access_policies WHERE org_id = $1', [a.org_id])).rows,
      ...(await suite.db.query('SELECT user_id, role FROM users WHERE org_id = $1', [a.org_id])).rows,
      ...(await suite.db.query('SELECT * FROM staff_totp WHERE org_id = $1', [a.org_id])).rows,
      ...(await suite.db.query('SELECT * FROM staff_invitations WHERE org_id = $1', [a.org_id])).rows,
      ...(await suite.db.query('SELECT * FROM sso_domains WHERE org_id = $1', [a.org_id])).rows,
    ];
    const aEvents = async () =>
      (await suite.db.query('SELECT event_id FROM audit_events WHERE org_id = $1', [a.org_id])).rows.map(
        (r) => r.event_id as string,
      );
    const stateBefore = await aState();
    const eventIds = await aEvents();
    const secrets = [
      a.org_id,
      aKeyId,
      a.admin_email,
      a.api_key.slice(4, 20),
      'alpha-clinic',
      aRecipientKey.id,
      aRecipientKey.fingerprint,
      aMessageId,
      aRecipientId,
      'alpha-patients',
      'Alpha Clinic Care',
      aWebhookId,
      aRoleId,
      aInvitationId,
      'Alpha front desk',
      'alpha-hook',
      aSessionId,
      aUserId,
      ...eventIds,
    ];

    const doc = (await server.request('GET', '/openapi.json')).body as {
      paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>>;
    };
    const exercised: string[] = [];
    let bHeaders: Record<string, string> | null = null;
    for (const [path, operations] of Object.entries(doc.paths)) {
      if (!path.startsWith('/v1/')) continue;
      for (const method of Object.keys(operations)) {
        const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        let concrete = path;
        const samples: Record<string, string> = {
          id: path.startsWith('/v1/recipient-keys/')
            ? aRecipientKey.id
            : path.startsWith('/v1/messages/')
              ? aMessageId
              : path.startsWith('/v1/webhooks/')
                ? aWebhookId
                : path.startsWith('/v1/roles/')
                  ? aRoleId
                  : path.startsWith('/v1/invitations/')
                    ? aInvitationId
                    : path.startsWith('/v1/break-glass/accounts/')
                      ? aUserId
                      : path.startsWith('/v1/break-glass/activations/')
                        ? '5a1db0c5-0000-4000-8000-000000000002' // none anywhere: B's answer is 404 like any unknown id
                        : path.startsWith('/v1/sandbox/')
                          ? '5a1db0c5-0000-4000-8000-000000000000' // this server captures nothing: any id is unknown
                          : path.startsWith('/v1/auth/sessions/')
                            ? aSessionId
                            : path.startsWith('/v1/users/')
                              ? aUserId
                              : path.startsWith('/v1/auth/factors/passkeys/')
                                ? 'alpha-passkey-credential'
                                : aKeyId,
          domain: 'alpha-clinic.example',
          address: 'gone@alpha-patients.example',
          recipient_id: aRecipientId,
        };
        for (const param of params) {
          assert.ok(param! in samples, `teach this test the path parameter {${param}} of ${method} ${path}`);
          concrete = concrete.replace(`{${param}}`, samples[param!]!);
        }
        const name = `${method.toUpperCase()} ${path}`;
        const needsBody = method === 'post' || method === 'put' || method === 'patch';
        if (needsBody) assert.ok(name in SAMPLE_BODIES, `teach this test a sample body for ${name}`);
        const query = operations[method]!.parameters?.filter((p) => p.in === 'query') ?? [];
        if (query.some((p) => p.name === 'format'))
          assert.ok(name in SAMPLE_QUERIES, `teach this test sample queries (downloads) for ${name}`);
        for (const sample of ['', ...(SAMPLE_QUERIES[name] ?? [])]) {
          const body = needsBody ? SAMPLE_BODIES[name] : undefined;
          const signedIn = path.startsWith('/v1/auth/') ? (bHeaders ??= await bSession()) : null;
          const res = await server.request(
            method.toUpperCase(),
            sample ? `${concrete}?${sample}` : concrete,
            signedIn ? { headers: signedIn, body } : { token: b.api_key, body },
          );
          // Signing out or revoking sessions ends B's: the next call signs in again.
          if (name === 'POST /v1/auth/sign-out' || name.startsWith('DELETE /v1/auth/sessions'))
            bHeaders = null;
          assert.ok(res.status < 500, `${name} ${sample} answered ${res.status}`);
          if (params.length > 0) assert.equal(res.status, 404, `${name} with A's id must be not found for B`);
          if (sample) assert.equal(res.status, 200, `${name}?${sample}: ${res.text}`);
          for (const secret of secrets) {
            assert.ok(!res.text.includes(secret), `${name} ${sample} leaked ${secret} of tenant A`);
          }
        }
        exercised.push(name);
      }
    }
    assert.ok(exercised.length >= 6, `exercised ${exercised.join(', ')}`);
    assert.deepEqual(await aState(), stateBefore, "A's API keys are unchanged");
    assert.deepEqual((await aEvents()).sort(), [...eventIds].sort(), "A's audit trail is unchanged");
  });

  test("B cannot send as A's verified domain", async () => {
    const res = await server.request('POST', '/v1/messages', {
      token: b.api_key,
      body: { from: 'care@alpha-clinic.example', to: ['p@beta-probe.example'], subject: 's', text: 't' },
    });
    assert.equal(res.status, 422);
    assert.equal(res.body.code, 'domain_unverified');
  });
});
