import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { InitResult } from '../../src/identity/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { startTestDns, type TestDns } from '../support/dns.ts';
import { verifiedDomain } from '../support/sending.ts';

// The way in, over HTTP: what is accepted, what is refused (and then nothing is stored), and what
// the API shows of a message afterwards. No worker runs here: messages stay queued.

const PHI_TEXT = 'Patient DOB: 04/12/1961, MRN: 88812345. Your lab results are ready.';

describeEachDb('messages API', (suite) => {
  let dns: TestDns;
  let server: TestServer;
  let org: InitResult;
  const send = (body: unknown, headers: Record<string, string> = {}) =>
    server.request('POST', '/v1/messages', { token: org.api_key, body, headers });
  const count = async (table: string) =>
    Number(
      (
        await suite.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE org_id = $1`, [
          org.org_id,
        ])
      ).rows[0]!.n,
    );
  const message = (extra: Record<string, unknown> = {}) => ({
    from: { name: 'Dr. Adams', address: 'care@clinic.test' },
    to: ['pat@tls.test'],
    subject: 'Your results',
    text: PHI_TEXT,
    ...extra,
  });

  before(async () => {
    dns = await startTestDns();
    dns.setA('mail.sealpost.test', ['127.0.0.1']); // where Sealpost sends from: what SPF authorises
    server = await startTestServer(suite.testDb, {
      SEALPOST_DNS_SERVERS: dns.server,
      SEALPOST_MAIL_HOSTNAME: 'mail.sealpost.test',
      SEALPOST_MESSAGE_MAX_BYTES: '4096',
    });
    org = await server.createOrg('Messages Clinic');
  });
  after(async () => {
    await server.close();
    await dns.close();
  });

  test('an unverified sending domain is refused, and nothing is stored', async () => {
    const res = await send(message());
    assert.equal(res.status, 422, res.text);
    assert.equal(res.body.code, 'domain_unverified');
    assert.match(res.headers.get('content-type')!, /application\/problem\+json/);
    await verifiedDomain(server, dns, org.api_key, 'clinic.test');
    assert.equal(await count('messages'), 0);
  });

  test('bad addresses, header injection, reserved headers and oversized bodies are refused', async () => {
    const cases: [unknown, number, string, RegExp][] = [
      [message({ to: ['not-an-address'] }), 422, 'validation_failed', /\/to\/0/],
      [message({ to: [] }), 422, 'validation_failed', /at least one recipient/],
      [message({ subject: 'Hi\r\nBcc: victim@x.test' }), 422, 'validation_failed', /\/subject/],
      [message({ to: [{ name: 'A\nB', address: 'a@tls.test' }] }), 422, 'validation_failed', /\/to\/0\/name/],
      [
        message({ headers: { 'X-Ok': 'fine\r\nBcc: x@y.test' } }),
        422,
        'validation_failed',
        /header injection/,
      ],
      [message({ headers: { 'DKIM-Signature': 'v=1' } }), 422, 'validation_failed', /set by Sealpost/],
      [message({ to: ['a@tls.test', 'A@TLS.test'] }), 422, 'validation_failed', /more than once/],
      [message({ text: 'x'.repeat(5000) }), 413, 'message_too_large', /at most 4096/],
      [
        message({ attachments: [{ filename: 'a.bin', content: 'QUJD'.repeat(2000) }] }),
        413,
        'message_too_large',
        /bytes/,
      ],
      [
        message({ attachments: [{ filename: '../etc/passwd', content: 'QUJD' }] }),
        422,
        'validation_failed',
        /file name/,
      ],
      [message({ unknown_field: 1 }), 400, 'invalid_request', /unknown field/],
      [message({ from: 'care@other-domain.test' }), 422, 'domain_unverified', /other-domain\.test/],
    ];
    for (const [body, status, code, detail] of cases) {
      const res = await send(body);
      assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 120)}: ${res.text}`);
      assert.equal(res.body.code, code);
      assert.match(JSON.stringify(res.body), detail);
    }
    assert.equal(await count('messages'), 0);
  });

  test('an accepted message is sealed, queued per recipient and audited; its PHI is nowhere in clear', async () => {
    const res = await send(
      message({
        to: ['pat@tls.test'],
        cc: [{ name: 'Care Team', address: 'team@notls.test' }],
        bcc: ['audit@tls.test'],
        tags: ['results'],
        metadata: { chart: 'c-1' },
        attachments: [{ filename: 'results.txt', content: Buffer.from(PHI_TEXT).toString('base64') }],
      }),
    );
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.status, 'queued');
    assert.deepEqual(
      res.body.recipients.map((r: { address: string; kind: string }) => `${r.kind}:${r.address}`),
      ['to:pat@tls.test', 'cc:team@notls.test', 'bcc:audit@tls.test'],
    );
    assert.equal(res.body.dlp.phi, true);
    assert.ok(res.body.dlp.findings.some((f: { kind: string }) => f.kind === 'date_of_birth'));

    const stored = await suite.db.query<{ content_sealed: Buffer; phi: boolean }>(
      'SELECT content_sealed, phi FROM messages WHERE org_id = $1 AND message_id = $2',
      [org.org_id, res.body.id],
    );
    assert.equal(stored.rows[0]!.phi, true);
    const blob = stored.rows[0]!.content_sealed.toString('latin1');
    for (const secret of ['Your results', '88812345', 'Care Team', 'c-1'])
      assert.ok(!blob.includes(secret), secret);

    // Each recipient waits in the delivery queue, due now, at the transactional priority.
    const queued = await suite.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM message_recipients
       WHERE org_id = $1 AND message_id = $2 AND due_at <= now() AND priority = 10`,
      [org.org_id, res.body.id],
    );
    assert.equal(Number(queued.rows[0]!.n), 3);
    await server.app.flushAudit();
    const audit = await suite.db.query<{ details: Record<string, unknown> }>(
      "SELECT details FROM audit_events WHERE org_id = $1 AND action = 'message.queued' AND object_id = $2",
      [org.org_id, res.body.id],
    );
    assert.equal(audit.rows[0]!.details.recipients, 3);
    assert.ok(!JSON.stringify(audit.rows).includes('tls.test'), 'no address in the audit trail');

    const detail = await server.request('GET', `/v1/messages/${res.body.id}`, { token: org.api_key });
    assert.equal(detail.status, 200);
    assert.equal(detail.body.subject, 'Your results');
    assert.deepEqual(detail.body.metadata, { chart: 'c-1' });
    assert.equal(detail.body.status, 'queued');
    assert.equal(detail.body.recipients.length, 3);
    assert.deepEqual(detail.body.recipients[0].history, []);
    assert.match(detail.body.rfc_message_id, /^<[0-9a-f-]{36}@clinic\.test>$/);
  });

  test('an Idempotency-Key returns the first answer for the same body and refuses another body', async () => {
    const before = await count('messages');
    const key = { 'Idempotency-Key': 'retry-1' };
    const first = await send(message(), key);
    const second = await send(message(), key);
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    assert.equal(second.body.id, first.body.id);
    assert.equal(await count('messages'), before + 1);
    const other = await send(message({ subject: 'Something else' }), key);
    assert.equal(other.status, 409);
    assert.equal(other.body.code, 'idempotency_key_reused');
    // Concurrent retries of one request create one message.
    const racing = await Promise.all([1, 2, 3].map(() => send(message(), { 'Idempotency-Key': 'race' })));
    assert.deepEqual(new Set(racing.map((r) => r.status)), new Set([202]));
    assert.equal(new Set(racing.map((r) => r.body.id)).size, 1);
    assert.equal(await count('messages'), before + 2);
  });

  test('concurrent requests of two organisations share commits; each message keeps its own organisation', async () => {
    const other = await server.createOrg('Other Clinic');
    await verifiedDomain(server, dns, other.api_key, 'other.test');
    const calls = Array.from({ length: 24 }, (_, i) =>
      i % 2 === 0
        ? send(message({ tags: ['group'] }))
        : server.request('POST', '/v1/messages', {
            token: other.api_key,
            body: message({ from: 'desk@other.test', tags: ['group'] }),
          }),
    );
    const answers = await Promise.all(calls);
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([202]));
    const rows = await suite.db.query<{
      org_id: string;
      message_id: string;
      from_domain: string;
      tx: string;
    }>(`SELECT org_id, message_id, from_domain, xmin::text AS tx FROM messages WHERE 'group' = ANY(tags)`);
    assert.equal(rows.rows.length, 24);
    for (const [i, answer] of answers.entries()) {
      const row = rows.rows.find((r) => r.message_id === answer.body.id)!;
      assert.equal(row.org_id, i % 2 === 0 ? org.org_id : other.org_id);
      assert.equal(row.from_domain, i % 2 === 0 ? 'clinic.test' : 'other.test');
    }
    // Committed together: fewer transactions than requests.
    assert.ok(new Set(rows.rows.map((r) => r.tx)).size < 24, 'group commit');
    const recipients = await suite.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM message_recipients r JOIN messages m USING (org_id, message_id)
       WHERE 'group' = ANY(m.tags)`,
    );
    assert.equal(Number(recipients.rows[0]!.n), 24);
    const due = await suite.db.query<{ org_id: string; n: string }>(
      `SELECT org_id, count(*) AS n FROM message_recipients
       WHERE recipient_id = ANY($1::uuid[]) AND due_at IS NOT NULL GROUP BY 1`,
      [answers.map((a) => a.body.recipients[0].id)],
    );
    assert.deepEqual(Object.fromEntries(due.rows.map((r) => [r.org_id, Number(r.n)])), {
      [org.org_id]: 12,
      [other.org_id]: 12,
    });
    await server.app.flushAudit();
    for (const o of [org, other]) {
      const queued = await suite.db.query<{ object_id: string }>(
        "SELECT object_id FROM audit_events WHERE org_id = $1 AND action = 'message.queued'",
        [o.org_id],
      );
      const mine = answers.filter((_, i) => (i % 2 === 0) === (o === org)).map((a) => a.body.id);
      for (const id of mine)
        assert.ok(
          queued.rows.some((r) => r.object_id === id),
          id,
        );
    }
  });

  test('suppressed recipients are refused one by one; removing the suppression lets mail through', async () => {
    await suite.db.query(
      "INSERT INTO suppressions (org_id, address, reason, detail) VALUES ($1, 'gone@tls.test', 'hard_bounce', '550 5.1.1')",
      [org.org_id],
    );
    const res = await send(message({ to: ['pat@tls.test', 'gone@tls.test'] }));
    assert.equal(res.status, 422);
    assert.equal(res.body.code, 'recipients_suppressed');
    assert.deepEqual(res.body.recipients, [{ address: 'gone@tls.test', reason: 'hard_bounce' }]);
    // In a batch (whose suppressions are looked up once for all its messages), only that message.
    const batch = await server.request('POST', '/v1/messages/batch', {
      token: org.api_key,
      body: {
        messages: [
          message({ to: ['pat@tls.test'] }),
          message({ to: ['Gone@TLS.test'], cc: ['other@tls.test'] }),
          message({ to: ['other@tls.test'] }),
        ],
      },
    });
    assert.deepEqual(
      batch.body.results.map(
        (r: { status: number; problem?: { code: string } }) => r.problem?.code ?? r.status,
      ),
      [202, 'recipients_suppressed', 202],
    );
    const listed = await server.request('GET', '/v1/suppressions', { token: org.api_key });
    assert.deepEqual(
      listed.body.data.map((s: { address: string }) => s.address),
      ['gone@tls.test'],
    );
    const removed = await server.request('DELETE', '/v1/suppressions/Gone@tls.test', { token: org.api_key });
    assert.equal(removed.status, 204);
    assert.equal((await send(message({ to: ['gone@tls.test'] }))).status, 202);
  });

  test('preview: per recipient the method and why, the DLP findings, and nothing stored', async () => {
    const before = await count('messages');
    const res = await server.request('POST', '/v1/messages/preview', {
      token: org.api_key,
      body: message({ to: ['pat@tls.test'], cc: ['x@notls.test'] }),
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.sendable, true);
    assert.equal(res.body.dlp.phi, true);
    assert.equal(res.body.recipients[0].method, 'tls');
    assert.equal(res.body.recipients[0].tls, 'enforced');
    assert.match(res.body.recipients[0].reason, /policy accepts enforced TLS for PHI/);
    assert.match(res.body.recipients[0].fallback, /portal/);
    const portal = await server.request('POST', '/v1/messages/preview', {
      token: org.api_key,
      body: message({ protection: 'e2e' }),
    });
    assert.equal(portal.body.recipients[0].method, 'portal');
    assert.match(portal.body.recipients[0].reason, /end-to-end encryption was required/);
    const unsendable = await server.request('POST', '/v1/messages/preview', {
      token: org.api_key,
      body: message({ from: 'x@nowhere.test' }),
    });
    assert.equal(unsendable.body.sendable, false);
    assert.equal(unsendable.body.problem.code, 'domain_unverified');
    assert.equal(await count('messages'), before);
  });

  test('batch: each message accepted or refused on its own; a retried batch sends nothing twice', async () => {
    const before = await count('messages');
    const body = {
      messages: [
        message({ tags: ['batch'] }),
        message({ to: ['bad address'] }),
        message({ tags: ['batch'] }),
      ],
    };
    const key = { 'idempotency-key': 'batch-1' };
    const res = await server.request('POST', '/v1/messages/batch', {
      token: org.api_key,
      body,
      headers: key,
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.accepted, 2);
    assert.equal(res.body.refused, 1);
    assert.deepEqual(
      res.body.results.map((r: { status: number }) => r.status),
      [202, 422, 202],
    );
    assert.equal(res.body.results[1].problem.code, 'validation_failed');
    const again = await server.request('POST', '/v1/messages/batch', {
      token: org.api_key,
      body,
      headers: key,
    });
    assert.equal(again.body.results[0].message.id, res.body.results[0].message.id);
    assert.equal(await count('messages'), before + 2);
  });

  test('list: newest first, filtered by tag, state and time, paged by cursor; scheduled messages say so', async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await send(message({ send_at: later, priority: 'bulk', tags: ['later'] }));
    assert.equal(scheduled.body.status, 'scheduled');

    const byTag = await server.request('GET', '/v1/messages?tag=batch', { token: org.api_key });
    assert.equal(byTag.body.data.length, 2);
    const page1 = await server.request('GET', '/v1/messages?limit=2', { token: org.api_key });
    assert.equal(page1.body.data[0].id, scheduled.body.id);
    assert.equal(page1.body.data[0].status, 'scheduled');
    assert.ok(page1.body.next_cursor);
    const page2 = await server.request('GET', `/v1/messages?limit=2&cursor=${page1.body.next_cursor}`, {
      token: org.api_key,
    });
    const ids = [...page1.body.data, ...page2.body.data].map((m: { id: string }) => m.id);
    assert.equal(new Set(ids).size, 4);
    const delivered = await server.request('GET', '/v1/messages?status=delivered', { token: org.api_key });
    assert.deepEqual(delivered.body.data, []);
    const future = await server.request('GET', `/v1/messages?since=${encodeURIComponent(later)}`, {
      token: org.api_key,
    });
    assert.deepEqual(future.body.data, []);
    // Messages created within one millisecond (PostgreSQL keeps microseconds) page without a gap.
    await suite.db.query(
      `UPDATE messages SET created_at = '2026-01-01T00:00:00.000100Z'::timestamptz + (random() * interval '800 microseconds')
       WHERE org_id = $1`,
      [org.org_id],
    );
    const all = new Set<string>();
    let cursor = '';
    for (let page = 0; page < 50; page++) {
      const res = await server.request('GET', `/v1/messages?limit=1${cursor ? `&cursor=${cursor}` : ''}`, {
        token: org.api_key,
      });
      for (const m of res.body.data) all.add(m.id);
      if (!res.body.next_cursor) break;
      cursor = res.body.next_cursor;
    }
    assert.equal(all.size, await count('messages'));

    const badCursor = await server.request('GET', '/v1/messages?cursor=bm9wZQ', { token: org.api_key });
    assert.equal(badCursor.status, 400);
    const missing = await server.request('GET', '/v1/messages/00000000-0000-4000-8000-000000000000', {
      token: org.api_key,
    });
    assert.equal(missing.status, 404);
  });

  test("scheduled or queued is judged by the server's clock, as the read side judges it", async () => {
    // Two hours ahead of the machine: a send_at one hour ahead of the machine is already due.
    const clocked = await startTestServer(
      suite.testDb,
      { SEALPOST_DNS_SERVERS: dns.server, SEALPOST_MAIL_HOSTNAME: 'mail.sealpost.test' },
      { clock: () => new Date(Date.now() + 7_200_000) },
    );
    try {
      const other = await clocked.createOrg('Clocked Clinic');
      await verifiedDomain(clocked, dns, other.api_key, 'clocked.test');
      const res = await clocked.request('POST', '/v1/messages', {
        token: other.api_key,
        body: message({
          from: { address: 'care@clocked.test' },
          send_at: new Date(Date.now() + 3_600_000).toISOString(),
        }),
      });
      assert.equal(res.status, 202, res.text);
      assert.equal(res.body.status, 'queued');
      const shown = await clocked.request('GET', `/v1/messages/${res.body.id}`, { token: other.api_key });
      assert.equal(shown.body.status, 'queued');
    } finally {
      await clocked.close();
    }
  });
});
