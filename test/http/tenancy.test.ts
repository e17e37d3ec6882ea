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
};

describeEachDb('tenant isolation on every route', (suite) => {
  let server: TestServer;
  let a: InitResult;
  let b: InitResult;
  let aKeyId: string;
  let aRecipientKey: { id: string; fingerprint: string };
  let aMessageId: string;
  let aRecipientId: string;

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
      ...eventIds,
    ];

    const doc = (await server.request('GET', '/openapi.json')).body as {
      paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>>;
    };
    const exercised: string[] = [];
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
              : path.startsWith('/v1/sandbox/')
                ? '5a1db0c5-0000-4000-8000-000000000000' // this server captures nothing: any id is unknown
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
        const res = await server.request(method.toUpperCase(), concrete, {
          token: b.api_key,
          body: needsBody ? SAMPLE_BODIES[name] : undefined,
        });
        assert.ok(res.status < 500, `${name} answered ${res.status}`);
        if (params.length > 0) assert.equal(res.status, 404, `${name} with A's id must be not found for B`);
        for (const secret of secrets) {
          assert.ok(!res.text.includes(secret), `${name} leaked ${secret} of tenant A`);
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
