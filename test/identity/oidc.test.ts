import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, beforeEach, test } from 'node:test';
import * as oidc from 'openid-client';
import { SYSTEM_ORG_ID } from '../../src/audit/index.ts';
import { createUser, hashPassword, type InitResult } from '../../src/identity/index.ts';
import { createInvitation, listInvitations } from '../../src/identity/invitations.ts';
import { totpCode } from '../../src/identity/totp.ts';
import { createLogger } from '../../src/log/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { launchBrowser, newContext, screenshot, seriousViolations } from '../support/browser.ts';
import { describeEachDb } from '../support/db.ts';
import { startTestDns, type TestDns } from '../support/dns.ts';
import { startTestProvider, type TestProvider } from '../support/oidc-provider.ts';

// Single sign-on through HTTP against a real OpenID provider (panva's oidc-provider) on
// 127.0.0.1 and a DNS server on loopback: the settings (owners only, secret sealed, never shown),
// domains proven by a TXT record or a sending domain and held by one organisation at most,
// sign-in of an existing user, just-in-time provisioning with mapped roles, the user's own second
// factor after the provider (the provider's MFA trusted only when an owner says so, never for an
// owner), every refusal (unverified address, unproven domain, state, nonce and PKCE tampered, a
// replayed callback, an unknown organisation), SSO-only, the audit trail, and logs free of secrets
// and codes. Then in Chromium: the sign-in page's SSO button through the provider to the console,
// signed in. Every request to the provider goes through the address guard: a provider on a
// private or link-local address is refused when saved and when signing in, without a connection.

const PASSWORD = 'violet harbour lamplight';
const DOMAIN = 'sso-clinic.example';

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

/** A browser's cookies, per host:port (enough for two origins on loopback). */
class Jar {
  private readonly cookies = new Map<string, Map<string, string>>();
  header(url: string): string {
    const jar = this.cookies.get(new URL(url).host);
    return jar ? [...jar].map(([k, v]) => `${k}=${v}`).join('; ') : '';
  }
  store(url: string, res: Response): void {
    const host = new URL(url).host;
    const jar = this.cookies.get(host) ?? new Map<string, string>();
    this.cookies.set(host, jar);
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (!value || attributes.some((a) => /^\s*max-age=0\s*$/i.test(a))) jar.delete(name);
      else jar.set(name, value);
    }
  }
  get(url: string, name: string): string | undefined {
    return this.cookies.get(new URL(url).host)?.get(name);
  }
}

describeEachDb('single sign-on (OpenID Connect)', (suite) => {
  let server: TestServer;
  let provider: TestProvider;
  let dns: TestDns;
  let org: InitResult;
  let PUBLIC: string;
  let CALLBACK: string;
  let passwordHash: string;
  const logs: string[] = [];

  before(async () => {
    const port = await freePort();
    // The console on localhost, the provider on 127.0.0.1: two sites, as in real life.
    PUBLIC = `http://localhost:${port}`;
    CALLBACK = `${PUBLIC}/v1/auth/sso/callback`;
    const log = createLogger(
      'debug',
      new Writable({
        write(chunk, _encoding, done) {
          logs.push(String(chunk));
          done();
        },
      }),
    );
    dns = await startTestDns();
    server = await startTestServer(
      suite.testDb,
      {
        SEALPOST_HTTP_PORT: String(port),
        SEALPOST_PUBLIC_URL: PUBLIC,
        SEALPOST_DNS_SERVERS: dns.server,
        // The provider is on loopback: the operator allows it, as a partner network would be.
        SEALPOST_FETCH_PRIVATE_RANGES: '127.0.0.0/8',
      },
      { log },
    );
    provider = await startTestProvider({ redirectUri: CALLBACK });
    org = await server.createOrg('SSO Clinic');
    // The clinic proves its domain with the TXT record it is given.
    const claimed = await api('POST', '/v1/sso/domains', { domain: DOMAIN });
    assert.equal(claimed.status, 201, claimed.text);
    dns.setTxt(claimed.body.record.name, [claimed.body.record.value]);
    const proven = await api('POST', `/v1/sso/domains/${DOMAIN}/verify`);
    assert.equal(proven.body.status, 'verified', proven.text);
    passwordHash = await hashPassword(PASSWORD);
    const account = (sub: string, claims: Partial<Parameters<typeof provider.accounts.set>[1]> = {}) =>
      provider.accounts.set(sub, { sub, email: `${sub}@${DOMAIN}`, email_verified: true, ...claims });
    account('rivera', { groups: ['staff', 'sealpost-admins'] });
    account('okafor');
    account('lindqvist', { groups: ['sealpost-compliance'] });
    account('unverified', { email_verified: false });
    account('outsider', { email: 'outsider@elsewhere.example' });
    account('mfa-user', { amr: ['pwd', 'mfa'] });
    account('pwd-user', { amr: ['pwd'] });
    account('factor-user', { amr: ['pwd', 'mfa'] });
    account('partner', { email: 'partner@partner-clinic.example' });
    // The identity provider an administrator set up in the attack: it asserts the owner's address.
    account('owner-at-idp', { email: org.admin_email, amr: ['pwd', 'mfa'] });
    account('noemail', { email: undefined });
    account('newhire');
  });
  after(async () => {
    await server.close();
    await provider.close();
    await dns.close();
  });
  beforeEach(() => suite.db.query('DELETE FROM auth_throttle'));

  const api = (method: string, path: string, body?: unknown) =>
    server.request(method, path, { token: org.api_key, body });

  async function configure(change: Record<string, unknown> = {}) {
    const res = await api('PUT', '/v1/sso', {
      issuer: provider.issuer,
      client_id: provider.clientId,
      client_secret: provider.clientSecret,
      role_claim: 'groups',
      role_mappings: [
        { value: 'sealpost-admins', role: 'administrator' },
        { value: 'sealpost-compliance', role: 'compliance_officer' },
      ],
      default_role: null,
      slug: 'sso-clinic',
      trust_provider_mfa: false,
      ...change,
    });
    assert.equal(res.status, 200, res.text);
    return res;
  }

  async function newUser(email: string, role: string) {
    const user = await createUser(suite.db, org.org_id, { email, role });
    await suite.db.query('UPDATE users SET password_hash = $3 WHERE org_id = $1 AND user_id = $2', [
      org.org_id,
      user.id,
      passwordHash,
    ]);
    return user;
  }

  /** From the start URL through the provider, by hand, up to the redirect to Sealpost's callback. */
  async function toCallback(sub: string, query = 'org=sso-clinic', jar = new Jar()) {
    provider.signInAs(sub);
    let url = `${PUBLIC}/v1/auth/sso/start?${query}`;
    for (let hop = 0; hop < 15; hop++) {
      const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header(url) } });
      jar.store(url, res);
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location)
        return { jar, callback: null, res, text: await res.text() };
      await res.arrayBuffer();
      url = new URL(location, url).toString();
      if (url.startsWith(CALLBACK)) return { jar, callback: url, res, text: '' };
    }
    throw new Error('too many redirects');
  }

  /** The browser arrives at the callback (as JSON, for the test to read). */
  async function arrive(jar: Jar, callback: string) {
    const res = await fetch(callback, {
      redirect: 'manual',
      headers: { cookie: jar.header(callback), accept: 'application/json' },
    });
    jar.store(callback, res);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, text };
  }

  async function signInWithSso(sub: string, query?: string) {
    const { jar, callback } = await toCallback(sub, query);
    assert.ok(callback, 'the provider sent the browser back');
    return { jar, callback, ...(await arrive(jar, callback)) };
  }

  const session = (jar: Jar) => ({ cookie: `sealpost_staff=${jar.get(PUBLIC, 'sealpost_staff')}` });

  /** A person signed in with their password: cookie, CSRF token, same origin. */
  async function personSession(email: string, password: string) {
    const res = await server.request('POST', '/v1/auth/sign-in', { body: { email, password } });
    assert.equal(res.status, 200, res.text);
    const cookie = /^(sealpost_staff=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!;
    return { cookie, 'x-csrf-token': res.body.csrf_token as string, origin: PUBLIC };
  }

  /** Enrols an authenticator app for a user, as they would in the console. */
  async function enrolTotp(email: string, password: string) {
    const headers = await personSession(email, password);
    const started = await server.request('POST', '/v1/auth/factors/totp', { headers });
    assert.equal(started.status, 200, started.text);
    const confirmed = await server.request('POST', '/v1/auth/factors/totp/confirm', {
      headers,
      body: { code: totpCode(started.body.secret, new Date()) },
    });
    assert.equal(confirmed.status, 200, confirmed.text);
  }

  /** The organisation's events of one kind, refusals tallied so far included. */
  async function events(action: string) {
    await server.app.flushAudit({ openWindows: true });
    const { rows } = await suite.db.query<{
      object_id: string;
      outcome: string;
      details: Record<string, unknown>;
    }>(
      'SELECT object_id, outcome, details FROM audit_events WHERE org_id = $1 AND action = $2 ORDER BY seq',
      [org.org_id, action],
    );
    return rows;
  }

  const userRole = async (email: string) =>
    (
      await suite.db.query<{ role: string }>(
        'SELECT role FROM users WHERE org_id = $1 AND lower(email) = $2',
        [org.org_id, email],
      )
    ).rows[0]?.role;

  test('settings: the client secret is sealed at rest and never shown; changes need a recent sign-in', async () => {
    assert.equal((await api('GET', '/v1/sso')).status, 404);
    const owner = await api('PUT', '/v1/sso', {
      issuer: provider.issuer,
      client_id: provider.clientId,
      client_secret: provider.clientSecret,
      role_mappings: [{ value: 'x', role: 'owner' }],
    });
    assert.equal(owner.status, 422, 'a claim never makes an owner');
    assert.equal((await api('GET', '/v1/sso')).status, 404, 'nothing was stored');
    const put = await configure({ trust_provider_mfa: undefined }); // the default
    assert.equal(put.body.client_secret_set, true);
    assert.equal(put.body.redirect_uri, CALLBACK);
    assert.equal(put.body.password_sign_in, true);
    assert.equal(
      put.body.trust_provider_mfa,
      false,
      "the provider's MFA is not trusted unless an owner says so",
    );
    assert.deepEqual(put.body.allowed_domains, [DOMAIN], 'the proven domains');
    // Domains are proven, never listed.
    const listed = await api('PUT', '/v1/sso', { allowed_domains: ['elsewhere.example'] });
    assert.equal(listed.status, 400, listed.text);
    const got = await api('GET', '/v1/sso');
    assert.equal(got.status, 200);
    for (const res of [put, got]) {
      assert.ok(!res.text.includes(provider.clientSecret), 'the secret is never returned');
      assert.ok(!('client_secret' in res.body));
    }
    const { rows } = await suite.db.query<{ row: string; secret: Buffer }>(
      'SELECT sso_configs::text AS row, client_secret AS secret FROM sso_configs WHERE org_id = $1',
      [org.org_id],
    );
    assert.ok(!rows[0]!.row.includes(provider.clientSecret));
    assert.ok(!Buffer.from(rows[0]!.secret).includes(Buffer.from(provider.clientSecret)));
    assert.ok(!rows[0]!.row.includes(Buffer.from(provider.clientSecret).toString('hex')));
    // It opens with the organisation's key, bound to this row.
    assert.equal(
      await server.app.keyring.openText(
        org.org_id,
        { table: 'sso_configs', row: org.org_id },
        Buffer.from(rows[0]!.secret),
      ),
      provider.clientSecret,
    );
    // SSO-only before any SSO sign-in worked: refused, nobody locks themselves out.
    const early = await api('PUT', '/v1/sso', { password_sign_in: false });
    assert.equal(early.status, 409);
    assert.equal(early.body.code, 'sso_not_proven');
    const configured = await events('sso.configured');
    assert.ok(configured.length >= 1);
    assert.ok(!JSON.stringify(configured).includes(provider.clientSecret));

    // A person's session older than ten minutes: re-authenticate first.
    const signIn = await server.request('POST', '/v1/auth/sign-in', {
      body: { email: org.admin_email, password: org.admin_password },
    });
    assert.equal(signIn.status, 200, signIn.text);
    const cookie = /^(sealpost_staff=[^;]+)/.exec(signIn.headers.get('set-cookie') ?? '')![1]!;
    await suite.db.query(
      "UPDATE staff_sessions SET authenticated_at = authenticated_at - interval '11 minutes' WHERE org_id = $1",
      [org.org_id],
    );
    const stale = await server.request('PUT', '/v1/sso', {
      body: { enabled: true },
      headers: { cookie, 'x-csrf-token': signIn.body.csrf_token, origin: PUBLIC },
    });
    assert.equal(stale.status, 403);
    assert.equal(stale.body.code, 'reauthentication_required');
  });

  test('settings and domains are for owners: an administrator is refused, and cannot hand the permission out', async () => {
    await configure();
    await newUser(`chief@${DOMAIN}`, 'administrator');
    const admin = await personSession(`chief@${DOMAIN}`, PASSWORD);
    for (const [method, path, body] of [
      ['PUT', '/v1/sso', { issuer: 'http://127.0.0.1:9', client_id: 'mine', client_secret: 'mine' }],
      ['PUT', '/v1/sso', { trust_provider_mfa: true }],
      ['POST', '/v1/sso/domains', { domain: 'mine.example' }],
      ['POST', `/v1/sso/domains/${DOMAIN}/verify`, undefined],
      ['DELETE', `/v1/sso/domains/${DOMAIN}`, undefined],
    ] as const) {
      const res = await server.request(method, path, { headers: admin, body });
      assert.equal(res.status, 403, `${method} ${path}: ${res.text}`);
      assert.equal(res.body.code, 'forbidden');
      assert.match(res.body.detail, /sso:manage/);
    }
    // They still see the settings.
    assert.equal((await server.request('GET', '/v1/sso', { headers: admin })).status, 200);
    assert.equal((await server.request('GET', '/v1/sso/domains', { headers: admin })).status, 200);
    // Neither a key nor a role gives them what they do not hold.
    const key = await server.request('POST', '/v1/api-keys', {
      headers: admin,
      body: { name: 'sso', scopes: ['sso:manage'] },
    });
    assert.equal(key.status, 403, key.text);
    const role = await server.request('POST', '/v1/roles', {
      headers: admin,
      body: { name: 'SSO admins', permissions: ['sso:manage'] },
    });
    assert.equal(role.status, 403, role.text);
    const after = (await api('GET', '/v1/sso')).body;
    assert.deepEqual([after.issuer, after.trust_provider_mfa], [provider.issuer, false], 'nothing changed');
    // The owner, signed in a moment ago, may.
    const owner = await personSession(org.admin_email, org.admin_password);
    const set = await server.request('PUT', '/v1/sso', { headers: owner, body: { role_claim: 'groups' } });
    assert.equal(set.status, 200, set.text);
  });

  test("the takeover: a provider asserting the owner's address, with amr mfa, never opens an owner session", async () => {
    await configure({ trust_provider_mfa: true });
    try {
      // An owner without a factor of their own does not sign in through the provider at all.
      const bare = await signInWithSso('owner-at-idp');
      assert.equal(bare.status, 403, bare.text);
      assert.equal(bare.body.reason, 'owner_factor_required');
      assert.equal(bare.jar.get(PUBLIC, 'sealpost_staff'), undefined, 'no session');

      // An owner with TOTP, under a policy asking everyone for MFA: the provider's "mfa", though
      // trusted for others, does not stand for the owner's code.
      await enrolTotp(org.admin_email, org.admin_password);
      const policy = await api('PATCH', '/v1/policies/auth', { mfa_required: 'all' });
      assert.equal(policy.status, 200, policy.text);
      const res = await signInWithSso('owner-at-idp');
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.status, 'second_factor');
      assert.deepEqual(res.body.methods, ['totp', 'recovery_code']);
      const users = await server.request('GET', '/v1/users', { headers: session(res.jar) });
      assert.equal(users.status, 403, users.text);
      assert.equal(users.body.code, 'second_factor_required');
      const last = (await events('auth.sso_sign_in')).at(-1)!;
      assert.deepEqual([last.details.mfa, last.details.provider_mfa_trusted], [true, false]);
      const refused = (await events('auth.sso_refused')).filter(
        (e) => e.details.reason === 'owner_factor_required',
      );
      assert.equal(refused.length, 1);
    } finally {
      await api('PATCH', '/v1/policies/auth', { mfa_required: 'off' });
      const { rows } = await suite.db.query<{ user_id: string }>(
        'SELECT user_id FROM users WHERE org_id = $1 AND email = $2',
        [org.org_id, org.admin_email],
      );
      for (const table of ['staff_totp', 'staff_recovery_codes'])
        await suite.db.query(`DELETE FROM ${table} WHERE org_id = $1 AND user_id = $2`, [
          org.org_id,
          rows[0]!.user_id,
        ]);
      await configure();
    }
  });

  test("a user's own factor is asked for after the provider, unless an owner trusts the provider's MFA (recorded; reset with the provider)", async () => {
    await configure({ default_role: 'sender' });
    await newUser(`factor-user@${DOMAIN}`, 'sender');
    await enrolTotp(`factor-user@${DOMAIN}`, PASSWORD);
    // The provider says "mfa"; nobody trusted it: the user's own code, as after a password.
    const asked = await signInWithSso('factor-user');
    assert.equal(asked.status, 200, asked.text);
    assert.equal(asked.body.status, 'second_factor');
    // The owner's decision, on the record.
    const trusted = await api('PUT', '/v1/sso', { trust_provider_mfa: true });
    assert.equal(trusted.status, 200, trusted.text);
    assert.equal(trusted.body.trust_provider_mfa, true);
    const configured = (await events('sso.configured')).at(-1)!;
    assert.equal(configured.details.trust_provider_mfa, true);
    assert.equal(configured.details.changed, 'trust_provider_mfa');
    const through = await signInWithSso('factor-user');
    assert.equal(through.body.status, 'active', through.text);
    const me = await server.request('GET', '/v1/auth/session', { headers: session(through.jar) });
    assert.deepEqual(me.body.methods, ['sso', 'sso_mfa']);
    assert.equal((await events('auth.sso_sign_in')).at(-1)!.details.provider_mfa_trusted, true);
    // Another client at the provider is trusted by nobody yet.
    const moved = await api('PUT', '/v1/sso', { client_id: 'another-client' });
    assert.equal(moved.body.trust_provider_mfa, false);
    await configure();
  });

  test('domains: proven by a TXT record or a sending domain, by one organisation at most; only proven ones find or sign in', async () => {
    await configure();
    const other = await server.createOrg('Other Clinic');
    const otherApi = (method: string, path: string, body?: unknown) =>
      server.request(method, path, { token: other.api_key, body });
    const configured = await otherApi('PUT', '/v1/sso', {
      issuer: provider.issuer,
      client_id: provider.clientId,
      client_secret: provider.clientSecret,
    });
    assert.equal(configured.status, 200, configured.text);
    const startedBy = async (query: string) => {
      const res = await fetch(`${PUBLIC}/v1/auth/sso/start?${query}`, { redirect: 'manual' });
      await res.arrayBuffer();
      if (res.status !== 303) return res.status;
      // The only sign-in on its way: taken back, as nobody goes on to the provider.
      const { rows } = await suite.db.query<{ org_id: string }>(
        'DELETE FROM sso_transactions RETURNING org_id',
      );
      assert.equal(rows.length, 1);
      return rows[0]!.org_id;
    };

    // The clinic's proven domain cannot be claimed by another organisation.
    const taken = await otherApi('POST', '/v1/sso/domains', { domain: DOMAIN });
    assert.equal(taken.status, 409, taken.text);
    assert.equal(taken.body.code, 'sso_domain_taken');
    assert.equal(await startedBy(`email=rivera%40${DOMAIN}`), org.org_id);

    // A domain nobody proved may be claimed: it finds nobody and signs in nobody until proven.
    const PARTNER = 'partner-clinic.example';
    const claim = await otherApi('POST', '/v1/sso/domains', { domain: 'Partner-Clinic.example' });
    assert.equal(claim.status, 201, claim.text);
    assert.equal(claim.body.status, 'pending');
    assert.deepEqual([claim.body.record.type, claim.body.record.name], ['TXT', `_sealpost-sso.${PARTNER}`]);
    assert.match(claim.body.record.value, /^sealpost-sso=[0-9a-f]{32}$/);
    const again = await otherApi('POST', '/v1/sso/domains', { domain: PARTNER });
    assert.equal(again.status, 200);
    assert.equal(again.body.record.value, claim.body.record.value, 'the same claim');
    assert.equal(await startedBy(`email=someone%40${PARTNER}`), 404, 'an unproven domain finds nobody');

    const verify = (call: typeof otherApi) => call('POST', `/v1/sso/domains/${PARTNER}/verify`);
    const none = await verify(otherApi);
    assert.equal(none.status, 200, none.text);
    assert.equal(none.body.status, 'pending');
    assert.match(none.body.detail, /no sealpost-sso record/);
    dns.setTxt(claim.body.record.name, ['sealpost-sso=00000000000000000000000000000000']);
    const wrong = await verify(otherApi);
    assert.equal(wrong.body.status, 'pending');
    assert.match(wrong.body.detail, /another token/);
    assert.deepEqual(wrong.body.found, ['sealpost-sso=00000000000000000000000000000000']);

    // Both organisations' records published (one DNS administrator for both): the first to
    // verify holds the domain, the other is refused by the database, whatever the DNS says.
    const mine = await api('POST', '/v1/sso/domains', { domain: PARTNER });
    assert.equal(mine.status, 201, mine.text);
    dns.setTxt(claim.body.record.name, [claim.body.record.value, mine.body.record.value, 'v=other']);
    const proven = await verify(otherApi);
    assert.equal(proven.body.status, 'verified', proven.text);
    assert.equal(proven.body.proof, 'dns_txt');
    const second = await verify(api);
    assert.equal(second.status, 409, second.text);
    assert.equal(second.body.code, 'sso_domain_taken');
    assert.equal(await startedBy(`email=someone%40${PARTNER}`), other.org_id);
    // The clinic's provider does not sign an address of the other organisation's domain in here.
    const partner = await signInWithSso('partner');
    assert.equal(partner.status, 403, partner.text);
    assert.equal(partner.body.reason, 'domain_not_allowed');
    assert.equal(await userRole('partner@partner-clinic.example'), undefined);

    // Given up, it finds nobody; then the clinic proves it with its verified sending domain.
    assert.equal((await otherApi('DELETE', `/v1/sso/domains/${PARTNER}`)).status, 204);
    assert.equal(await startedBy(`email=someone%40${PARTNER}`), 404);
    dns.remove(claim.body.record.name);
    assert.equal((await api('POST', '/v1/domains', { domain: PARTNER })).status, 201);
    // Made verified directly: the sending domain's own DNS checks are test/domains' subject.
    await suite.db.query("UPDATE sending_domains SET status = 'verified' WHERE org_id = $1 AND domain = $2", [
      org.org_id,
      PARTNER,
    ]);
    const bySending = await verify(api);
    assert.equal(bySending.body.status, 'verified', bySending.text);
    assert.equal(bySending.body.proof, 'sending_domain');
    assert.deepEqual((await api('GET', '/v1/sso')).body.allowed_domains, [DOMAIN, PARTNER].sort());
    const partnerUser = await newUser('partner@partner-clinic.example', 'sender');
    const signedIn = await signInWithSso('partner');
    assert.equal(signedIn.status, 200, signedIn.text);
    const me = await server.request('GET', '/v1/auth/session', { headers: session(signedIn.jar) });
    assert.equal(me.body.user.id, partnerUser.id);

    const verified = (await events('sso.domain_verified')).map((e) => [e.object_id, e.details.proof]);
    assert.deepEqual(verified.at(-1), [PARTNER, 'sending_domain']);
    assert.equal(
      (await events('sso.domain_verification_failed')).length,
      0,
      "the other organisation's failures are on its own trail",
    );
    assert.equal((await api('DELETE', `/v1/sso/domains/${PARTNER}`)).status, 204);
  });

  test('an existing user signs in through the provider: a working session, the role its claims map to', async () => {
    await configure();
    const user = await newUser(`rivera@${DOMAIN}`, 'sender');
    const { jar, status, body, text } = await signInWithSso('rivera');
    assert.equal(status, 200, text);
    assert.equal(body.status, 'active');
    const me = await server.request('GET', '/v1/auth/session', { headers: session(jar) });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body.user.id, user.id);
    assert.equal(
      me.body.user.role,
      'administrator',
      'the groups claim mapped sealpost-admins to administrator',
    );
    assert.deepEqual(me.body.methods, ['sso']);
    // The session works on the API like a password's: an administrator lists users.
    const users = await server.request('GET', '/v1/users', { headers: session(jar) });
    assert.equal(users.status, 200, users.text);
    // And state changes need the CSRF token the answer gave.
    const keys = await server.request('POST', '/v1/auth/sign-out', {
      headers: { ...session(jar), 'x-csrf-token': body.csrf_token, origin: PUBLIC },
    });
    assert.equal(keys.status, 204, keys.text);

    const signIns = await events('auth.sso_sign_in');
    assert.equal(signIns.at(-1)!.outcome, 'success');
    assert.equal(signIns.at(-1)!.details.provisioned, false);
    const changed = await events('user.role_changed');
    assert.deepEqual(
      { from: changed.at(-1)!.details.from, to: changed.at(-1)!.details.to, id: changed.at(-1)!.object_id },
      { from: 'sender', to: 'administrator', id: user.id },
    );
    const { rows } = await suite.db.query('SELECT last_success_at FROM sso_configs WHERE org_id = $1', [
      org.org_id,
    ]);
    assert.ok(rows[0]!.last_success_at);
  });

  test('just-in-time provisioning: only when allowed, with the mapped role or the default one', async () => {
    await configure({ default_role: null });
    const refused = await signInWithSso('okafor');
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, 'sso_refused');
    assert.equal(refused.body.reason, 'not_provisioned');
    assert.equal(await userRole(`okafor@${DOMAIN}`), undefined);
    // A mapped group is enough to be made, even without a default role.
    const mapped = await signInWithSso('lindqvist');
    assert.equal(mapped.status, 200, mapped.text);
    assert.equal(await userRole(`lindqvist@${DOMAIN}`), 'compliance_officer');

    await configure({ default_role: 'sender' });
    const made = await signInWithSso('okafor');
    assert.equal(made.status, 200, made.text);
    assert.equal(await userRole(`okafor@${DOMAIN}`), 'sender');
    const me = await server.request('GET', '/v1/auth/session', { headers: session(made.jar) });
    assert.equal(me.body.user.role, 'sender');
    const provisioned = await events('user.provisioned');
    assert.deepEqual(
      provisioned.map((e) => e.details.role),
      ['compliance_officer', 'sender'],
    );
    assert.equal(provisioned[0]!.details.by, 'claim_mapping');
    assert.equal(provisioned[1]!.details.by, 'default_role');
    const refusals = await events('auth.sso_refused');
    assert.ok(refusals.some((e) => e.details.reason === 'not_provisioned'));
  });

  test('refused: address not verified, domain not proven (even for an existing account), no address; nothing is made', async () => {
    await configure({ default_role: 'sender' });
    // An account at a domain the organisation has not proven: the provider cannot sign into it.
    await newUser('outsider@elsewhere.example', 'administrator');
    for (const [sub, reason] of [
      ['unverified', 'email_not_verified'],
      ['outsider', 'domain_not_allowed'],
      ['noemail', 'email_missing'],
    ] as const) {
      const before = (await events('auth.sso_refused')).length;
      const res = await signInWithSso(sub);
      assert.equal(res.status, 403, `${sub}: ${res.text}`);
      assert.equal(res.body.code, 'sso_refused');
      assert.equal(res.body.reason, reason);
      assert.equal(res.jar.get(PUBLIC, 'sealpost_staff'), undefined, 'no session cookie');
      const refusals = await events('auth.sso_refused');
      assert.equal(refusals.length, before + 1);
      assert.equal(refusals.at(-1)!.details.reason, reason);
    }
    const { rows } = await suite.db.query(
      "SELECT 1 FROM users WHERE org_id = $1 AND (email LIKE 'unverified@%' OR email LIKE 'outsider@%')",
      [org.org_id],
    );
    assert.equal(rows.length, 1, 'only the account made beforehand');
  });

  test('refused: state or nonce tampered, a wrong PKCE verifier, a replayed callback, another browser', async () => {
    await configure({ default_role: 'sender' });
    const reasons = async () =>
      (await events('auth.sso_refused')).map((e) => `${e.details.reason}:${e.details.check ?? ''}`);
    // Without the browser's cookie the organisation is unknown: those go on the system's chain
    // (tallied, as every refusal: the count is what adds up).
    const unknownAttempts = async () => {
      await server.app.flushAudit({ openWindows: true });
      return (
        await suite.db.query<{ n: number }>(
          `SELECT coalesce(sum((details->>'count')::int), 0)::int AS n FROM audit_events
           WHERE org_id = $1 AND action = 'auth.sso_refused' AND details->>'reason' = 'no_transaction'`,
          [SYSTEM_ORG_ID],
        )
      ).rows[0]!.n;
    };

    // State changed in the URL.
    const a = await toCallback('okafor');
    const forged = new URL(a.callback!);
    forged.searchParams.set('state', oidc.randomState());
    const stateRes = await arrive(a.jar, forged.toString());
    assert.equal(stateRes.status, 403, stateRes.text);
    assert.equal(stateRes.body.code, 'sso_refused');
    assert.match((await reasons()).at(-1)!, /^validation_failed:/);
    // The genuine URL does not work afterwards either: the attempt was used up (and the cookie
    // cleared; sent again by hand, it opens nothing).
    assert.equal(a.jar.get(PUBLIC, 'sealpost_sso'), undefined);
    let unknown = await unknownAttempts();
    const after = await arrive(a.jar, a.callback!);
    assert.equal(after.status, 403);
    assert.equal(after.body.reason, 'no_transaction');
    assert.equal(await unknownAttempts(), ++unknown);

    // The nonce Sealpost expects differs from the ID token's.
    const b = await toCallback('okafor');
    await suite.db.query('UPDATE sso_transactions SET nonce = $2 WHERE org_id = $1', [
      org.org_id,
      oidc.randomNonce(),
    ]);
    const nonceRes = await arrive(b.jar, b.callback!);
    assert.equal(nonceRes.status, 403, nonceRes.text);
    assert.match((await reasons()).at(-1)!, /^validation_failed:/);

    // Another PKCE verifier than the one whose challenge the provider holds: the provider refuses
    // the code.
    const c = await toCallback('okafor');
    const { rows } = await suite.db.query<{ state: string }>(
      'SELECT state FROM sso_transactions WHERE org_id = $1',
      [org.org_id],
    );
    const wrong = await server.app.keyring.seal(
      org.org_id,
      { table: 'sso_transactions', row: rows[0]!.state },
      oidc.randomPKCECodeVerifier(),
    );
    await suite.db.query('UPDATE sso_transactions SET code_verifier = $2 WHERE org_id = $1', [
      org.org_id,
      wrong,
    ]);
    const pkceRes = await arrive(c.jar, c.callback!);
    assert.equal(pkceRes.status, 403, pkceRes.text);
    assert.equal((await reasons()).at(-1), 'provider_error:invalid_grant');

    // An error the provider says is recorded by its name; one the browser made up, as "other": a
    // tallied refusal's details come from a small set, not from whoever writes the callback's URL.
    for (const [error, check] of [
      ['access_denied', 'access_denied'],
      ['made_up_by_the_browser', 'other'],
    ] as const) {
      const f = await toCallback('okafor');
      const said = new URL(f.callback!);
      said.searchParams.delete('code');
      said.searchParams.set('error', error);
      const res = await arrive(f.jar, said.toString());
      assert.equal(res.status, 403, res.text);
      assert.equal((await reasons()).at(-1), `provider_error:${check}`);
    }

    // A callback that worked, replayed: the sign-in was used once.
    const d = await toCallback('okafor');
    assert.equal((await arrive(d.jar, d.callback!)).status, 200);
    const replay = await arrive(d.jar, d.callback!);
    assert.equal(replay.status, 403);
    assert.equal(replay.body.reason, 'no_transaction');
    assert.equal(await unknownAttempts(), ++unknown);

    // A callback URL opened in another browser (say, sent to a victim): nothing to open there.
    const e = await toCallback('okafor');
    const elsewhere = await arrive(new Jar(), e.callback!);
    assert.equal(elsewhere.status, 403);
    assert.equal(elsewhere.body.reason, 'no_transaction');
    assert.equal(await unknownAttempts(), unknown + 1);
    const stillThere = await suite.db.query('SELECT 1 FROM sso_transactions WHERE org_id = $1', [org.org_id]);
    assert.equal(stillThere.rows.length, 1, "the real browser's attempt is untouched");
    const refusals = await events('auth.sso_refused');
    assert.ok(!JSON.stringify(refusals).includes(new URL(e.callback!).searchParams.get('code')!));
  });

  test('unknown organisation, by id, slug or address: 404, recorded as one tallied event per source', async () => {
    await configure();
    const unknownOrganization = async () => {
      await server.app.flushAudit({ openWindows: true });
      return (
        await suite.db.query<{ seq: string; object_id: string; details: Record<string, unknown> }>(
          `SELECT seq, object_id, details FROM audit_events
           WHERE org_id = $1 AND action = 'auth.sso_refused' AND details->>'reason' = 'unknown_organization'
           ORDER BY seq`,
          [SYSTEM_ORG_ID],
        )
      ).rows;
    };
    const before = (await unknownOrganization()).length;
    for (const query of [
      'org=no-such-clinic',
      'org=5a1db0c5-0000-4000-8000-000000000000',
      'email=someone%40unknown-clinic.example',
    ]) {
      const res = await server.request('GET', `/v1/auth/sso/start?${query}`);
      assert.equal(res.status, 404, `${query}: ${res.text}`);
      assert.equal(res.body.code, 'sso_refused');
    }
    const recorded = (await unknownOrganization()).slice(before);
    assert.equal(recorded.length, 1, 'one event for the three');
    assert.equal(recorded[0]!.details.count, 3);
    assert.equal(recorded[0]!.object_id, SYSTEM_ORG_ID);
    assert.doesNotMatch(
      JSON.stringify(recorded),
      /no-such-clinic|unknown-clinic|5a1db0c5/,
      'nor what was asked for',
    );
    // Found by the address's domain, and by the organisation's id.
    for (const query of [`email=rivera%40${DOMAIN}`, `org=${org.org_id}`]) {
      const res = await fetch(`${PUBLIC}/v1/auth/sso/start?${query}`, { redirect: 'manual' });
      assert.equal(res.status, 303);
      assert.ok(res.headers.get('location')!.startsWith(`${provider.issuer}/`), res.headers.get('location')!);
      const location = new URL(res.headers.get('location')!);
      assert.equal(location.searchParams.get('code_challenge_method'), 'S256');
      assert.ok(location.searchParams.get('state') && location.searchParams.get('nonce'));
      assert.match(
        res.headers.get('set-cookie')!,
        /sealpost_sso=[^;]+; Path=\/v1\/auth\/sso; HttpOnly; SameSite=Lax/,
      );
    }
  });

  test('MFA from the amr claim: "mfa" satisfies a policy that asks for a second factor, once trusted', async () => {
    await configure({ default_role: 'sender' });
    const policy = await api('PATCH', '/v1/policies/auth', { mfa_required: 'all' });
    assert.equal(policy.status, 200, policy.text);
    try {
      const untrusted = await signInWithSso('mfa-user');
      assert.equal(untrusted.status, 200, untrusted.text);
      assert.equal(untrusted.body.status, 'enrol', "the provider's word alone: enrol a factor here");
      await configure({ default_role: 'sender', trust_provider_mfa: true });
      const strong = await signInWithSso('mfa-user');
      assert.equal(strong.status, 200, strong.text);
      assert.equal(strong.body.status, 'active');
      const weak = await signInWithSso('pwd-user');
      assert.equal(weak.status, 200, weak.text);
      assert.equal(weak.body.status, 'enrol', 'no second factor from the provider: enrol one here');
      const me = await server.request('GET', '/v1/users', { headers: session(weak.jar) });
      assert.equal(me.status, 403);
      const last = (await events('auth.sso_sign_in')).at(-1)!;
      assert.equal(last.details.mfa, false);
      assert.equal(last.details.next, 'enrol');
    } finally {
      await api('PATCH', '/v1/policies/auth', { mfa_required: 'off' });
      await configure();
    }
  });

  test('SSO-only: passwords refused with a clear message, but for owners (recorded)', async () => {
    await configure({ default_role: 'sender' });
    assert.equal((await signInWithSso('okafor')).status, 200);
    await newUser(`hale@${DOMAIN}`, 'sender');
    const only = await api('PUT', '/v1/sso', { password_sign_in: false });
    assert.equal(only.status, 200, only.text);
    try {
      const refused = await server.request('POST', '/v1/auth/sign-in', {
        body: { email: `hale@${DOMAIN}`, password: PASSWORD },
      });
      assert.equal(refused.status, 403, refused.text);
      assert.equal(refused.body.code, 'sso_required');
      assert.match(refused.body.detail, /single sign-on/);
      assert.equal(refused.headers.get('set-cookie'), null);
      // The console's sign-in form says the same on the page.
      const form = await fetch(`${PUBLIC}/console/sign-in`);
      const pre = /sealpost_console_pre=([^;]+)/.exec(form.headers.get('set-cookie') ?? '')![1]!;
      const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
      const posted = await fetch(`${PUBLIC}/console/sign-in`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: `sealpost_console_pre=${pre}`,
          origin: PUBLIC,
        },
        body: new URLSearchParams({ csrf, email: `hale@${DOMAIN}`, password: PASSWORD }).toString(),
      });
      assert.equal(posted.status, 403);
      assert.match(posted.headers.get('content-type')!, /text\/html/);
      assert.match(await posted.text(), /role="alert">Your organisation signs in with single sign-on only/);
      // A wrong password still gets the usual answer: SSO-only says nothing of who has an account.
      const wrong = await server.request('POST', '/v1/auth/sign-in', {
        body: { email: `hale@${DOMAIN}`, password: 'not the password at all' },
      });
      assert.equal(wrong.status, 401);
      const owner = await server.request('POST', '/v1/auth/sign-in', {
        body: { email: org.admin_email, password: org.admin_password },
      });
      assert.equal(owner.status, 200, owner.text);
      assert.equal((await events('auth.sso_bypassed')).length, 1);
      const failed = (await events('auth.sign_in_failed')).filter((e) => e.details.reason === 'sso_only');
      assert.equal(
        failed.reduce((n, e) => n + Number(e.details.count), 0),
        2,
      );
      // Changing the provider turns passwords back on until SSO is proven again.
      const moved = await api('PUT', '/v1/sso', { client_id: 'another-client' });
      assert.equal(moved.body.password_sign_in, true);
      assert.equal(moved.body.last_success_at, null);
    } finally {
      await configure();
    }
  });

  test('SSO-only: an invitation is accepted by the first SSO sign-in, with its role; its password form is gone', async () => {
    await configure({ default_role: null });
    assert.equal((await signInWithSso('rivera')).status, 200);
    const only = await api('PUT', '/v1/sso', { password_sign_in: false });
    assert.equal(only.status, 200, only.text);
    try {
      const token = 'T'.repeat(43);
      const { invitation } = await suite.db.transaction((tx) =>
        createInvitation(tx, {
          orgId: org.org_id,
          id: crypto.randomUUID(),
          token,
          email: `newhire@${DOMAIN}`,
          role: 'compliance_officer',
          invitedBy: { type: 'user', id: 'test', label: 'test' },
          now: new Date(),
        }),
      );
      // The link's page offers single sign-on, as the invited address, and no password.
      const page = await (await fetch(`${PUBLIC}/console/invite/${token}`)).text();
      assert.match(page, /action="\/console\/sso"/);
      assert.match(page, new RegExp(`name="org" value="${org.org_id}"`));
      assert.doesNotMatch(page, /type="password"/);
      const accept = await server.request('POST', '/v1/invitations/accept', {
        body: { token, password: 'a long enough passphrase here' },
      });
      assert.equal(accept.status, 409, accept.text);
      assert.equal(accept.body.code, 'sso_required');
      assert.equal(await userRole(`newhire@${DOMAIN}`), undefined);

      // Without JIT provisioning, the invitation alone admits them, with its role.
      const signedIn = await signInWithSso('newhire');
      assert.equal(signedIn.status, 200, signedIn.text);
      assert.equal(await userRole(`newhire@${DOMAIN}`), 'compliance_officer');
      const [listed] = (await listInvitations(suite.db, org.org_id, new Date())).filter(
        (i) => i.id === invitation.id,
      );
      assert.equal(listed?.status, 'accepted');
      const accepted = (await events('invitation.accepted')).filter((e) => e.object_id === invitation.id);
      assert.deepEqual(
        accepted.map((e) => e.details.via),
        ['sso'],
      );
      const provisioned = (await events('user.provisioned')).at(-1);
      assert.equal(provisioned?.details.by, 'invitation');
      // The link is used up.
      assert.equal((await fetch(`${PUBLIC}/console/invite/${token}`)).status, 404);
    } finally {
      await configure({ password_sign_in: true });
    }
  });

  test("the provider's host is guarded: private and link-local names refused when saved; DNS that moves since is refused at sign-in, with no connection", async () => {
    await configure();
    const port = new URL(provider.issuer).port;
    dns.setA('metadata.sso-clinic.example', ['169.254.169.254']);
    dns.setA('intranet.sso-clinic.example', ['10.20.30.40']);
    // One address inside the network refuses the whole name, loopback (allowed here) beside it.
    dns.setA('mixed.sso-clinic.example', ['127.0.0.1', '10.20.30.40']);
    for (const [issuer, address] of [
      ['https://metadata.sso-clinic.example', '169.254.169.254'],
      ['https://intranet.sso-clinic.example/realms/clinic', '10.20.30.40'],
      [`https://mixed.sso-clinic.example:${port}`, '10.20.30.40'],
      ['https://169.254.169.254/latest', '169.254.169.254'],
      ['https://[::ffff:10.20.30.40]', '::ffff:a14:1e28'],
    ] as const) {
      const res = await api('PUT', '/v1/sso', { issuer });
      assert.equal(res.status, 422, `${issuer}: ${res.text}`);
      assert.equal(res.body.code, 'sso_issuer_forbidden', issuer);
      assert.ok(res.body.detail.includes(address), res.body.detail);
      assert.match(res.body.detail, /a private address that may not be reached/);
    }
    assert.equal((await api('GET', '/v1/sso')).body.issuer, provider.issuer, 'none was saved');

    // Saved while its name pointed at loopback; by sign-in time DNS adds an address inside the
    // network: refused before any connection (the provider listens on that loopback port).
    const name = 'idp.sso-clinic.example';
    dns.setA(name, ['127.0.0.1']);
    try {
      const saved = await api('PUT', '/v1/sso', { issuer: `https://${name}:${port}` });
      assert.equal(saved.status, 200, saved.text);
      dns.setA(name, ['127.0.0.1', '169.254.169.254']);
      const seen = provider.connections();
      const res = await server.request('GET', '/v1/auth/sso/start?org=sso-clinic');
      assert.equal(res.status, 502, res.text);
      assert.equal(res.body.reason, 'provider_unreachable');
      assert.equal(provider.connections(), seen, 'no connection to the provider');
      const last = (await events('auth.sso_refused')).at(-1)!;
      assert.deepEqual(
        { reason: last.details.reason, check: last.details.check },
        { reason: 'provider_unreachable', check: 'address_refused' },
      );
    } finally {
      await configure();
    }
  });

  test('every request to the provider is guarded, not discovery alone: a token endpoint inside the network is refused at the callback', async () => {
    // An issuer on loopback (allowed) whose metadata sends the token exchange and the keys inside
    // the network.
    const issuerServer = createHttpServer((req, res) => {
      const issuer = `http://${req.headers.host}`;
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: 'http://10.255.255.1/token',
          jwks_uri: 'http://169.254.169.254/jwks',
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
        }),
      );
    });
    await new Promise<void>((resolve) => issuerServer.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(issuerServer.address() as AddressInfo).port}`;
    try {
      await configure({ issuer });
      const jar = new Jar();
      const start = `${PUBLIC}/v1/auth/sso/start?org=sso-clinic`;
      const started = await fetch(start, { redirect: 'manual' });
      jar.store(start, started);
      assert.equal(started.status, 303);
      const location = new URL(started.headers.get('location')!);
      assert.equal(`${location.origin}${location.pathname}`, `${issuer}/authorize`);
      const back = await arrive(jar, `${CALLBACK}?code=a-code&state=${location.searchParams.get('state')}`);
      assert.equal(back.status, 502, back.text);
      assert.equal(back.body.reason, 'provider_unreachable');
      const last = (await events('auth.sso_refused')).at(-1)!;
      assert.deepEqual(
        { reason: last.details.reason, check: last.details.check },
        { reason: 'provider_unreachable', check: 'address_refused' },
      );
    } finally {
      await configure();
      issuerServer.close();
    }
  });

  test('with no private range allowed, a provider on loopback is refused when saved, and one saved before fails closed: the provider sees no connection', async () => {
    await configure(); // saved where loopback is allowed
    const strict = await startTestServer(suite.testDb, {
      SEALPOST_MASTER_KEY: server.config.masterKey!,
      SEALPOST_DNS_SERVERS: dns.server,
    });
    try {
      for (const issuer of [
        provider.issuer,
        'http://127.0.0.2:8080',
        'https://[::1]:8443',
        'https://[::ffff:127.0.0.1]',
      ]) {
        const put = await strict.request('PUT', '/v1/sso', { token: org.api_key, body: { issuer } });
        assert.equal(put.status, 422, `${issuer}: ${put.text}`);
        assert.equal(put.body.code, 'sso_issuer_forbidden');
      }
      assert.equal((await api('GET', '/v1/sso')).body.issuer, provider.issuer);

      const seen = provider.connections();
      const res = await strict.request('GET', '/v1/auth/sso/start?org=sso-clinic');
      assert.equal(res.status, 502, res.text);
      assert.equal(res.body.code, 'sso_refused');
      assert.equal(res.body.reason, 'provider_unreachable');
      // A sign-in started where the provider is allowed, coming back here: refused before the
      // token exchange.
      const { jar, callback } = await toCallback('okafor');
      const afterBrowser = provider.connections();
      const url = new URL(callback!);
      const back = await strict.request('GET', `${url.pathname}${url.search}`, {
        headers: { cookie: `sealpost_sso=${jar.get(PUBLIC, 'sealpost_sso')}`, accept: 'application/json' },
      });
      assert.equal(back.status, 502, back.text);
      assert.equal(back.body.reason, 'provider_unreachable');
      assert.ok(afterBrowser > seen, 'the browser went to the provider');
      assert.equal(provider.connections(), afterBrowser, 'Sealpost made no connection to the provider');
      // Both refusals were made (and tallied) by the strict server: one event, counting two.
      await strict.app.flushAudit({ openWindows: true });
      const refused = (await events('auth.sso_refused'))
        .filter((e) => e.details.check === 'address_refused')
        .map((e) => ({ reason: e.details.reason, count: e.details.count }));
      assert.deepEqual(refused.at(-1), { reason: 'provider_unreachable', count: 2 });
    } finally {
      await strict.close();
    }
  });

  test('no client secret, code or token reaches the log', async (t) => {
    await configure({ default_role: 'sender' });
    // Timed too: the whole round trip (start, provider, callback with the token exchange).
    const times: number[] = [];
    let callback = '';
    for (let i = 0; i < 9; i++) {
      const started = performance.now();
      const done = await signInWithSso('okafor');
      assert.equal(done.status, 200, done.text);
      times.push(performance.now() - started);
      callback = done.callback;
    }
    times.sort((x, y) => x - y);
    t.diagnostic(`SSO sign-in round trip on ${suite.kind}: median ${times[4]!.toFixed(0)} ms`);
    const code = new URL(callback).searchParams.get('code')!;
    const all = logs.join('');
    assert.ok(all.length > 1000, 'the server logged requests');
    assert.ok(all.includes('/v1/auth/sso/callback'));
    for (const secret of [provider.clientSecret, code, new URL(callback).searchParams.get('state')!])
      assert.ok(!all.includes(secret), 'a secret reached the log');
  });

  // The pages run over the same code on either database: in Chromium once, on PostgreSQL.
  if (suite.kind === 'postgres')
    test("in Chromium: the sign-in page's single sign-on button, through the provider, to the console", async (t) => {
      await configure({ default_role: 'sender' });
      const browser = await launchBrowser().catch((err: Error) => err);
      if (browser instanceof Error) return t.skip(`Chromium: ${browser.message}`);
      try {
        const context = await newContext(browser);
        const page = await context.newPage();
        provider.signInAs('okafor');
        await page.goto(`${PUBLIC}/console/sign-in`);
        assert.deepEqual(await seriousViolations(page), []);
        await screenshot(page, 'sso-sign-in-page');
        await page.getByLabel('Work email (for single sign-on)').fill(`okafor@${DOMAIN}`);
        await page.getByRole('button', { name: 'Continue with single sign-on' }).click();
        await page.waitForURL(`${PUBLIC}/console/account`, { timeout: 20_000 });
        await screenshot(page, 'sso-signed-in');
        assert.match(await page.locator('main').innerText(), new RegExp(`okafor@${DOMAIN}`));
        const cookies = await context.cookies(PUBLIC);
        assert.ok(cookies.some((c) => c.name === 'sealpost_staff' && c.sameSite === 'Strict'));
        // A refusal is a page too, not a JSON blob, with the way back (a new browser profile: the
        // provider would remember the first account).
        await context.close();
        const other = await newContext(browser);
        const page2 = await other.newPage();
        provider.signInAs('outsider');
        await page2.goto(`${PUBLIC}/console/sso?email=outsider%40elsewhere.example&org=sso-clinic`);
        await page2.waitForURL((url) => url.pathname === '/v1/auth/sso/callback', { timeout: 20_000 });
        assert.match(await page2.getByRole('alert').innerText(), /domain is not allowed/);
        assert.deepEqual(await seriousViolations(page2), []);
        await other.close();
      } finally {
        await browser.close();
      }
    });
});
