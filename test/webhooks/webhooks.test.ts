import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import type { InitResult } from '../../src/identity/index.ts';
import { sweep, type WebhookSettings } from '../../src/webhooks/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';
import { settle, verifiedDomain } from '../support/sending.ts';
import {
  type ReceivedHook,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../support/webhook-receiver.ts';

// Webhooks end to end: messages sent through SecureLine into a local mail world, their events
// fanned out from the audit trail to an HTTPS receiver on loopback, whose signatures are checked
// with the `standardwebhooks` package. Retries run on a schedule of seconds.

const HOST = 'hooks.test';

describeEachDb('webhooks', (suite) => {
  let world: MailWorld;
  let receiver: WebhookReceiver;
  let server: TestServer;
  let org: InitResult;
  const api = (method: string, path: string, body?: unknown) =>
    server.request(method, path, { token: org.api_key, body });

  const createEndpoint = async (path: string, extra: Record<string, unknown> = {}) => {
    const res = await api('POST', '/v1/webhooks', { url: receiver.url(HOST, path), ...extra });
    assert.equal(res.status, 201, res.text);
    return res.body as { id: string; secret: string };
  };
  const verify = (secret: string, hook: ReceivedHook) =>
    new Webhook(secret).verify(hook.body, hook.headers) as Record<string, any>;
  const attempts = async (endpointId: string) => {
    const res = await api('GET', `/v1/webhooks/${endpointId}/attempts?limit=100`);
    assert.equal(res.status, 200, res.text);
    return res.body.data as {
      status: number | null;
      error: string | null;
      attempt: number;
      delivery_state: string;
    }[];
  };
  const send = async (to: string[]) => {
    const res = await api('POST', '/v1/messages', {
      from: 'care@clinic.test',
      to,
      subject: 'Hello',
      text: 'Hi',
    });
    assert.equal(res.status, 202, res.text);
    return res.body as { id: string; recipients: { id: string }[] };
  };
  const until = async <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const value = await fn();
      if (value) return value;
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  before(async () => {
    world = await startMailWorld();
    receiver = await startWebhookReceiver(world.ca, [HOST, 'moving.test']);
    world.dns.setA(HOST, ['127.0.0.1']);
    world.dns.setA('moving.test', ['127.0.0.1']);
    server = await startTestServer(
      suite.testDb,
      {
        ...world.env(),
        SEALPOST_MAIL_HOSTNAME: 'mail.sealpost.test',
        SEALPOST_WEBHOOK_ALLOW_PRIVATE: 'true',
        SEALPOST_WEBHOOK_RETRY_SCHEDULE: '1s,1s,1s,1s,1s',
        SEALPOST_WEBHOOK_DISABLE_AFTER_FAILURES: '4',
        SEALPOST_WEBHOOK_ENDPOINT_CONCURRENCY: '1',
        SEALPOST_WEBHOOK_TIMEOUT_SECONDS: '3',
      },
      { roles: ['api', 'worker'] },
    );
    org = await server.createOrg('Hook Clinic');
    await verifiedDomain(server, world.dns, org.api_key, 'clinic.test');
  });
  after(async () => {
    await server?.close();
    await receiver?.close();
    await world?.close();
  });

  test('a message sent through SecureLine: message.queued then message.delivered, signed, PHI only where allowed', async () => {
    const all = await createEndpoint('/all');
    const phi = await createEndpoint('/phi', { event_types: ['message.delivered'], include_phi: true });
    assert.match(all.secret, /^whsec_/);
    const listed = await api('GET', '/v1/webhooks');
    assert.equal(listed.status, 200);
    assert.ok(!listed.text.includes('whsec_'), 'the secret is shown once, at creation');
    assert.deepEqual(
      listed.body.data.map((e: { id: string }) => e.id),
      [all.id, phi.id],
    );

    const message = await send(['tls@tls.test']);
    await settle(server, org.api_key, message.id);
    const hooks = await receiver.waitFor('/all', 2);
    const [queued, delivered] = hooks.map((h) => verify(all.secret, h));
    assert.equal(queued!.type, 'message.queued');
    assert.equal(delivered!.type, 'message.delivered');
    assert.ok(queued!.occurred_at <= delivered!.occurred_at);
    assert.equal(queued!.message_id, message.id);
    assert.equal(queued!.data.recipients, 1);
    assert.equal(delivered!.recipient_id, message.recipients[0]!.id);
    assert.equal(delivered!.data.method, 'tls');
    assert.match(delivered!.data.tls_version, /^TLSv1\.[23]$/);
    assert.ok(delivered!.data.tls_cipher);
    assert.equal(delivered!.data.mx, 'mx.tls.test');
    assert.equal(hooks[1]!.headers['webhook-id'], delivered!.id, 'webhook-id is the event id');
    assert.equal(hooks[1]!.headers['content-type'], 'application/json');
    // Without include_phi there is no address anywhere in the request.
    assert.ok(!hooks.some((h) => h.body.includes('tls@tls.test')));
    assert.ok(!('recipient_address' in delivered!));
    // With it, the delivered event (the only type it wants) carries the address.
    const [phiHook] = await receiver.waitFor('/phi', 1);
    const phiEvent = verify(phi.secret, phiHook!);
    assert.equal(phiEvent.type, 'message.delivered');
    assert.equal(phiEvent.id, delivered!.id);
    assert.equal(phiEvent.recipient_address, 'tls@tls.test');
    // The same event as the stream shows it.
    const stream = await api('GET', '/v1/events?types=message.delivered');
    const fromStream = stream.body.data.find((e: { id: string }) => e.id === delivered!.id);
    assert.deepEqual(fromStream, JSON.parse(hooks[1]!.body));

    const log = await until('the attempts are recorded', async () => {
      const a = await attempts(all.id);
      return a.length === 2 && a;
    });
    for (const a of log) {
      assert.equal(a.status, 200);
      assert.equal(a.error, null);
      assert.equal(a.delivery_state, 'succeeded');
      assert.ok((a as unknown as { duration_ms: number }).duration_ms >= 0);
    }
    const detail = await api('GET', `/v1/webhooks/${all.id}`);
    assert.equal(detail.body.consecutive_failures, 0);
    assert.ok(detail.body.last_success_at);
    for (const e of [all, phi]) assert.equal((await api('DELETE', `/v1/webhooks/${e.id}`)).status, 204);
    assert.equal((await api('GET', `/v1/webhooks/${all.id}`)).status, 404);
  });

  test('the test event; retries after the receiver fails, then recovers', async () => {
    receiver.on('/flaky', { statuses: [500, 503] });
    const endpoint = await createEndpoint('/flaky', { event_types: ['portal.replied'] });
    const sent = await api('POST', `/v1/webhooks/${endpoint.id}/test`);
    assert.equal(sent.status, 202, sent.text);
    const hooks = await receiver.waitFor('/flaky', 3);
    const events = hooks.map((h) => verify(endpoint.secret, h));
    for (const event of events) {
      assert.equal(event.type, 'webhook.test');
      assert.equal(event.id, sent.body.event_id);
      assert.deepEqual(event.data, { endpoint_id: endpoint.id });
    }
    assert.equal(new Set(hooks.map((h) => h.headers['webhook-id'])).size, 1, 'one webhook-id across retries');
    assert.ok(hooks[2]!.at - hooks[1]!.at >= 900, 'a retry waits for its turn in the schedule');
    const log = await until('the third attempt is recorded', async () => {
      const a = await attempts(endpoint.id);
      return a.length === 3 && a;
    });
    assert.deepEqual(
      log.map((a) => [a.attempt, a.status, a.delivery_state]),
      [
        [3, 200, 'succeeded'],
        [2, 503, 'succeeded'],
        [1, 500, 'succeeded'],
      ],
    );
    assert.equal(log[1]!.error, 'answered HTTP 503');
    const detail = await api('GET', `/v1/webhooks/${endpoint.id}`);
    assert.equal(detail.body.consecutive_failures, 0);
    assert.equal(detail.body.enabled, true);
  });

  test('an endpoint that keeps failing is disabled and the organisation told; enabled again, it resumes', async () => {
    receiver.on('/dead', { status: 500 });
    const endpoint = await createEndpoint('/dead');
    assert.equal((await api('POST', `/v1/webhooks/${endpoint.id}/test`)).status, 202);
    const disabled = await until('the endpoint is disabled', async () => {
      const res = await api('GET', `/v1/webhooks/${endpoint.id}`);
      return res.body.enabled === false && res.body;
    });
    assert.match(disabled.disabled_reason, /4 attempts in a row failed/);
    assert.equal(disabled.consecutive_failures, 4);
    assert.equal(receiver.at('/dead').length, 4);
    const audit = await api('GET', '/v1/audit-events?action=webhook.disabled');
    assert.equal(audit.body.data.length, 1);
    assert.equal(audit.body.data[0].object_id, endpoint.id);
    assert.equal(audit.body.data[0].actor_type, 'system');
    // Disabled: nothing is sent, tests and replays are refused until it is enabled again.
    assert.equal((await api('POST', `/v1/webhooks/${endpoint.id}/test`)).status, 409);
    receiver.on('/dead', { status: 204 });
    const enabled = await api('PATCH', `/v1/webhooks/${endpoint.id}`, { enabled: true });
    assert.equal(enabled.status, 200, enabled.text);
    assert.equal(enabled.body.disabled_reason, null);
    // The delivery still owed (its last retry was left) goes out now.
    await receiver.waitFor('/dead', 5);
    await until('the delivery succeeded', async () => (await attempts(endpoint.id))[0]?.status === 204);
    await api('DELETE', `/v1/webhooks/${endpoint.id}`);
  });

  test('an endpoint failing for longer than SEALPOST_WEBHOOK_DISABLE_AFTER_HOURS is disabled at its next failure', async () => {
    receiver.on('/down', { status: 502 });
    const endpoint = await createEndpoint('/down', { event_types: ['portal.replied'] });
    // As if every attempt had failed for the last five days and a bit.
    await suite.db.query(
      `UPDATE webhook_endpoints SET consecutive_failures = 1, failing_since = now() - interval '121 hours'
       WHERE org_id = $1 AND endpoint_id = $2`,
      [org.org_id, endpoint.id],
    );
    await api('POST', `/v1/webhooks/${endpoint.id}/test`);
    const disabled = await until('the endpoint is disabled', async () => {
      const res = await api('GET', `/v1/webhooks/${endpoint.id}`);
      return res.body.enabled === false && res.body;
    });
    assert.match(disabled.disabled_reason, /every attempt failed for 12\d hours/);
    assert.equal(receiver.at('/down').length, 1);
    await api('DELETE', `/v1/webhooks/${endpoint.id}`);
  });

  test('a delivery whose wake-up was lost (a worker died) is found by the sweep and sent', async () => {
    const endpoint = await createEndpoint('/swept', { event_types: ['portal.replied'] });
    // Owed and due, but no job was queued for it.
    await suite.db.query(
      `INSERT INTO webhook_deliveries (org_id, delivery_id, endpoint_id, kind, event_id, event_type, payload,
         next_attempt_at, created_at)
       VALUES ($1, gen_random_uuid(), $2, 'test', gen_random_uuid(), 'webhook.test', $3, now(), now())`,
      [org.org_id, endpoint.id, JSON.stringify({ type: 'webhook.test', id: 'lost', data: {} })],
    );
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(receiver.at('/swept').length, 0);
    const swept = await sweep({
      db: suite.db,
      queue: server.app.queue,
      clock: () => new Date(),
      settings: { logDays: 30 } as WebhookSettings,
    });
    assert.equal(swept.woken, 1);
    const [hook] = await receiver.waitFor('/swept', 1);
    assert.equal(verify(endpoint.secret, hook!).id, 'lost');
    await api('DELETE', `/v1/webhooks/${endpoint.id}`);
  });

  test('secret rotation: during the overlap both secrets verify; with no overlap only the new one', async () => {
    const endpoint = await createEndpoint('/rotate', { event_types: ['portal.viewed'] });
    const rotated = await api('POST', `/v1/webhooks/${endpoint.id}/rotate-secret`, { overlap_hours: 24 });
    assert.equal(rotated.status, 200, rotated.text);
    const second = rotated.body.secret as string;
    assert.notEqual(second, endpoint.secret);
    assert.ok(Date.parse(rotated.body.previous_secret_expires_at) > Date.now() + 23 * 3_600_000);
    assert.equal((await api('POST', `/v1/webhooks/${endpoint.id}/test`)).status, 202);
    const [during] = await receiver.waitFor('/rotate', 1);
    assert.equal(during!.headers['webhook-signature']!.split(' ').length, 2);
    assert.equal(verify(endpoint.secret, during!).type, 'webhook.test');
    assert.equal(verify(second, during!).type, 'webhook.test');

    const third = (await api('POST', `/v1/webhooks/${endpoint.id}/rotate-secret`, { overlap_hours: 0 })).body;
    assert.equal(third.previous_secret_expires_at, null);
    assert.equal((await api('POST', `/v1/webhooks/${endpoint.id}/test`)).status, 202);
    const hooks = await receiver.waitFor('/rotate', 2);
    const afterRotation = hooks[1]!;
    assert.equal(afterRotation.headers['webhook-signature']!.split(' ').length, 1);
    assert.equal(verify(third.secret, afterRotation).type, 'webhook.test');
    assert.throws(() => verify(second, afterRotation), /signature/i);
    assert.throws(() => verify(endpoint.secret, afterRotation), /signature/i);
    const audit = await api('GET', `/v1/audit-events?action=webhook.secret_rotated&object_id=${endpoint.id}`);
    assert.equal(audit.body.data.length, 2);
    assert.ok(!audit.text.includes('whsec_'));
    await api('DELETE', `/v1/webhooks/${endpoint.id}`);
  });

  test('replay of one event and of a time range, with the same ids as the first time', async () => {
    const from = new Date(Date.now() - 1000).toISOString();
    const message = await send(['one@tls.test', 'two@tls.test']);
    await settle(server, org.api_key, message.id);
    await server.app.flushAudit();
    const to = new Date(Date.now() + 1000).toISOString();
    const ours = (await api('GET', '/v1/events?limit=1000')).body.data.filter(
      (e: { message_id: string }) => e.message_id === message.id,
    );
    assert.deepEqual(
      ours.map((e: { type: string }) => e.type),
      ['message.queued', 'message.delivered', 'message.delivered'],
    );
    // Made after the events: it was never sent them, and is not.
    const endpoint = await createEndpoint('/replay', { event_types: ['message.delivered'] });
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(receiver.at('/replay').length, 0);

    const one = await api('POST', `/v1/webhooks/${endpoint.id}/replay`, { event_id: ours[0].id });
    assert.equal(one.status, 202, one.text);
    assert.equal(one.body.replayed, 1);
    const [first] = await receiver.waitFor('/replay', 1);
    assert.deepEqual(verify(endpoint.secret, first!), ours[0], 'one event by id, whatever the types wanted');

    const range = await api('POST', `/v1/webhooks/${endpoint.id}/replay`, { from, to });
    assert.equal(range.status, 202, range.text);
    assert.equal(range.body.replayed, 2, 'the delivered events in the range (the endpoint’s type)');
    const hooks = await receiver.waitFor('/replay', 3);
    assert.deepEqual(
      hooks
        .slice(1)
        .map((h) => verify(endpoint.secret, h).id)
        .sort(),
      [ours[1].id, ours[2].id].sort(),
    );
    assert.equal(
      (
        await api('POST', `/v1/webhooks/${endpoint.id}/replay`, {
          event_id: '00000000-0000-4000-8000-000000000000',
        })
      ).status,
      404,
    );
    assert.equal(
      (await api('POST', `/v1/webhooks/${endpoint.id}/replay`, { from: to, to: from })).status,
      422,
    );
    await api('DELETE', `/v1/webhooks/${endpoint.id}`);
  });

  test('reaching only where it should: http, redirects, a host whose DNS moved, and private addresses', async () => {
    const http = await api('POST', '/v1/webhooks', { url: `http://${HOST}:${receiver.port}/plain` });
    assert.equal(http.status, 422);
    assert.equal(http.body.code, 'webhook_url_invalid');

    receiver.on('/redirect', { redirect: receiver.url(HOST, '/landing') });
    const redirecting = await createEndpoint('/redirect');
    await api('POST', `/v1/webhooks/${redirecting.id}/test`);
    await receiver.waitFor('/redirect', 1);
    const [redirected] = await until('the redirect is recorded', async () => {
      const a = await attempts(redirecting.id);
      return a.length > 0 && a;
    });
    assert.equal(redirected!.status, 302);
    assert.match(redirected!.error!, /redirects are not followed/);
    assert.equal(redirected!.delivery_state, 'pending', 'a redirect is a failure, retried');
    await api('DELETE', `/v1/webhooks/${redirecting.id}`);

    // Checked again at each delivery: a host that now resolves to a forbidden address gets nothing.
    const moving = await api('POST', '/v1/webhooks', { url: `https://moving.test:${receiver.port}/moving` });
    assert.equal(moving.status, 201, moving.text);
    world.dns.setA('moving.test', ['224.0.0.1']);
    await api('POST', `/v1/webhooks/${moving.body.id}/test`);
    const [refused] = await until('the refusal is recorded', async () => {
      const a = await attempts(moving.body.id);
      return a.length > 0 && a;
    });
    assert.equal(refused!.status, null);
    assert.match(refused!.error!, /224\.0\.0\.1, a reserved address/);
    assert.equal(receiver.at('/moving').length, 0);
    await api('DELETE', `/v1/webhooks/${moving.body.id}`);
    assert.equal(receiver.at('/landing').length, 0, 'the redirect target was never asked');

    // Where private addresses are not allowed (the default), loopback and private hosts are refused.
    const strict = await startTestServer(suite.testDb, { ...world.env(), SEALPOST_FETCH_PRIVATE_RANGES: '' });
    try {
      for (const url of [
        receiver.url(HOST, '/private'), // resolves to 127.0.0.1
        `https://127.0.0.1:${receiver.port}/`,
        'https://[::1]/',
        'https://[::ffff:127.0.0.1]/',
        'https://10.1.2.3/',
        'https://169.254.169.254/latest/meta-data',
      ]) {
        const res = await strict.request('POST', '/v1/webhooks', { token: org.api_key, body: { url } });
        assert.equal(res.status, 422, `${url}: ${res.text}`);
        assert.equal(res.body.code, 'webhook_url_forbidden', url);
      }
      const unknown = await strict.request('POST', '/v1/webhooks', {
        token: org.api_key,
        body: { url: 'https://nowhere.test/' },
      });
      assert.equal(unknown.body.code, 'webhook_url_unresolvable');
    } finally {
      await strict.close();
    }
    assert.equal(receiver.at('/private').length, 0);
  });

  test('GET /v1/events pages forward by cursor, filters by type, catches up, and shows one tenant only', async () => {
    const other = await server.createOrg('Other Clinic');
    const mine = await send(['cursor@tls.test']);
    await settle(server, org.api_key, mine.id);
    await server.app.flushAudit();

    const everything = (await api('GET', '/v1/events?limit=1000')).body;
    assert.equal(everything.has_more, false);
    const ids: string[] = everything.data.map((e: { id: string }) => e.id);
    assert.ok(ids.length >= 6);
    let cursor: string | undefined;
    const paged: string[] = [];
    for (let pages = 0; pages < 100; pages++) {
      const res = await api('GET', `/v1/events?limit=2${cursor ? `&after=${cursor}` : ''}`);
      assert.equal(res.status, 200, res.text);
      paged.push(...res.body.data.map((e: { id: string }) => e.id));
      cursor = res.body.next_cursor;
      if (!res.body.has_more) break;
    }
    assert.deepEqual(paged, ids, 'pages of two give every event once, in order');

    const delivered = (await api('GET', '/v1/events?types=message.delivered,portal.viewed')).body.data;
    assert.ok(delivered.length >= 2);
    assert.ok(delivered.every((e: { type: string }) => e.type === 'message.delivered'));
    assert.equal((await api('GET', '/v1/events?types=message.nope')).status, 400);
    assert.equal((await api('GET', '/v1/events?after=bogus')).status, 400);

    // Caught up: the last cursor returns nothing, then exactly what happened since.
    const caughtUp = await api('GET', `/v1/events?after=${cursor}`);
    assert.deepEqual(caughtUp.body.data, []);
    const later = await send(['later@tls.test']);
    await settle(server, org.api_key, later.id);
    await server.app.flushAudit();
    const since = (await api('GET', `/v1/events?after=${cursor}`)).body.data;
    assert.deepEqual(
      since.map((e: { type: string; message_id: string }) => [e.type, e.message_id]),
      [
        ['message.queued', later.id],
        ['message.delivered', later.id],
      ],
    );

    // The other organisation's stream holds none of it, and none of it is in ours.
    const theirs = await server.request('GET', '/v1/events?limit=1000', { token: other.api_key });
    assert.equal(theirs.status, 200);
    assert.deepEqual(theirs.body.data, []);
    const types = await api('GET', '/v1/event-types');
    assert.ok(types.body.data.some((t: { type: string }) => t.type === 'message.delivered'));
    for (const event of everything.data) assert.ok(!JSON.stringify(event).includes(org.org_id));
  });
});
