import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { simpleParser } from 'mailparser';
import type { Browser } from 'playwright-core';
import { createUser, hashPassword, type InitResult } from '../../src/identity/index.ts';
import { totpCode } from '../../src/identity/totp.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { launchBrowser, newContext, screenshot, seriousViolations } from '../support/browser.ts';
import { describeEachDb } from '../support/db.ts';
import { type MailWorld, startMailWorld } from '../support/mail-world.ts';
import { verifiedDomain } from '../support/sending.ts';

// The staff user lifecycle through HTTP: an invitation mailed (received by an SMTP server on
// loopback) whose link is followed in Debian's Chromium to set a password, then straight on to the
// enrolment policy asks for; re-inviting replaces the link; disabling ends sessions and revokes
// the user's API keys at once and the sign-in answer gives nothing away; deleting keeps a tombstone
// the audit trail still names; the last owner and oneself are protected; the access review export.

const PASSWORD = 'copper meadow lantern';

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

describeEachDb('staff user lifecycle', (suite) => {
  let world: MailWorld;
  let server: TestServer;
  let org: InitResult;
  let PUBLIC: string;
  let browser: Browser;
  let now = new Date();
  let passwordHash: string | undefined;

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
    org = await server.createOrg('Lifecycle Clinic');
    await verifiedDomain(server, world.dns, org.api_key, 'lifecycle-clinic.test');
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await world?.close();
  });
  beforeEach(async () => {
    now = new Date();
    await suite.db.query('DELETE FROM auth_throttle');
    await suite.db.query('DELETE FROM staff_auth_policies WHERE org_id = $1', [org.org_id]);
  });

  interface Session {
    cookie: string;
    csrf: string;
  }

  async function signIn(email: string, password = PASSWORD) {
    const res = await server.request('POST', '/v1/auth/sign-in', { body: { email, password } });
    const cookie = /^(sealpost_staff=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1] ?? '';
    return { res, session: { cookie, csrf: res.body?.csrf_token as string } satisfies Session };
  }

  function call(s: Session, method: string, path: string, body?: unknown) {
    return server.request(method, path, {
      body,
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, origin: PUBLIC },
    });
  }

  async function newUser(email: string, role = 'sender') {
    const user = await createUser(suite.db, org.org_id, { email, role, displayName: `Name of ${email}` });
    await suite.db.query('UPDATE users SET password_hash = $3 WHERE org_id = $1 AND user_id = $2', [
      org.org_id,
      user.id,
      (passwordHash ??= await hashPassword(PASSWORD)),
    ]);
    return user;
  }

  async function events(action: string) {
    await server.app.flushAudit();
    return (
      await suite.db.query<{
        object_id: string;
        actor_type: string;
        actor_id: string;
        details: Record<string, unknown>;
      }>(
        'SELECT object_id, actor_type, actor_id, details FROM audit_events WHERE org_id = $1 AND action = $2 ORDER BY seq',
        [org.org_id, action],
      )
    ).rows;
  }

  const linkIn = (text: string | undefined) =>
    /(http:\/\/localhost:\d+\/console\/invite\/[A-Za-z0-9_-]{43})/.exec(text ?? '')?.[1];

  async function nextInvitationMail(before: number) {
    const messages = await world.waitForMessages('staff', before + 1, 30_000);
    const mail = await simpleParser(messages[before]!.raw);
    return { mail, link: linkIn(mail.text) };
  }

  test('an invitation is mailed, replaced when sent again, and its link sets a password in Chromium', async () => {
    // The organisation asks every user for a second factor: the new user lands in enrolment.
    const policy = await server.request('PATCH', '/v1/policies/auth', {
      token: org.api_key,
      body: { mfa_required: 'all' },
    });
    assert.equal(policy.status, 200, policy.text);
    const address = 'new.nurse@staff.test';
    const sent = world.receiver('staff').messages.length;
    const first = await server.request('POST', '/v1/invitations', {
      token: org.api_key,
      body: { email: address, role: 'sender' },
    });
    assert.equal(first.status, 201, first.text);
    assert.equal(first.body.status, 'pending');
    const firstMail = await nextInvitationMail(sent);
    assert.ok(firstMail.link, firstMail.mail.text);
    assert.match(firstMail.mail.subject ?? '', /Lifecycle Clinic/);
    assert.equal(firstMail.mail.from?.value[0]?.address, 'no-reply@lifecycle-clinic.test');
    assert.ok(firstMail.mail.headers.get('dkim-signature'), 'staff mail is DKIM-signed');
    const firstToken = firstMail.link!.split('/').pop()!;

    // Only a hash of the token is stored, and the sealed letter is gone once sent.
    const stored = await suite.db.query('SELECT * FROM staff_invitations WHERE org_id = $1', [org.org_id]);
    assert.ok(!JSON.stringify(stored.rows).includes(firstToken));
    // The worker deletes it after the receiver took the mail, so it may still be committing.
    const outboxLeft = async () =>
      (await suite.db.query('SELECT 1 FROM staff_mail_outbox WHERE org_id = $1', [org.org_id])).rows.length;
    for (let waited = 0; (await outboxLeft()) > 0 && waited < 5_000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await outboxLeft(), 0);

    // Inviting again replaces the first link.
    const second = await server.request('POST', '/v1/invitations', {
      token: org.api_key,
      body: { email: 'New.Nurse@staff.test', role: 'sender' },
    });
    assert.equal(second.status, 201, second.text);
    const secondMail = await nextInvitationMail(sent + 1);
    assert.ok(secondMail.link && secondMail.link !== firstMail.link);
    const listed = await server.request('GET', '/v1/invitations', { token: org.api_key });
    const statuses = Object.fromEntries(
      (listed.body.data as { id: string; status: string }[]).map((i) => [i.id, i.status]),
    );
    assert.equal(statuses[first.body.id], 'replaced');
    assert.equal(statuses[second.body.id], 'pending');
    const stale = await server.request('POST', '/v1/invitations/accept', {
      body: { token: firstToken, password: 'a long enough passphrase here' },
    });
    assert.equal(stale.status, 404);
    assert.equal(stale.body.code, 'invitation_invalid');

    const context = await newContext(browser, { javaScript: false });
    const page = await context.newPage();
    try {
      const old = await page.goto(firstMail.link!);
      assert.equal(old?.status(), 404);
      assert.match((await page.textContent('h1')) ?? '', /does not work/);

      const opened = await page.goto(secondMail.link!);
      assert.equal(opened?.status(), 200);
      const csp = opened?.headers()['content-security-policy'] ?? '';
      assert.match(csp, /script-src 'self'/);
      assert.doesNotMatch(await page.content(), /<script(?![^>]*src=)/);
      assert.equal((await page.inputValue('#email')).toLowerCase(), address);
      assert.deepEqual(await seriousViolations(page), []);

      // A common password is refused with the reason, tied to the field.
      await page.fill('#password', 'passwordpassword');
      await page.fill('#again', 'passwordpassword');
      await page.click('button[type=submit]');
      assert.match((await page.textContent('#invite-error')) ?? '', /too common/);
      assert.equal(await page.getAttribute('#password', 'aria-invalid'), 'true');
      assert.deepEqual(await seriousViolations(page), []);
      await screenshot(page, `invite-${suite.kind}`);

      await page.fill('#password', PASSWORD);
      await page.fill('#again', PASSWORD);
      await page.click('button[type=submit]');
      await page.waitForURL(`${PUBLIC}/console/enrol`);

      // The link worked once.
      const again = await page.goto(secondMail.link!);
      assert.equal(again?.status(), 404);
    } finally {
      await context.close();
    }

    const { rows } = await suite.db.query<{ user_id: string; role: string; invited_by: string }>(
      'SELECT user_id, role, invited_by FROM users WHERE org_id = $1 AND lower(email) = $2',
      [org.org_id, address],
    );
    assert.equal(rows[0]!.role, 'sender');
    assert.match(rows[0]!.invited_by, /^api_key:/);
    const created = await events('invitation.created');
    assert.equal(created.length, 2);
    assert.deepEqual(created[1]!.details.replaced, [first.body.id]);
    assert.equal(created[0]!.actor_type, 'api_key');
    const accepted = await events('invitation.accepted');
    assert.equal(accepted.length, 1);
    assert.equal(accepted[0]!.object_id, second.body.id);
    assert.equal(accepted[0]!.actor_id, rows[0]!.user_id);
    const userCreated = (await events('user.created')).filter((e) => e.object_id === rows[0]!.user_id);
    assert.equal(userCreated[0]!.details.invitation_id, second.body.id);
    // Signed in at once, and waiting to enrol the factor the policy asks for.
    const verified = (await events('auth.password_verified')).filter((e) => e.actor_id === rows[0]!.user_id);
    assert.equal(verified[0]!.details.next, 'enrol');
    for (const e of [...created, ...accepted]) assert.ok(!JSON.stringify(e.details).includes('nurse'));
  });

  test('invitations over the API: revoked links stop working, weak passwords are refused, an existing user is a conflict', async () => {
    const sent = world.receiver('staff').messages.length;
    const revoked = await server.request('POST', '/v1/invitations', {
      token: org.api_key,
      body: { email: 'gone@staff.test', role: 'read_only' },
    });
    assert.equal(revoked.status, 201, revoked.text);
    const revokedLink = (await nextInvitationMail(sent)).link!;
    assert.equal(
      (await server.request('DELETE', `/v1/invitations/${revoked.body.id}`, { token: org.api_key })).status,
      204,
    );
    assert.equal(
      (await server.request('DELETE', `/v1/invitations/${revoked.body.id}`, { token: org.api_key })).status,
      409,
    );
    const gone = await server.request('GET', new URL(revokedLink).pathname);
    assert.equal(gone.status, 404);
    assert.equal((await events('invitation.revoked'))[0]!.object_id, revoked.body.id);

    const invited = await server.request('POST', '/v1/invitations', {
      token: org.api_key,
      body: { email: 'api.user@staff.test', role: 'read_only' },
    });
    assert.equal(invited.status, 201, invited.text);
    const token = (await nextInvitationMail(sent + 1)).link!.split('/').pop()!;
    for (const [password, problem] of [
      ['short one', 'too_short'],
      ['qwertyuiopasdfghjkl', 'common'],
      ['api.user is my password', 'address'],
    ]) {
      const weak = await server.request('POST', '/v1/invitations/accept', { body: { token, password } });
      assert.equal(weak.status, 422, weak.text);
      assert.equal(weak.body.details?.problem ?? weak.body.problem, problem);
    }
    const ok = await server.request('POST', '/v1/invitations/accept', {
      body: { token, password: PASSWORD, display_name: 'Api User' },
    });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.body.organization_id, org.org_id);
    const reuse = await server.request('POST', '/v1/invitations/accept', {
      body: { token, password: PASSWORD },
    });
    assert.equal(reuse.status, 404);
    assert.equal((await signIn('api.user@staff.test')).res.status, 200);

    const dup = await server.request('POST', '/v1/invitations', {
      token: org.api_key,
      body: { email: 'API.USER@staff.test', role: 'sender' },
    });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.code, 'user_exists');
    const badRole = await server.request('POST', '/v1/invitations', {
      token: org.api_key,
      body: { email: 'x@staff.test', role: 'no_such_role' },
    });
    assert.equal(badRole.status, 422);
  });

  test('disabling ends every session and revokes the user’s keys at once; the sign-in then reveals nothing', async () => {
    const user = await newUser('disable.me@staff.test', 'administrator');
    const one = (await signIn('disable.me@staff.test')).session;
    const two = (await signIn('disable.me@staff.test')).session;
    const key = await call(one, 'POST', '/v1/api-keys', { name: 'script', scopes: ['org:read'] });
    assert.equal(key.status, 201, key.text);
    assert.equal((await server.request('GET', '/v1/organization', { token: key.body.token })).status, 200);
    const admin = (await signIn(org.admin_email, org.admin_password)).session;

    // Not oneself, and not without a recent sign-in.
    const self = await call(admin, 'POST', `/v1/users/${await adminId()}/disable`);
    assert.equal(self.status, 409);
    assert.equal(self.body.code, 'self');
    now = new Date(Date.now() + 11 * 60_000);
    const stale = await call(admin, 'POST', `/v1/users/${user.id}/disable`);
    assert.equal(stale.status, 403);
    assert.equal(stale.body.code, 'reauthentication_required');
    assert.equal(
      (await call(admin, 'POST', '/v1/auth/reauthenticate', { password: org.admin_password })).status,
      200,
    );

    const disabled = await call(admin, 'POST', `/v1/users/${user.id}/disable`);
    assert.equal(disabled.status, 200, disabled.text);
    assert.deepEqual(disabled.body, {
      id: user.id,
      status: 'disabled',
      sessions_ended: 2,
      api_keys_revoked: 1,
    });
    for (const s of [one, two]) assert.equal((await call(s, 'GET', '/v1/auth/session')).status, 401);
    assert.equal((await server.request('GET', '/v1/organization', { token: key.body.token })).status, 401);

    // The same answer as a wrong password for an unknown address.
    const refused = await signIn('disable.me@staff.test');
    const unknown = await signIn('nobody.at.all@staff.test');
    assert.equal(refused.res.status, 401);
    assert.equal(refused.res.body.code, unknown.res.body.code);
    assert.equal(refused.res.body.detail, unknown.res.body.detail);

    const e = (await events('user.disabled')).find((x) => x.object_id === user.id)!;
    assert.equal(e.actor_type, 'user');
    assert.deepEqual(e.details, { sessions_ended: 2, api_keys_revoked: 1 });
    const revoked = (await events('auth.session_revoked')).filter((x) => x.object_id === user.id);
    assert.equal(revoked.at(-1)!.details.reason, 'user_disabled');

    const enabled = await call(admin, 'POST', `/v1/users/${user.id}/enable`);
    assert.equal(enabled.status, 200, enabled.text);
    assert.equal((await signIn('disable.me@staff.test')).res.status, 200);
    // Its keys stay revoked: a new one is a decision to make again.
    assert.equal((await server.request('GET', '/v1/organization', { token: key.body.token })).status, 401);
    assert.equal((await events('user.enabled')).at(-1)!.object_id, user.id);
  });

  async function adminId(): Promise<string> {
    const { rows } = await suite.db.query<{ user_id: string }>(
      'SELECT user_id FROM users WHERE org_id = $1 AND lower(email) = lower($2)',
      [org.org_id, org.admin_email],
    );
    return rows[0]!.user_id;
  }

  test('the last active owner cannot be disabled or deleted; an administrator cannot act on an owner', async () => {
    const owner = await adminId();
    for (const [method, path] of [
      ['POST', `/v1/users/${owner}/disable`],
      ['DELETE', `/v1/users/${owner}`],
    ] as const) {
      const res = await server.request(method, path, { token: org.api_key });
      assert.equal(res.status, 409, res.text);
      assert.equal(res.body.code, 'last_owner');
    }
    await newUser('second.admin@staff.test', 'administrator');
    const adminSession = (await signIn('second.admin@staff.test')).session;
    const denied = await call(adminSession, 'POST', `/v1/users/${owner}/disable`);
    assert.equal(denied.status, 403);
    const unknown = await server.request('POST', '/v1/users/5a1db0c5-0000-4000-8000-000000000000/disable', {
      token: org.api_key,
    });
    assert.equal(unknown.status, 404);
    const { rows } = await suite.db.query<{ status: string }>(
      'SELECT status FROM users WHERE org_id = $1 AND user_id = $2',
      [org.org_id, owner],
    );
    assert.equal(rows[0]!.status, 'active');
  });

  test('deleting keeps a tombstone the audit trail still names, and frees the address', async () => {
    const user = await newUser('leaving@staff.test', 'sender');
    const s = (await signIn('leaving@staff.test')).session;
    assert.equal((await call(s, 'GET', '/v1/organization')).status, 200);
    const deleted = await server.request('DELETE', `/v1/users/${user.id}`, { token: org.api_key });
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal(deleted.body.status, 'deleted');
    assert.equal((await call(s, 'GET', '/v1/organization')).status, 401);
    assert.equal((await signIn('leaving@staff.test')).res.status, 401);

    const { rows } = await suite.db.query<{
      email: string;
      display_name: string;
      password_hash: string | null;
      email_sha256: Buffer;
      status: string;
    }>(
      'SELECT email, display_name, password_hash, email_sha256, status FROM users WHERE org_id = $1 AND user_id = $2',
      [org.org_id, user.id],
    );
    assert.equal(rows[0]!.email, `deleted:${user.id}`);
    assert.equal(rows[0]!.display_name, 'Name of leaving@staff.test');
    assert.equal(rows[0]!.password_hash, null);
    assert.equal(Buffer.from(rows[0]!.email_sha256).length, 32);
    // Their history stays: the sign-in they made is still on record under their id.
    assert.ok((await events('auth.signed_in')).some((e) => e.actor_id === user.id));
    assert.equal((await events('user.deleted')).at(-1)!.object_id, user.id);
    const users = await server.request('GET', '/v1/users', { token: org.api_key });
    assert.ok(!(users.body.data as { id: string }[]).some((u) => u.id === user.id));
    assert.equal(
      (await server.request('DELETE', `/v1/users/${user.id}`, { token: org.api_key })).status,
      404,
    );
    // The address can be invited again.
    const again = await server.request('POST', '/v1/invitations', {
      token: org.api_key,
      body: { email: 'leaving@staff.test', role: 'sender' },
    });
    assert.equal(again.status, 201, again.text);
  });

  test('a password change, a new factor and new recovery codes each end the user’s other sessions', async () => {
    await newUser('changes@staff.test', 'sender');
    const a = (await signIn('changes@staff.test')).session;
    const b = (await signIn('changes@staff.test')).session;
    const NEXT = 'saffron window evening tide';
    const changed = await call(a, 'POST', '/v1/auth/password', {
      current_password: PASSWORD,
      new_password: NEXT,
    });
    assert.equal(changed.status, 204, changed.text);
    assert.equal((await call(b, 'GET', '/v1/auth/session')).status, 401);

    const c = (await signIn('changes@staff.test', NEXT)).session;
    const started = await call(a, 'POST', '/v1/auth/factors/totp');
    assert.equal(started.status, 200, started.text);
    const confirmed = await call(a, 'POST', '/v1/auth/factors/totp/confirm', {
      code: totpCode(started.body.secret, now),
    });
    assert.equal(confirmed.status, 200, confirmed.text);
    assert.equal((await call(c, 'GET', '/v1/auth/session')).status, 401);

    now = new Date(now.getTime() + 30_000);
    const d = (await signIn('changes@staff.test', NEXT)).session;
    const second = await call(d, 'POST', '/v1/auth/second-factor', {
      method: 'totp',
      code: totpCode(started.body.secret, now),
    });
    assert.equal(second.status, 200, second.text);
    assert.equal((await call(d, 'GET', '/v1/auth/session')).status, 200);
    const codes = await call(a, 'POST', '/v1/auth/recovery-codes');
    assert.equal(codes.status, 200, codes.text);
    assert.equal((await call(d, 'GET', '/v1/auth/session')).status, 401);
    assert.equal((await call(a, 'GET', '/v1/auth/session')).status, 200);
    const reasons = (await events('auth.session_revoked')).map((e) => e.details.reason);
    for (const reason of ['password_changed', 'factors_changed']) assert.ok(reasons.includes(reason), reason);
  });

  test('a sign-in from a new device or address is mailed to the person, unless policy turns it off', async () => {
    const user = await newUser('roaming.nurse@staff.test');
    const noticesTo = async (from: number) =>
      (
        await Promise.all(
          world
            .receiver('staff')
            .messages.slice(from)
            .map((m) => simpleParser(m.raw)),
        )
      ).filter(
        (m) => m.subject?.startsWith('New sign-in') && m.to && JSON.stringify(m.to).includes(user.email),
      );
    const sent = world.receiver('staff').messages.length;
    // The first sign-in ever is new by definition: recorded, not mailed.
    assert.equal((await signIn(user.email)).res.status, 200);
    // No device cookie: a new device. The notice names the address and links to the account page.
    assert.equal((await signIn(user.email)).res.status, 200);
    const mail = await nextInvitationMail(sent);
    assert.match(mail.mail.subject ?? '', /^New sign-in to your Lifecycle Clinic account/);
    assert.match(mail.mail.text ?? '', /Address: 127\.0\.0\.1\./);
    assert.ok(mail.mail.text?.includes(`${PUBLIC}/console/account`), mail.mail.text);

    // Turned off: still recorded, not mailed. Then on again: the next new device is mailed, alone.
    const off = await server.request('PATCH', '/v1/policies/access', {
      token: org.api_key,
      body: { notify_new_device: false },
    });
    assert.equal(off.status, 200, off.text);
    assert.equal(off.body.notify_new_device, false);
    const recorded = (await events('auth.new_device')).filter((e) => e.actor_id === user.id).length;
    assert.equal((await signIn(user.email)).res.status, 200);
    assert.equal(
      (await events('auth.new_device')).filter((e) => e.actor_id === user.id).length,
      recorded + 1,
    );
    const on = await server.request('PATCH', '/v1/policies/access', {
      token: org.api_key,
      body: { notify_new_device: true },
    });
    assert.equal(on.status, 200, on.text);
    const before = world.receiver('staff').messages.length;
    assert.equal((await signIn(user.email)).res.status, 200);
    await world.waitForMessages('staff', before + 1, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal((await noticesTo(sent)).length, 2, 'the sign-in while notices were off sent none');
  });

  test('the access review lists every user with role, status, factors and sessions, as JSON and CSV, on the record', async () => {
    const user = await newUser('reviewed@staff.test', 'compliance_officer');
    const officer = (await signIn('reviewed@staff.test')).session;
    const json = await call(officer, 'GET', '/v1/users/access-review');
    assert.equal(json.status, 200, json.text);
    const row = (json.body.data as Record<string, any>[]).find((r) => r.id === user.id)!;
    assert.equal(row.role, 'compliance_officer');
    assert.equal(row.status, 'active');
    assert.deepEqual(row.factors, { totp: false, passkeys: 0, recovery_codes_left: 0 });
    assert.equal(row.sessions_active, 1);
    assert.ok(row.last_sign_in_at);
    assert.ok(!(json.body.data as { status: string }[]).some((r) => r.status === 'deleted'));
    assert.ok(!json.text.includes('argon2'));

    const csv = await call(officer, 'GET', '/v1/users/access-review?format=csv');
    assert.equal(csv.status, 200, csv.text);
    assert.match(csv.headers.get('content-type') ?? '', /text\/csv/);
    assert.match(csv.headers.get('content-disposition') ?? '', /attachment; filename="access-review-/);
    const lines = csv.text.trim().split('\r\n');
    assert.equal(
      lines[0],
      'id,email,display_name,role,role_name,status,totp,passkeys,recovery_codes_left,last_sign_in_at,sessions_active,break_glass_eligible,created_at,invited_by',
    );
    assert.ok(lines.some((l) => l.startsWith(`${user.id},reviewed@staff.test,`)));
    assert.equal(lines.length - 1, (json.body.data as unknown[]).length);

    const exported = (await events('users.access_review_exported')).filter((e) => e.actor_id === user.id);
    assert.deepEqual(
      exported.map((e) => e.details.format),
      ['json', 'csv'],
    );
    // A sender may not see it; a session needs a recent sign-in.
    const sender = await newUser('not.reviewer@staff.test', 'sender');
    assert.ok(sender);
    assert.equal(
      (await call((await signIn('not.reviewer@staff.test')).session, 'GET', '/v1/users/access-review'))
        .status,
      403,
    );
    now = new Date(Date.now() + 11 * 60_000);
    const stale = await call(officer, 'GET', '/v1/users/access-review');
    assert.equal(stale.status, 403);
    assert.equal(stale.body.code, 'reauthentication_required');
  });
});
