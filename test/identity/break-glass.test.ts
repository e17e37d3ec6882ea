import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { createUser, hashPassword, type InitResult } from '../../src/identity/index.ts';
import { totpCode } from '../../src/identity/totp.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { describeEachDb } from '../support/db.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';
import { verifiedDomain } from '../support/sending.ts';

// Break-glass emergency access through HTTP, with the server's clock in the test's hand: an owner
// designates a nurse in advance; the nurse, signed in, activates it with a TOTP code and a reason;
// both owners are mailed at once (received over SMTP on loopback); that session alone holds an
// owner's permissions, each request it makes is an audit event marked break-glass, it cannot make
// itself permanent, and it ends at expiry, on deactivation, or when the session ends; an owner
// reviews each use. The audit chain verifies at the end.

const PASSWORD = 'harbour lantern quietly';
const REASON = 'Code blue, bed 12: the on-call administrator cannot be reached';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describeEachDb('break-glass emergency access', (suite) => {
  let world: MailWorld;
  let server: TestServer;
  let org: InitResult;
  let PUBLIC: string;
  let now = new Date();
  let nurseId: string;
  let secret: string;

  interface Session {
    cookie: string;
    csrf: string;
  }
  let nurse: Session;
  let ownerOne: Session;
  let ownerTwo: Session;

  async function signIn(email: string, password = PASSWORD) {
    const res = await server.request('POST', '/v1/auth/sign-in', { body: { email, password } });
    assert.equal(res.status, 200, res.text);
    const cookie = /^(sealpost_staff=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1] ?? '';
    return { cookie, csrf: res.body.csrf_token as string, status: res.body.status as string };
  }

  function call(s: Session, method: string, path: string, body?: unknown) {
    return server.request(method, path, {
      body,
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, origin: PUBLIC },
    });
  }

  /** A TOTP code for the next time step (a step is never accepted twice). */
  function nextCode(): string {
    now = new Date(now.getTime() + 30_000);
    return totpCode(secret, now);
  }

  async function events(action: string) {
    await server.app.flushAudit();
    return (
      await suite.db.query<{
        object_id: string;
        actor_type: string;
        actor_id: string;
        actor_label: string;
        outcome: string;
        details: Record<string, unknown>;
      }>(
        `SELECT object_id, actor_type, actor_id, actor_label, outcome, details FROM audit_events
         WHERE org_id = $1 AND action = $2 ORDER BY seq`,
        [org.org_id, action],
      )
    ).rows;
  }

  before(async () => {
    world = await startMailWorld();
    await world.addReceiver('staff');
    const port = await freePort();
    PUBLIC = `http://localhost:${port}`;
    server = await startTestServer(
      suite.testDb,
      { ...world.env(), SEALPOST_HTTP_PORT: String(port), SEALPOST_PUBLIC_URL: PUBLIC },
      { roles: ['api', 'worker'], clock: () => now },
    );
    org = await server.createOrg('Emergency Clinic');
    await verifiedDomain(server, world.dns, org.api_key, 'emergency-clinic.test');
    // Owners who can receive the alert, and a long idle time-out: the test moves the clock by an hour.
    await suite.db.query(
      `UPDATE users SET email = 'owner.one@staff.test' WHERE org_id = $1 AND role = 'owner'`,
      [org.org_id],
    );
    const hash = await hashPassword(PASSWORD);
    const second = await createUser(suite.db, org.org_id, { email: 'owner.two@staff.test', role: 'owner' });
    const nurseUser = await createUser(suite.db, org.org_id, { email: 'nurse@staff.test', role: 'sender' });
    nurseId = nurseUser.id;
    await suite.db.query(
      'UPDATE users SET password_hash = $2 WHERE org_id = $1 AND user_id = ANY($3::uuid[])',
      [org.org_id, hash, [second.id, nurseUser.id]],
    );
    const policy = await server.request('PATCH', '/v1/policies/auth', {
      token: org.api_key,
      body: { idle_minutes: 240, absolute_minutes: 720 },
    });
    assert.equal(policy.status, 200, policy.text);

    // The nurse enrols an authenticator app (activation asks for a code).
    nurse = await signIn('nurse@staff.test');
    const started = await call(nurse, 'POST', '/v1/auth/factors/totp');
    assert.equal(started.status, 200, started.text);
    secret = started.body.secret;
    const confirmed = await call(nurse, 'POST', '/v1/auth/factors/totp/confirm', { code: nextCode() });
    assert.equal(confirmed.status, 200, confirmed.text);
    ownerOne = await signIn('owner.one@staff.test', org.admin_password);
    ownerTwo = await signIn('owner.two@staff.test');
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  test('designated in advance, activated with a second factor, every owner alerted, each action audited, ended at expiry, reviewed', async () => {
    const activate = (body: Record<string, unknown>) =>
      call(nurse, 'POST', '/v1/break-glass/activate', { reason: REASON, ...body });

    // Not designated: refused, and on the record.
    const early = await activate({ second_factor: { method: 'totp', code: nextCode() } });
    assert.equal(early.status, 403, early.text);
    assert.equal(early.body.code, 'break_glass_not_eligible');
    assert.equal((await events('break_glass.activation_denied'))[0]!.details.reason, 'not_eligible');

    // Only an owner in their own session designates; an API key cannot.
    const byKey = await server.request('POST', '/v1/break-glass/accounts', {
      token: org.api_key,
      body: { user_id: nurseId },
    });
    assert.equal(byKey.status, 403, byKey.text);
    const designated = await call(ownerOne, 'POST', '/v1/break-glass/accounts', { user_id: nurseId });
    assert.equal(designated.status, 201, designated.text);
    assert.equal((await events('break_glass.account_designated'))[0]!.object_id, nurseId);

    assert.equal((await call(nurse, 'GET', '/v1/users')).status, 403);
    const tooLong = await activate({ minutes: 120, second_factor: { method: 'totp', code: nextCode() } });
    assert.equal(tooLong.status, 422, tooLong.text);
    const wrong = await activate({ second_factor: { method: 'totp', code: '000000' } });
    assert.equal(wrong.status, 401, wrong.text);
    assert.equal((await events('break_glass.activation_denied')).at(-1)!.details.reason, 'second_factor');

    const received = world.receiver('staff').messages.length;
    const activated = await activate({ second_factor: { method: 'totp', code: nextCode() } });
    assert.equal(activated.status, 201, activated.text);
    const activationId = activated.body.id as string;
    assert.equal(activated.body.minutes, 60);
    assert.equal(activated.body.owners_alerted, 2);
    assert.ok(activated.body.permissions.includes('keys:manage'));
    const activatedAt = now.getTime();

    // Both owners mailed at once; the reason (it may name a patient) is not in the mail.
    const mails = (await world.waitForMessages('staff', received + 2, 30_000)).slice(received);
    const to = mails.flatMap((m) => m.to).sort();
    assert.deepEqual(to, ['owner.one@staff.test', 'owner.two@staff.test']);
    for (const m of mails) {
      const parsed = await simpleParser(m.raw);
      assert.match(parsed.subject ?? '', /Emergency access was activated in Emergency Clinic/);
      assert.match(parsed.text ?? '', /nurse@staff\.test/);
      assert.ok(!m.raw.toString('latin1').includes('bed 12'));
    }
    const [activationEvent] = await events('break_glass.activated');
    assert.equal(activationEvent!.object_id, activationId);
    assert.equal(activationEvent!.actor_label, `break-glass:${activationId}`);
    assert.equal(activationEvent!.details.owners_alerted, 2);
    assert.ok(!JSON.stringify(activationEvent!.details).includes('bed 12'));
    assert.equal((await events('auth.reauthenticated')).at(-1)!.details.method, 'totp');

    // This session is elevated, and each request is on the record marked break-glass.
    const users = await call(nurse, 'GET', '/v1/users');
    assert.equal(users.status, 200, users.text);
    const policies = await call(nurse, 'GET', '/v1/policies/access');
    assert.equal(policies.status, 200, policies.text);
    const actions = await events('break_glass.action');
    assert.deepEqual(
      actions.map((a) => a.details.route),
      ['/v1/users', '/v1/policies/access'],
    );
    for (const a of actions) {
      assert.equal(a.actor_id, nurseId);
      assert.equal(a.actor_label, `break-glass:${activationId}`);
      assert.equal(a.object_id, activationId);
    }
    // It cannot make itself permanent: a role change runs with the nurse's own permissions.
    const promote = await call(nurse, 'PUT', `/v1/users/${nurseId}/role`, { role: 'owner' });
    assert.equal(promote.status, 403, promote.text);
    // Another session of the same person is not elevated.
    const other = await signIn('nurse@staff.test');
    assert.equal(other.status, 'second_factor');
    const second = await call(other, 'POST', '/v1/auth/second-factor', { method: 'totp', code: nextCode() });
    assert.equal(second.status, 200, second.text);
    assert.equal((await call(other, 'GET', '/v1/users')).status, 403);

    // The owners see it, with its reason; it cannot be reviewed while it lasts.
    const listed = await call(ownerTwo, 'GET', `/v1/break-glass/activations/${activationId}`);
    assert.equal(listed.status, 200, listed.text);
    assert.equal(listed.body.reason, REASON);
    assert.equal(listed.body.ended_at, null);
    const early2 = await call(ownerTwo, 'POST', `/v1/break-glass/activations/${activationId}/review`, {
      note: 'x',
    });
    assert.equal(early2.status, 409, early2.text);

    // An hour later it is over, by itself.
    now = new Date(activatedAt + 61 * 60_000);
    assert.equal((await call(nurse, 'GET', '/v1/users')).status, 403);
    const [expired] = await events('break_glass.expired');
    assert.equal(expired!.object_id, activationId);
    assert.equal(expired!.details.reason, 'expired');
    assert.equal(expired!.details.actions, 2);
    assert.equal(expired!.actor_type, 'system');

    // Reviewed by an owner, once; the nurse cannot review.
    assert.equal(
      (await call(nurse, 'POST', `/v1/break-glass/activations/${activationId}/review`, { note: 'mine' }))
        .status,
      403,
    );
    assert.equal(
      (await call(ownerTwo, 'POST', '/v1/auth/reauthenticate', { password: PASSWORD })).status,
      200,
    );
    const reviewed = await call(ownerTwo, 'POST', `/v1/break-glass/activations/${activationId}/review`, {
      note: 'Justified: patient care; no other access was possible.',
    });
    assert.equal(reviewed.status, 200, reviewed.text);
    assert.ok(reviewed.body.reviewed_at);
    assert.equal(reviewed.body.actions, 2);
    assert.equal(reviewed.body.ended_reason, 'expired');
    const again = await call(ownerTwo, 'POST', `/v1/break-glass/activations/${activationId}/review`, {
      note: 'x',
    });
    assert.equal(again.status, 409);
    const [reviewEvent] = await events('break_glass.reviewed');
    assert.equal(reviewEvent!.object_id, activationId);
    assert.equal(reviewEvent!.actor_id, (await signInIdOf('owner.two@staff.test'))!);
  });

  async function signInIdOf(email: string) {
    const { rows } = await suite.db.query<{ user_id: string }>(
      'SELECT user_id FROM users WHERE org_id = $1 AND email = $2',
      [org.org_id, email],
    );
    return rows[0]?.user_id;
  }

  test('deactivated at once, or ended with its session by the minute sweep; the policy caps the time', async () => {
    // A recent sign-in is needed before the code.
    assert.equal(
      (
        await call(nurse, 'POST', '/v1/break-glass/activate', {
          reason: REASON,
          second_factor: { method: 'totp', code: nextCode() },
        })
      ).status,
      403,
    );
    assert.equal((await call(nurse, 'POST', '/v1/auth/reauthenticate', { password: PASSWORD })).status, 200);

    // Owners shorten the longest elevation.
    assert.equal(
      (await call(ownerOne, 'POST', '/v1/auth/reauthenticate', { password: org.admin_password })).status,
      200,
    );
    const capped = await call(ownerOne, 'PUT', '/v1/break-glass/policy', { max_minutes: 30 });
    assert.equal(capped.status, 200, capped.text);
    assert.equal((await events('break_glass.policy_changed'))[0]!.details.max_minutes, 30);

    const first = await call(nurse, 'POST', '/v1/break-glass/activate', {
      reason: REASON,
      second_factor: { method: 'totp', code: nextCode() },
    });
    assert.equal(first.status, 201, first.text);
    assert.equal(first.body.minutes, 30);
    const twice = await call(nurse, 'POST', '/v1/break-glass/activate', {
      reason: REASON,
      second_factor: { method: 'totp', code: nextCode() },
    });
    assert.equal(twice.status, 409, twice.text);
    assert.equal((await call(nurse, 'GET', '/v1/audit-events')).status, 200);
    const off = await call(nurse, 'POST', '/v1/break-glass/deactivate');
    assert.equal(off.status, 200, off.text);
    assert.deepEqual(off.body, { id: first.body.id, ended: true });
    assert.equal((await call(nurse, 'GET', '/v1/audit-events')).status, 403);
    const [deactivated] = await events('break_glass.deactivated');
    assert.equal(deactivated!.object_id, first.body.id);
    assert.equal(deactivated!.actor_id, nurseId);
    assert.equal(deactivated!.actor_label, `break-glass:${first.body.id}`);
    assert.equal((await call(nurse, 'POST', '/v1/break-glass/deactivate')).status, 404);

    // Ended with its session: signing out leaves the activation to the sweep, which ends it.
    const secondActivation = await call(nurse, 'POST', '/v1/break-glass/activate', {
      reason: REASON,
      second_factor: { method: 'totp', code: nextCode() },
    });
    assert.equal(secondActivation.status, 201, secondActivation.text);
    assert.equal((await call(nurse, 'POST', '/v1/auth/sign-out')).status, 204);
    assert.equal(await server.app.identity.breakGlass.expireDue(), 1);
    assert.equal(await server.app.identity.breakGlass.expireDue(), 0);
    const ended = (await events('break_glass.expired')).find(
      (e) => e.object_id === secondActivation.body.id,
    )!;
    assert.equal(ended.details.reason, 'session_ended');

    // Disabling the person ends what they hold, on the record.
    const back = await signIn('nurse@staff.test');
    const factor = await call(back, 'POST', '/v1/auth/second-factor', { method: 'totp', code: nextCode() });
    assert.equal(factor.status, 200, factor.text);
    const third = await call(back, 'POST', '/v1/break-glass/activate', {
      reason: REASON,
      second_factor: { method: 'totp', code: nextCode() },
    });
    assert.equal(third.status, 201, third.text);
    const disabled = await server.request('POST', `/v1/users/${nurseId}/disable`, { token: org.api_key });
    assert.equal(disabled.status, 200, disabled.text);
    assert.equal((await call(back, 'GET', '/v1/auth/session')).status, 401);
    const cut = (await events('break_glass.expired')).find((e) => e.object_id === third.body.id)!;
    assert.equal(cut.details.cause, 'user_disabled');

    const list = await server.request('GET', '/v1/break-glass/activations', { token: org.api_key });
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(
      (list.body.data as { ended_reason: string }[]).map((a) => a.ended_reason),
      ['session_ended', 'session_ended', 'deactivated', 'expired'],
    );
    const verify = await server.request('GET', '/v1/audit-events/verify', { token: org.api_key });
    assert.equal(verify.status, 200, verify.text);
    assert.equal(verify.body.ok, true, verify.text);
  });
});
