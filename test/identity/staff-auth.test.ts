import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { SYSTEM_ORG_ID } from '../../src/audit/index.ts';
import { createUser, hashPassword, type InitResult } from '../../src/identity/index.ts';
import { hotp, totpCode } from '../../src/identity/totp.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import {
  addVirtualAuthenticator,
  launchBrowser,
  newContext,
  screenshot,
  seriousViolations,
} from '../support/browser.ts';
import { describeEachDb } from '../support/db.ts';

// Staff sign-in through HTTP: passwords, throttling that never locks, session time-outs, cookie + CSRF
// on the API, re-authentication, TOTP checked against Debian's oathtool (an independent
// implementation), single-use recovery codes, and MFA required by policy. Then the pages in
// Debian's Chromium: password then TOTP, a passkey added through a virtual authenticator (the
// DevTools protocol), then password then passkey; every page checked by axe-core.

const PASSWORD = 'violet harbour lamplight';

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

function oathtool(secret: string, at?: Date): string | null {
  try {
    const args = ['--totp', '-b', secret];
    if (at)
      args.push(
        '--now',
        at
          .toISOString()
          .replace('T', ' ')
          .replace(/\.\d+Z$/, ' UTC'),
      );
    return execFileSync('oathtool', args, { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}
const haveOathtool = oathtool('JBSWY3DPEHPK3PXP') !== null;
/** The current code, from oathtool when installed (an independent implementation). */
const currentCode = (secret: string) => oathtool(secret) ?? totpCode(secret, new Date());

describe('TOTP (RFC 6238)', () => {
  test('matches the RFC 4226 vectors and, for random secrets and times, oathtool', (t) => {
    const rfc = Buffer.from('12345678901234567890');
    assert.deepEqual(
      [0, 1, 2, 9].map((c) => hotp(rfc, c)),
      ['755224', '287082', '359152', '520489'],
    );
    if (!haveOathtool) return t.skip('oathtool is not installed (Debian: oathtool; .ci/run installs it)');
    for (const [secret, at] of [
      ['JBSWY3DPEHPK3PXP', new Date('2026-01-01T00:00:00Z')],
      ['GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', new Date('2033-05-18T03:33:20Z')],
      ['KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU', new Date('2026-11-23T09:59:59Z')],
    ] as const)
      assert.equal(totpCode(secret, at), oathtool(secret, at), `${secret} at ${at.toISOString()}`);
  });
});

describeEachDb('staff sign-in over HTTP', (suite) => {
  let server: TestServer;
  let org: InitResult;
  let PUBLIC: string;
  let passwordHash: string | undefined;

  before(async () => {
    const port = await freePort();
    // A passkey's relying party is a domain name, never an IP address: localhost it is.
    PUBLIC = `http://localhost:${port}`;
    server = await startTestServer(suite.testDb, {
      SEALPOST_HTTP_PORT: String(port),
      SEALPOST_PUBLIC_URL: PUBLIC,
      // Sign-ins from several networks: the client address comes from X-Forwarded-For.
      SEALPOST_TRUST_PROXY: 'true',
    });
    org = await server.createOrg('Staff Clinic');
  });
  after(() => server.close());
  // Every request comes from 127.0.0.1: each test starts with no failures on record.
  beforeEach(() => suite.db.query('DELETE FROM auth_throttle'));

  interface Browser {
    cookie: string;
    csrf: string;
  }

  async function signIn(email: string, password: string) {
    const res = await server.request('POST', '/v1/auth/sign-in', { body: { email, password } });
    const setCookie = res.headers.get('set-cookie') ?? '';
    const cookie = /^(sealpost_staff=[^;]+)/.exec(setCookie)?.[1] ?? '';
    return { res, browser: { cookie, csrf: res.body?.csrf_token as string } satisfies Browser, setCookie };
  }

  /** A request as the console makes it: cookie, CSRF header, same origin. */
  function call(
    b: Browser,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) {
    return server.request(method, path, {
      body,
      headers: { cookie: b.cookie, 'x-csrf-token': b.csrf, origin: PUBLIC, ...headers },
    });
  }

  /** A user with PASSWORD (its argon2id hash made once: each hash costs a few hundred ms here). */
  async function newUser(email: string, role = 'sender', orgId = org.org_id) {
    const user = await createUser(suite.db, orgId, { email, role });
    await suite.db.query('UPDATE users SET password_hash = $3 WHERE org_id = $1 AND user_id = $2', [
      orgId,
      user.id,
      (passwordHash ??= await hashPassword(PASSWORD)),
    ]);
    return user;
  }

  /** The organisation's events of one kind, refusals tallied so far included. */
  async function events(action: string) {
    await server.app.flushAudit({ openWindows: true });
    return (
      await suite.db.query<{ object_id: string; details: Record<string, unknown>; ip: string | null }>(
        'SELECT object_id, details, ip FROM audit_events WHERE org_id = $1 AND action = $2 ORDER BY seq',
        [org.org_id, action],
      )
    ).rows;
  }

  test('sign-in: the cookie is HttpOnly and SameSite=Strict, only its hash is stored; wrong and unknown answer alike', async () => {
    const user = await newUser('rivera@staff.example');
    const { res, browser, setCookie } = await signIn('Rivera@Staff.example', PASSWORD);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, 'active');
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.match(setCookie, /Path=\//);
    assert.doesNotMatch(setCookie, /Secure/); // the public URL is http here
    const secret = browser.cookie.split('=')[1]!;
    const stored = await suite.db.query('SELECT * FROM staff_sessions WHERE org_id = $1', [org.org_id]);
    assert.ok(!JSON.stringify(stored.rows).includes(secret));

    // The role's permissions are the request's scopes.
    const orgRes = await call(browser, 'GET', '/v1/organization');
    assert.equal(orgRes.status, 200, orgRes.text);
    const me = await call(browser, 'GET', '/v1/auth/session');
    assert.equal(me.body.user.id, user.id);
    assert.ok(me.body.permissions.includes('messages:send'));
    assert.equal((await call(browser, 'GET', '/v1/users')).status, 403); // a sender cannot list users

    // A wrong password and an unknown address: the same status, code and text, in similar time.
    const timed = async (email: string) => {
      const started = performance.now();
      const r = await server.request('POST', '/v1/auth/sign-in', {
        body: { email, password: 'not the password at all' },
      });
      return { r, ms: performance.now() - started };
    };
    const wrong = [];
    const unknown = [];
    for (let i = 0; i < 2; i++) {
      wrong.push(await timed('rivera@staff.example'));
      unknown.push(await timed(`nobody${i}@staff.example`));
    }
    for (const { r } of [...wrong, ...unknown]) {
      assert.equal(r.status, 401);
      assert.equal(r.body.code, 'invalid_credentials');
      assert.equal(r.body.detail, wrong[0]!.r.body.detail);
    }
    const median = (xs: { ms: number }[]) => xs.map((x) => x.ms).sort((a, b) => a - b)[0]!;
    const [w, u] = [median(wrong), median(unknown)];
    assert.ok(Math.abs(w - u) < Math.max(150, 0.5 * Math.max(w, u)), `wrong ${w} ms, unknown ${u} ms`);

    // Tallied: one event for the two, naming the account by its id.
    const failed = await events('auth.sign_in_failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.object_id, user.id);
    assert.equal(failed[0]!.details.count, 2);
    const signedIn = await events('auth.signed_in');
    assert.ok(signedIn.length >= 1);
    for (const e of [...failed, ...signedIn]) {
      const text = JSON.stringify(e.details);
      assert.ok(
        !text.includes('rivera') && !text.includes('not the password') && !text.includes(PASSWORD),
        text,
      );
    }
  });

  test('an address with accounts in two organisations: the right password asks which one', async () => {
    const { rows } = await suite.db.query<{ org_id: string }>(
      "INSERT INTO organizations (name) VALUES ('Second Practice') RETURNING org_id",
    );
    const other = rows[0]!.org_id;
    await newUser('twice@staff.example');
    await newUser('twice@staff.example', 'sender', other);
    const wrong = await signIn('twice@staff.example', 'not the password at all');
    assert.equal(wrong.res.status, 401);
    const ambiguous = await signIn('twice@staff.example', PASSWORD);
    assert.equal(ambiguous.res.status, 409);
    assert.equal(ambiguous.res.body.code, 'organization_required');
    const chosen = await server.request('POST', '/v1/auth/sign-in', {
      body: { email: 'twice@staff.example', password: PASSWORD, organization_id: other },
    });
    assert.equal(chosen.status, 200, chosen.text);
  });

  test('cookie requests that change state need the CSRF header and the same origin; API keys need re-authentication', async () => {
    await newUser('admin2@staff.example', 'administrator');
    const { browser } = await signIn('admin2@staff.example', PASSWORD);
    const body = { name: 'from the console', scopes: ['org:read'] };
    const noCsrf = await server.request('POST', '/v1/api-keys', {
      body,
      headers: { cookie: browser.cookie, origin: PUBLIC },
    });
    assert.equal(noCsrf.status, 403);
    assert.equal(noCsrf.body.code, 'csrf_failed');
    const crossSite = await call(browser, 'POST', '/v1/api-keys', body, { origin: 'https://evil.example' });
    assert.equal(crossSite.status, 403);
    assert.equal(crossSite.body.code, 'csrf_failed');
    const created = await call(browser, 'POST', '/v1/api-keys', body);
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.body.created_by.type, 'user');

    // Eleven minutes later the sign-in is no longer recent: creating a key needs the password again.
    await suite.db.query(
      "UPDATE staff_sessions SET authenticated_at = authenticated_at - interval '11 minutes' WHERE org_id = $1",
      [org.org_id],
    );
    const stale = await call(browser, 'POST', '/v1/api-keys', body);
    assert.equal(stale.status, 403);
    assert.equal(stale.body.code, 'reauthentication_required');
    assert.equal(
      (await call(browser, 'POST', '/v1/auth/reauthenticate', { password: 'wrong password here' })).status,
      401,
    );
    const re = await call(browser, 'POST', '/v1/auth/reauthenticate', { password: PASSWORD });
    assert.equal(re.status, 200, re.text);
    assert.equal((await call(browser, 'POST', '/v1/api-keys', body)).status, 201);
    // An API key is a machine credential: no interactive re-authentication.
    assert.equal((await server.request('POST', '/v1/api-keys', { token: org.api_key, body })).status, 201);
    assert.ok((await events('auth.reauthenticated')).length >= 1);
  });

  test('failed sign-ins slow the source that fails, and past a ceiling strangers, never the person: nobody is locked out', async () => {
    const user = await newUser('target@staff.example');
    const from = (ip: string, email: string, password: string, cookie?: string) =>
      server.request('POST', '/v1/auth/sign-in', {
        body: { email, password },
        headers: { 'x-forwarded-for': ip, ...(cookie ? { cookie } : {}) },
      });
    const wrong = 'not the password at all';
    // The person signs in from their own network: their browser gets its device cookie.
    const person = await from('198.51.100.20', 'target@staff.example', PASSWORD);
    assert.equal(person.status, 200, person.text);
    const device = /(sealpost_device=[^;]+)/.exec(person.headers.get('set-cookie') ?? '')![1]!;

    // One source's guesses at one account slow that source: three tries, then a wait (the same
    // for an address with no account, so the answers tell nothing). The person, trying from
    // their own network meanwhile, is not slowed by them.
    for (const email of ['target@staff.example', 'ghost@staff.example']) {
      const answers: number[] = [];
      for (let i = 0; i < 3; i++) answers.push((await from('203.0.113.9', email, `${wrong} ${i}`)).status);
      assert.deepEqual(answers, [401, 401, 401], email);
      const early = await from('203.0.113.9', email, PASSWORD);
      assert.equal(early.status, 429, email);
      assert.equal(early.body.code, 'sign_in_throttled');
      assert.ok(Number(early.headers.get('retry-after')) >= 1);
      if (email === 'target@staff.example')
        assert.equal((await from('198.51.100.20', email, PASSWORD)).status, 200, 'the person signs in');
    }
    // Five more of the guesser's failures, as if made over the last minute: it waits 32 s now.
    await suite.db.query(
      'UPDATE auth_throttle SET failures = failures + 5, last_failure = now() WHERE subject <> account',
    );

    // A crowd, one failure from each of ten networks: the account's ceiling (recorded). A
    // stranger waits; the guesser still does.
    for (let i = 10; i < 20; i++)
      assert.equal((await from(`203.0.113.${i}`, 'target@staff.example', wrong)).status, 401);
    assert.deepEqual(
      (await events('auth.sign_in_slowed')).map((e) => e.object_id),
      [user.id],
    );
    const stranger = await from('203.0.113.50', 'target@staff.example', PASSWORD);
    assert.equal(stranger.status, 429, stranger.text);
    assert.ok(Number(stranger.headers.get('retry-after')) <= 60);
    assert.equal((await from('203.0.113.9', 'target@staff.example', PASSWORD)).status, 429);
    // The person is not slowed: from a new network with their browser's device cookie, or without
    // it from the address they signed in from before.
    assert.equal((await from('192.0.2.77', 'target@staff.example', PASSWORD, device)).status, 200);
    const ceiling = (failures: number, secondsAgo: number) =>
      suite.db.query(
        `UPDATE auth_throttle SET failures = $1, last_failure = now() - make_interval(secs => $2)
         WHERE subject = account`,
        [failures, secondsAgo],
      );
    await from('203.0.113.51', 'target@staff.example', wrong); // a count on the account again
    await ceiling(15, 0);
    assert.equal((await from('203.0.113.52', 'target@staff.example', PASSWORD)).status, 429);
    assert.equal((await from('198.51.100.20', 'target@staff.example', PASSWORD)).status, 200);

    // However many failures, the slowest is one try a minute: never a lock.
    await from('203.0.113.53', 'target@staff.example', wrong);
    await ceiling(500, 0);
    const slowest = await from('203.0.113.54', 'target@staff.example', wrong);
    assert.equal(slowest.status, 429);
    assert.equal(slowest.headers.get('retry-after'), '60');
    await ceiling(500, 61);
    assert.equal((await from('203.0.113.54', 'target@staff.example', wrong)).status, 401);

    // An administrator's reset forgets the account's counts, from every source.
    await ceiling(500, 0);
    const reset = await server.request('POST', `/v1/users/${user.id}/unlock`, { token: org.api_key });
    assert.equal(reset.status, 200, reset.text);
    assert.equal(reset.body.unlocked, true);
    assert.equal((await from('203.0.113.9', 'target@staff.example', wrong)).status, 401);
    assert.equal((await events('auth.unlocked')).length, 1);
  });

  test('failed sign-ins are tallied: thirty from one source are one event for the account and one for addresses without one', async () => {
    const user = await newUser('tallied@staff.example');
    const ip = '198.51.100.77';
    const fail = (email: string) =>
      server.request('POST', '/v1/auth/sign-in', {
        body: { email, password: 'not the password at all' },
        headers: { 'x-forwarded-for': ip },
      });
    for (let i = 0; i < 15; i++) {
      assert.equal((await fail('tallied@staff.example')).status, 401);
      assert.equal((await fail(`nobody${i}@tallied.example`)).status, 401);
      // Throttling only spaces such tries out, over hours: its counts are forgotten here.
      await suite.db.query('DELETE FROM auth_throttle');
    }
    await server.app.flushAudit({ openWindows: true });
    const failed = async (orgId: string) =>
      (
        await suite.db.query<{ object_id: string; actor_id: string; details: Record<string, any> }>(
          `SELECT object_id, actor_id, details FROM audit_events
           WHERE org_id = $1 AND action = 'auth.sign_in_failed' AND ip = $2 ORDER BY seq`,
          [orgId, ip],
        )
      ).rows;
    const [account, ...moreForAccount] = await failed(org.org_id);
    assert.equal(moreForAccount.length, 0);
    assert.deepEqual(
      [account!.object_id, account!.actor_id, account!.details.count, account!.details.reason],
      [user.id, user.id, 15, 'invalid'],
    );
    assert.ok(account!.details.first_at < account!.details.last_at);
    const unknown = await failed(SYSTEM_ORG_ID);
    assert.equal(unknown.length, 1, 'addresses with no account: one event in the system chain');
    assert.deepEqual([unknown[0]!.object_id, unknown[0]!.details.count], ['unknown', 15]);
    assert.doesNotMatch(JSON.stringify([account, unknown]), /tallied\.example|nobody/, 'never an address');
  });

  test('an IPv6 client is one network per /64: its addresses share their count', async () => {
    await newUser('six@staff.example');
    const from = (ip: string, password = 'not the password at all') =>
      server.request('POST', '/v1/auth/sign-in', {
        body: { email: 'six@staff.example', password },
        headers: { 'x-forwarded-for': ip },
      });
    for (const ip of ['2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:2:ffff::1'])
      assert.equal((await from(ip)).status, 401, ip);
    assert.equal((await from('2001:db8:1:2:0:0:0:c', PASSWORD)).status, 429);
    assert.equal((await from('2001:db8:1:3::a')).status, 401, 'another /64 is another source');
  });

  test('failed sign-ins from one address are throttled across accounts', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await server.request('POST', '/v1/auth/sign-in', {
        body: { email: `spray${i}@staff.example`, password: 'Spring2026 is here' },
      });
      assert.equal(r.status, 401);
    }
    // 17 more accounts tried from this address (counted as made now, without waiting for argon2).
    const counted = await suite.db.query(
      'UPDATE auth_throttle SET failures = failures + 17 WHERE failures = 2',
    );
    assert.equal(counted.rowCount, 1); // the address's row: each account has one failure
    const before = await server.request('POST', '/v1/auth/sign-in', {
      body: { email: 'spray-20@staff.example', password: 'Spring2026 is here' },
    });
    assert.equal(before.status, 401); // the 20th
    const r = await server.request('POST', '/v1/auth/sign-in', {
      body: { email: 'spray-last@staff.example', password: 'Spring2026 is here' },
    });
    assert.equal(r.status, 429);
    assert.equal(r.body.code, 'sign_in_throttled');
  });

  test('sessions end after the idle and absolute time-outs of the policy; listed and revoked one or all', async () => {
    const user = await newUser('shift@staff.example');
    const first = (await signIn('shift@staff.example', PASSWORD)).browser;
    const second = (await signIn('shift@staff.example', PASSWORD)).browser;
    const listed = await call(first, 'GET', '/v1/auth/sessions');
    assert.equal(listed.body.data.length, 2);
    assert.equal(listed.body.data.filter((s: { current: boolean }) => s.current).length, 1);

    // Idle: 16 minutes without a request.
    await suite.db.query(
      "UPDATE staff_sessions SET last_seen_at = now() - interval '16 minutes' WHERE org_id = $1 AND user_id = $2",
      [org.org_id, user.id],
    );
    assert.equal((await call(first, 'GET', '/v1/auth/session')).status, 401);
    const expired = await events('auth.session_expired');
    assert.ok(expired.some((e) => e.details.reason === 'idle_timeout'));

    // The organisation allows an hour of idleness: 16 minutes are fine now.
    const policy = await server.request('PATCH', '/v1/policies/auth', {
      token: org.api_key,
      body: { idle_minutes: 60 },
    });
    assert.equal(policy.status, 200, policy.text);
    assert.equal((await call(second, 'GET', '/v1/auth/session')).status, 200);

    // Absolute: past its end the session is over, however active.
    await suite.db.query(
      "UPDATE staff_sessions SET expires_at = now() - interval '1 second' WHERE org_id = $1 AND user_id = $2",
      [org.org_id, user.id],
    );
    assert.equal((await call(second, 'GET', '/v1/auth/session')).status, 401);
    assert.ok((await events('auth.session_expired')).some((e) => e.details.reason === 'absolute_timeout'));
    await server.request('PATCH', '/v1/policies/auth', { token: org.api_key, body: { idle_minutes: 15 } });

    // Revoke one, then all.
    const a = (await signIn('shift@staff.example', PASSWORD)).browser;
    const b = (await signIn('shift@staff.example', PASSWORD)).browser;
    const bId = (await call(b, 'GET', '/v1/auth/session')).body.id;
    assert.equal((await call(a, 'DELETE', `/v1/auth/sessions/${bId}`)).status, 204);
    assert.equal((await call(b, 'GET', '/v1/auth/session')).status, 401);
    assert.equal((await call(a, 'DELETE', `/v1/auth/sessions/${bId}`)).status, 404);
    assert.equal((await call(a, 'DELETE', '/v1/auth/sessions')).status, 204);
    assert.equal((await call(a, 'GET', '/v1/auth/session')).status, 401);
    assert.ok((await events('auth.session_revoked')).length >= 2);

    // A disabled user's sessions stop at once.
    const c = (await signIn('shift@staff.example', PASSWORD)).browser;
    await suite.db.query("UPDATE users SET status = 'disabled' WHERE org_id = $1 AND user_id = $2", [
      org.org_id,
      user.id,
    ]);
    assert.equal((await call(c, 'GET', '/v1/organization')).status, 401);
    assert.equal((await signIn('shift@staff.example', PASSWORD)).res.status, 401);
  });

  test('TOTP: enrolled with a code from oathtool, then required at sign-in; codes and recovery codes work once', async (t) => {
    if (!haveOathtool) return t.skip('oathtool is not installed');
    const user = await newUser('totp@staff.example');
    const { browser } = await signIn('totp@staff.example', PASSWORD);
    const other = (await signIn('totp@staff.example', PASSWORD)).browser;
    const started = await call(browser, 'POST', '/v1/auth/factors/totp');
    assert.equal(started.status, 200, started.text);
    assert.match(
      started.body.otpauth_uri,
      /^otpauth:\/\/totp\/Sealpost(:|%3A)totp%40staff\.example\?secret=/,
    );
    const secret = started.body.secret as string;
    const sealed = await suite.db.query('SELECT secret_sealed FROM staff_totp WHERE org_id = $1', [
      org.org_id,
    ]);
    assert.ok(
      !Buffer.from(sealed.rows[0]!.secret_sealed as Buffer)
        .toString('latin1')
        .includes(secret),
    );
    assert.equal(
      (await call(browser, 'POST', '/v1/auth/factors/totp/confirm', { code: '000000' })).status,
      422,
    );
    const confirmed = await call(browser, 'POST', '/v1/auth/factors/totp/confirm', {
      code: oathtool(secret),
    });
    assert.equal(confirmed.status, 200, confirmed.text);
    const codes = confirmed.body.recovery_codes as string[];
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    for (const c of codes) assert.match(c, /^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/); // 80 bits each
    // A factor changed: every other session ended.
    assert.equal((await call(other, 'GET', '/v1/auth/session')).status, 401);
    assert.equal((await events('auth.mfa_enrolled')).length, 1);

    // Signing in now takes the password and then a code.
    const half = await signIn('totp@staff.example', PASSWORD);
    assert.equal(half.res.body.status, 'second_factor');
    assert.deepEqual(half.res.body.methods, ['totp', 'recovery_code']);
    const blocked = await call(half.browser, 'GET', '/v1/organization');
    assert.equal(blocked.status, 403);
    assert.equal(blocked.body.code, 'second_factor_required');
    // A code of a step already used is refused (here: as if a later code had been used already).
    const code = oathtool(secret)!;
    const step = Math.floor(Date.now() / 30_000);
    await suite.db.query('UPDATE staff_totp SET last_step = $2 WHERE org_id = $1', [org.org_id, step + 1]);
    const used = await call(half.browser, 'POST', '/v1/auth/second-factor', { method: 'totp', code });
    assert.equal(used.status, 401);
    await suite.db.query('UPDATE staff_totp SET last_step = 0 WHERE org_id = $1', [org.org_id]);
    const done = await call(half.browser, 'POST', '/v1/auth/second-factor', { method: 'totp', code });
    assert.equal(done.status, 200, done.text);
    assert.equal(done.body.status, 'active');
    assert.equal((await call(half.browser, 'GET', '/v1/organization')).status, 200);
    const again = await signIn('totp@staff.example', PASSWORD);
    const replay = await call(again.browser, 'POST', '/v1/auth/second-factor', { method: 'totp', code });
    assert.equal(replay.status, 401);

    // A recovery code opens once.
    const withCode = await call(again.browser, 'POST', '/v1/auth/second-factor', {
      method: 'recovery_code',
      code: codes[0]!.replace(/-/g, '').toUpperCase(), // as typed, without dashes
    });
    assert.equal(withCode.status, 200, withCode.text);
    const third = await signIn('totp@staff.example', PASSWORD);
    const reused = await call(third.browser, 'POST', '/v1/auth/second-factor', {
      method: 'recovery_code',
      code: codes[0],
    });
    assert.equal(reused.status, 401);
    assert.equal((await call(third.browser, 'GET', '/v1/auth/factors')).status, 403);
    const factors = await call(again.browser, 'GET', '/v1/auth/factors');
    assert.equal(factors.body.recovery_codes_left, 9);
    assert.equal((await events('auth.recovery_code_used')).length, 1);

    // A password of 8+ characters is enough with a second factor; removing the factor then is refused.
    const changed = await call(again.browser, 'POST', '/v1/auth/password', {
      current_password: PASSWORD,
      new_password: 'quartz-owl',
    });
    assert.equal(changed.status, 204, changed.text);
    const removal = await call(again.browser, 'DELETE', '/v1/auth/factors/totp');
    assert.equal(removal.status, 409);
    assert.equal(removal.body.code, 'password_too_short');
    const longer = await call(again.browser, 'POST', '/v1/auth/password', {
      current_password: 'quartz-owl',
      new_password: PASSWORD,
    });
    assert.equal(longer.status, 204);
    assert.equal((await call(again.browser, 'DELETE', '/v1/auth/factors/totp')).status, 204);
    assert.equal((await events('auth.mfa_removed')).length, 1);
    assert.equal((await signIn('totp@staff.example', PASSWORD)).res.body.status, 'active');
    for (const e of await events('auth.sign_in_failed'))
      assert.ok(!JSON.stringify(e.details).includes(code) && !JSON.stringify(e.details).includes(codes[0]!));
    assert.ok(user.id);
  });

  test('passwords follow NIST SP 800-63B rev. 4: 15 characters alone, common ones refused; a change ends other sessions', async () => {
    await newUser('pw@staff.example');
    const { browser } = await signIn('pw@staff.example', PASSWORD);
    const other = (await signIn('pw@staff.example', PASSWORD)).browser;
    for (const [weak, problem] of [
      ['fourteen chars', 'too_short'],
      ['passwordpassword', 'common'],
      ['pw@staff.example is mine', 'address'],
    ] as const) {
      const r = await call(browser, 'POST', '/v1/auth/password', {
        current_password: PASSWORD,
        new_password: weak,
      });
      assert.equal(r.status, 422, weak);
      assert.equal(r.body.problem, problem, weak);
    }
    const long = 'a long passphrase '.repeat(4).slice(0, 70);
    assert.equal(
      (await call(browser, 'POST', '/v1/auth/password', { current_password: PASSWORD, new_password: long }))
        .status,
      204,
    );
    assert.equal((await call(other, 'GET', '/v1/auth/session')).status, 401);
    assert.equal((await call(browser, 'GET', '/v1/auth/session')).status, 200);
    assert.equal((await signIn('pw@staff.example', long)).res.status, 200);
  });

  test('MFA required by policy: a user without a factor must enrol before anything else; a passkey for owners', async (t) => {
    if (!haveOathtool) return t.skip('oathtool is not installed');
    await newUser('enrol@staff.example');
    const policy = await server.request('PATCH', '/v1/policies/auth', {
      token: org.api_key,
      body: { mfa_required: 'roles', mfa_roles: ['sender'], passkey_required_roles: ['owner'] },
    });
    assert.equal(policy.status, 200, policy.text);
    const { res, browser } = await signIn('enrol@staff.example', PASSWORD);
    assert.equal(res.body.status, 'enrol');
    assert.equal(res.body.requirement, 'any');
    const denied = await call(browser, 'GET', '/v1/organization');
    assert.equal(denied.status, 403);
    assert.equal(denied.body.code, 'enrolment_required');
    assert.equal((await call(browser, 'GET', '/v1/auth/sessions')).status, 403);
    const { secret } = (await call(browser, 'POST', '/v1/auth/factors/totp')).body;
    const confirmed = await call(browser, 'POST', '/v1/auth/factors/totp/confirm', {
      code: oathtool(secret),
    });
    assert.equal(confirmed.body.status, 'active');
    assert.equal((await call(browser, 'GET', '/v1/organization')).status, 200);
    // The policy keeps the factor: it cannot be removed.
    const removal = await call(browser, 'DELETE', '/v1/auth/factors/totp');
    assert.equal(removal.status, 409);
    assert.equal(removal.body.code, 'factor_required');

    // The owner must use a passkey: the password alone leads to enrolling one.
    const owner = await signIn(org.admin_email, org.admin_password);
    assert.equal(owner.res.body.status, 'enrol');
    assert.equal(owner.res.body.requirement, 'passkey');
    await server.request('PATCH', '/v1/policies/auth', {
      token: org.api_key,
      body: { mfa_required: 'off', mfa_roles: [], passkey_required_roles: [] },
    });
  });

  // The pages run over the same code on either database: in Chromium once, on PostgreSQL.
  if (suite.kind === 'postgres')
    test('the pages in Chromium: password + TOTP, a passkey added and used, factors removed; no serious accessibility violation', async () => {
      const launching = launchBrowser(); // started now, ready by the time the account is
      try {
        const consoleOrg = await server.createOrg('Console Clinic');
        await newUser('lee@console.example', 'administrator', consoleOrg.org_id);
        // An authenticator app enrolled through the API, as the console would.
        const { browser: api } = await signIn('lee@console.example', PASSWORD);
        const secret = (await call(api, 'POST', '/v1/auth/factors/totp')).body.secret as string;
        const confirmed = await call(api, 'POST', '/v1/auth/factors/totp/confirm', {
          code: currentCode(secret),
        });
        assert.equal(confirmed.status, 200, confirmed.text);
        const context = await newContext(await launching, { javaScript: true });
        const page = await context.newPage();
        await addVirtualAuthenticator(context, page);
        await pages(page, consoleOrg, secret);
      } finally {
        await (await launching).close();
      }
    });

  /** The browser's part: `org` has lee@console.example with an authenticator app (`secret`). */
  async function pages(page: Page, org: InitResult, secret: string) {
    async function accessible(name: string) {
      await screenshot(page, `staff-${name}-${suite.kind}`);
      const violations = await seriousViolations(page);
      assert.deepEqual(
        violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
        [],
        name,
      );
    }

    async function passwordStep() {
      await page.goto(`${PUBLIC}/console/sign-in`);
      await page.getByLabel('Email address').fill('lee@console.example');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${PUBLIC}/console/verify`);
    }

    await page.goto(`${PUBLIC}/console/sign-in?lang=es`);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Iniciar sesión en Sealpost');
    await page.goto(`${PUBLIC}/console/sign-in?lang=en`);
    // The sign-in page is checked with its error showing (below): the whole form and the alert.
    // A wrong password: the error is announced and tied to the fields.
    await page.getByLabel('Email address').fill('lee@console.example');
    await page.getByLabel('Password').fill('not my password at all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.match((await page.getByRole('alert').first().textContent()) ?? '', /not right/);
    await accessible('sign-in-error');

    await passwordStep();
    await accessible('verify');
    // The enrolment's code was of this very step: as if the next step had come.
    await suite.db.query('UPDATE staff_totp SET last_step = 0 WHERE org_id = $1', [org.org_id]);
    await page.getByLabel('Code from your authenticator app').fill(currentCode(secret));
    await page.getByRole('button', { name: 'Continue' }).first().click();
    await page.waitForURL(`${PUBLIC}/console/account`);
    await accessible('account');

    await page.getByRole('link', { name: 'Add a second factor' }).click();
    await page.waitForURL(`${PUBLIC}/console/enrol`);
    await accessible('enrol');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL(`${PUBLIC}/console/account`);
    assert.match(await page.locator('main').innerText(), /Passkey “Passkey”/);

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(`${PUBLIC}/console/sign-in`);

    await passwordStep();
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.waitForURL(`${PUBLIC}/console/account`);

    const { rows } = await suite.db.query<{ action: string; details: { methods?: string } }>(
      `SELECT action, details FROM audit_events WHERE org_id = $1 AND action IN ('auth.signed_in', 'auth.mfa_enrolled')
       ORDER BY seq`,
      [org.org_id],
    );
    const signedIn = rows.filter((r) => r.action === 'auth.signed_in').map((r) => r.details.methods);
    assert.deepEqual(signedIn.slice(-2), ['password totp', 'password passkey']);
    assert.equal(rows.filter((r) => r.action === 'auth.mfa_enrolled').length, 2);

    // Removing factors: at once after a sign-in; later, only after the password again.
    await page.getByRole('button', { name: 'Remove the authenticator app' }).click();
    await page.waitForURL(`${PUBLIC}/console/account?done=removed`);
    assert.match((await page.getByRole('status').textContent()) ?? '', /removed/);
    await suite.db.query(
      "UPDATE staff_sessions SET authenticated_at = authenticated_at - interval '11 minutes' WHERE org_id = $1",
      [org.org_id],
    );
    await page.getByRole('button', { name: 'Remove passkey 1' }).click();
    await page.getByLabel('Password').fill(PASSWORD);
    await accessible('reauthenticate');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.waitForURL(`${PUBLIC}/console/account?done=reauthenticated`);
    await page.getByRole('button', { name: 'Remove passkey 1' }).click();
    await page.waitForURL(`${PUBLIC}/console/account?done=removed`);
    const { rows: removed } = await suite.db.query(
      "SELECT details FROM audit_events WHERE org_id = $1 AND action = 'auth.mfa_removed' ORDER BY seq",
      [org.org_id],
    );
    assert.deepEqual(
      removed.map((r) => (r.details as { factor: string }).factor),
      ['totp', 'passkey'],
    );
  }
});
