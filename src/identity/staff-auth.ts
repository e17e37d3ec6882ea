import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type { FastifyRequest } from 'fastify';
import { type AuditInput, SYSTEM_ORG_ID } from '../audit/index.ts';
import type { Keyring } from '../crypto/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { errors, SealpostError } from '../errors/index.ts';
import type { Actor, RequestAuth } from '../access-model/index.ts';
import {
  PASSWORD_MIN_SINGLE_FACTOR,
  PASSWORD_MIN_WITH_SECOND_FACTOR,
  type PasswordProblem,
  passwordProblem,
  shortForSingleFactor,
} from '../passwords/index.ts';
import { RECENT_AUTH_MINUTES, reauthenticationRequired } from '../http/index.ts';
import { roleExists, rolePermissions } from './roles.ts';
import type { AuthCache } from './auth-cache.ts';
import { base32Encode, matchTotp, newTotpSecret, otpauthUri } from './totp.ts';
import { ACCOUNT_WAIT_AFTER, SignInThrottle } from './sign-in-throttle.ts';
import { hashPassword, verifyPassword } from './users.ts';

// Staff sign-in: a password (NIST SP 800-63B rev. 4), then a second factor when the user has one
// or the organisation's policy asks for one (TOTP with recovery codes, or a passkey), then a
// session in an HttpOnly, SameSite=Strict cookie of which only a hash is stored. Failed attempts
// slow further tries from the same source, and past a ceiling from any source but those the person
// signed in from before; nothing locks an account (sign-in-throttle.ts). They are tallied on the
// audit trail, one event per account, source and reason per window, so that repeating them grows
// no chain. No answer tells whether an account exists: unknown addresses take the same path, the
// same time and the same message.

export const SESSION_COOKIE = 'sealpost_staff';
export const SECURE_SESSION_COOKIE = '__Host-sealpost_staff';
export { RECENT_AUTH_MINUTES, reauthenticationRequired } from '../http/authorization.ts';
const CHALLENGE_MS = 5 * 60_000;
const MAX_PASSKEYS = 10;
const RECOVERY_CODES = 10;
const SEEN_WRITE_MS = 30_000;

export type Stage = 'second_factor' | 'enrol' | 'active';
export type Method = 'password' | 'totp' | 'recovery_code' | 'passkey';

export interface StaffAuthDeps {
  db: Db;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  /** For refusals anyone can repeat at will: one event per source and object per window. */
  tallyAudit(record: AuditInput): void;
  keyring?: Keyring;
  publicUrl?: string;
  clock?: () => Date;
  /** Caches custom roles' permissions for authentication (auth-cache.ts). */
  authCache?: AuthCache;
  /** Conditional access: throws (and records why) when this user may not sign in from there. */
  checkSignIn?(user: { org_id: string; user_id: string; role: string }, client: ClientInfo): Promise<void>;
  /** Single sign-on: throws (and records why) when this user's organisation has turned passwords off. */
  checkPasswordSignIn?(
    user: { org_id: string; user_id: string; role: string },
    client: ClientInfo,
  ): Promise<void>;
}

export interface StaffSession {
  orgId: string;
  sessionId: string;
  userId: string;
  role: string;
  stage: Stage;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  authenticatedAt: Date;
  methods: string[];
  /** The cookie's secret: the key of this session's CSRF token. */
  secret: string;
}

export interface AuthPolicy {
  idle_minutes: number;
  absolute_minutes: number;
  mfa_required: 'off' | 'all' | 'roles';
  mfa_roles: string[];
  passkey_required_roles: string[];
}

export const DEFAULT_POLICY: AuthPolicy = {
  idle_minutes: 15,
  absolute_minutes: 720,
  mfa_required: 'off',
  mfa_roles: [],
  passkey_required_roles: [],
};

export interface Factors {
  totp: boolean;
  passkeys: { id: string; name: string; created_at: Date; last_used_at: Date | null }[];
  recovery_codes_left: number;
}

export interface ClientInfo {
  ip: string | null;
  requestId: string | null;
  userAgent?: string | undefined;
  /** The device cookie's id, which makes a place the person signed in from before familiar. */
  deviceId?: string | undefined;
}

export type SignInResult =
  | { ok: true; session: StaffSession; stage: Stage; methods: Method[] }
  | { ok: false; reason: 'invalid' | 'ambiguous' | 'throttled'; retryAfterSeconds?: number };

const sha256 = (value: string | Buffer) => createHash('sha256').update(value).digest();
export const csrfTokenOf = (secret: string) =>
  createHmac('sha256', secret).update('sealpost-staff-csrf').digest('base64url');

export function csrfMatches(secret: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const expected = Buffer.from(csrfTokenOf(secret));
  const actual = Buffer.from(given);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

export const userActor = (userId: string): Actor => ({ type: 'user', id: userId, label: userId });
const anonymous: Actor = { type: 'system', id: 'sign-in', label: 'sign-in' };

/** Reads one cookie from the Cookie header (no plugin needed: the API has none). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

/**
 * For sensitive actions: throws unless the request comes with an API key (a machine credential,
 * which has no interactive re-authentication) or from a session that proved who it is in the last
 * few minutes (sign-in or POST /v1/auth/reauthenticate).
 */
export function recentAuth(request: FastifyRequest, now: Date, minutes = RECENT_AUTH_MINUTES): void {
  const session = request.auth?.session;
  if (!session) {
    if (request.auth?.actor.type === 'api_key') return;
    throw errors.unauthorized();
  }
  if (session.authenticatedAt.getTime() < now.getTime() - minutes * 60_000) throw reauthenticationRequired();
}

export class StaffAuth {
  readonly deps: StaffAuthDeps;
  readonly clock: () => Date;
  readonly secureCookies: boolean;
  readonly cookieName: string;
  readonly throttle: SignInThrottle;
  private dummy: Promise<string> | undefined;

  constructor(deps: StaffAuthDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? (() => new Date());
    this.throttle = new SignInThrottle({ db: deps.db, clock: this.clock });
    this.secureCookies = (deps.publicUrl ?? '').startsWith('https:');
    this.cookieName = this.secureCookies ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
  }

  get origin(): string | null {
    return this.deps.publicUrl ? new URL(this.deps.publicUrl).origin : null;
  }

  sessionCookie(secret: string, maxAgeSeconds?: number): string {
    return [
      `${this.cookieName}=${secret}`,
      'Path=/',
      'HttpOnly',
      'SameSite=Strict',
      ...(this.secureCookies ? ['Secure'] : []),
      ...(maxAgeSeconds !== undefined ? [`Max-Age=${maxAgeSeconds}`] : []),
    ].join('; ');
  }

  clearCookie(): string {
    return this.sessionCookie('', 0);
  }

  // --- Policy ----------------------------------------------------------------------------------

  async policy(q: Queryable, orgId: string): Promise<AuthPolicy> {
    const { rows } = await q.query<AuthPolicy & Record<string, unknown>>(
      `SELECT idle_minutes, absolute_minutes, mfa_required, mfa_roles, passkey_required_roles
       FROM staff_auth_policies WHERE org_id = $1`,
      [orgId],
    );
    return rows[0] ? { ...rows[0] } : { ...DEFAULT_POLICY };
  }

  async setPolicy(q: Queryable, orgId: string, change: Partial<AuthPolicy>): Promise<AuthPolicy> {
    const next = { ...(await this.policy(q, orgId)), ...change };
    for (const role of [...next.mfa_roles, ...next.passkey_required_roles])
      if (!(await roleExists(q, orgId, role))) throw errors.validation(`Unknown role "${role}".`);
    if (next.absolute_minutes < next.idle_minutes)
      throw errors.validation('absolute_minutes cannot be shorter than idle_minutes.');
    await q.query(
      `INSERT INTO staff_auth_policies (org_id, idle_minutes, absolute_minutes, mfa_required, mfa_roles, passkey_required_roles, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (org_id) DO UPDATE SET idle_minutes = $2, absolute_minutes = $3, mfa_required = $4,
         mfa_roles = $5, passkey_required_roles = $6, updated_at = $7`,
      [
        orgId,
        next.idle_minutes,
        next.absolute_minutes,
        next.mfa_required,
        next.mfa_roles,
        next.passkey_required_roles,
        this.clock(),
      ],
    );
    return next;
  }

  /** What the policy asks of this role: nothing, any second factor, or a passkey. */
  static requirement(policy: AuthPolicy, role: string): 'none' | 'any' | 'passkey' {
    if (policy.passkey_required_roles.includes(role)) return 'passkey';
    if (policy.mfa_required === 'all' || (policy.mfa_required === 'roles' && policy.mfa_roles.includes(role)))
      return 'any';
    return 'none';
  }

  // --- Throttling ------------------------------------------------------------------------------

  /** A failed try counted; reaching the account's ceiling is recorded (an alert, not a lock). */
  private async countFailure(
    email: string,
    client: ClientInfo,
    user: { org_id: string; user_id: string } | undefined,
  ): Promise<void> {
    if (!(await this.throttle.failed(email, client))) return;
    await this.audit(this.deps.db, {
      orgId: user?.org_id ?? SYSTEM_ORG_ID,
      actor: user ? userActor(user.user_id) : anonymous,
      action: 'auth.sign_in_slowed',
      objectType: 'user',
      objectId: user?.user_id ?? 'unknown',
      outcome: 'denied',
      ip: client.ip,
      requestId: client.requestId,
      details: { failures: ACCOUNT_WAIT_AFTER },
    });
  }

  /**
   * A refused sign-in, tallied (src/audit/tally.ts): anyone can repeat it, so it is one event per
   * account, source, method and reason per window, with the count. An address with no account is
   * `unknown` in the system chain, never the address.
   */
  signInFailed(
    user: { org_id: string; user_id: string } | undefined,
    client: ClientInfo,
    details: { method: string; reason: string },
    outcome: 'failure' | 'denied' = 'failure',
  ): void {
    this.deps.tallyAudit({
      orgId: user?.org_id ?? SYSTEM_ORG_ID,
      actor: user ? userActor(user.user_id) : anonymous,
      action: 'auth.sign_in_failed',
      objectType: 'user',
      objectId: user?.user_id ?? 'unknown',
      outcome,
      ip: client.ip,
      details,
    });
  }

  /** An administrator's reset: the account's failed tries are forgotten, from every source. */
  unlock(q: Queryable, email: string): Promise<boolean> {
    return this.throttle.forget(q, email);
  }

  // --- Sign-in ---------------------------------------------------------------------------------

  private dummyHash(): Promise<string> {
    return (this.dummy ??= hashPassword(randomBytes(24).toString('base64url')));
  }

  async signIn(
    input: { email: string; password: string; organizationId?: string | undefined },
    client: ClientInfo,
  ): Promise<SignInResult> {
    const email = input.email.trim();
    const { rows } = await this.deps.db.query<{
      org_id: string;
      user_id: string;
      role: string;
      password_hash: string | null;
    }>(
      `SELECT u.org_id, u.user_id, u.role, u.password_hash FROM users u JOIN organizations o ON o.org_id = u.org_id
       WHERE lower(u.email) = lower($1) AND u.status = 'active' AND o.status = 'active'
         AND ($2::uuid IS NULL OR u.org_id = $2::uuid)
       ORDER BY u.created_at LIMIT 4`,
      [email, input.organizationId ?? null],
    );
    const wait = await this.throttle.wait(email, client, rows);
    if (wait > 0) return { ok: false, reason: 'throttled', retryAfterSeconds: wait };
    // Every candidate's hash is checked at once (argon2 runs on the thread pool), and a dummy one
    // when there is none, so the time taken does not say whether the address has an account.
    const hashes = rows.length > 0 ? rows.map((r) => r.password_hash) : [null];
    const dummy = await this.dummyHash();
    const checks = await Promise.all(hashes.map((h) => verifyPassword(h ?? dummy, input.password)));
    const matched = rows.filter((r, i) => r.password_hash && checks[i]);
    // The right password for accounts in several organisations: say which one (only someone who
    // knows the password learns that the accounts exist).
    if (matched.length > 1) return { ok: false, reason: 'ambiguous' };
    if (matched.length !== 1) {
      const user = rows[0];
      this.signInFailed(user, client, { method: 'password', reason: 'invalid' });
      await this.countFailure(email, client, user);
      return { ok: false, reason: 'invalid' };
    }
    const user = matched[0]!;
    await this.deps.checkSignIn?.(user, client);
    await this.deps.checkPasswordSignIn?.(user, client);
    await this.throttle.succeeded(email, client);
    const factors = await this.factors(this.deps.db, user.org_id, user.user_id);
    const policy = await this.policy(this.deps.db, user.org_id);
    const has = factors.totp || factors.passkeys.length > 0;
    const needed = StaffAuth.requirement(policy, user.role);
    const stage: Stage = has ? 'second_factor' : needed !== 'none' ? 'enrol' : 'active';
    const methods: Method[] = [];
    if (stage === 'second_factor') {
      if (factors.passkeys.length > 0) methods.push('passkey');
      if (needed !== 'passkey' || factors.passkeys.length === 0) {
        if (factors.totp) methods.push('totp');
        if (factors.recovery_codes_left > 0) methods.push('recovery_code');
      }
    }
    const session = await this.deps.db.transaction(async (tx) => {
      const started = await this.startSession(tx, user, stage, ['password'], policy, client);
      await this.audit(tx, {
        orgId: user.org_id,
        actor: userActor(user.user_id),
        action: stage === 'active' ? 'auth.signed_in' : 'auth.password_verified',
        objectType: 'session',
        objectId: started.sessionId,
        outcome: 'success',
        ip: client.ip,
        requestId: client.requestId,
        details: { methods: 'password', next: stage },
      });
      if (stage === 'active')
        await tx.query('UPDATE users SET last_login_at = $3 WHERE org_id = $1 AND user_id = $2', [
          user.org_id,
          user.user_id,
          this.clock(),
        ]);
      return started;
    });
    return { ok: true, session, stage, methods };
  }

  /** A new session at this stage (also for single sign-on, src/identity/oidc.ts). */
  async startSession(
    q: Queryable,
    user: { org_id: string; user_id: string; role: string },
    stage: Stage,
    methods: string[],
    policy: AuthPolicy,
    client: ClientInfo,
  ): Promise<StaffSession> {
    const secret = randomBytes(32).toString('base64url');
    const sessionId = randomUUID();
    const now = this.clock();
    // A session waiting for a second factor or an enrolment lives for the idle time at most.
    const absoluteMs = (stage === 'active' ? policy.absolute_minutes : policy.idle_minutes) * 60_000;
    const expiresAt = new Date(now.getTime() + absoluteMs);
    await q.query(
      `INSERT INTO staff_sessions (org_id, session_id, user_id, secret_hash, stage, created_at, last_seen_at,
         expires_at, authenticated_at, methods, user_agent)
       VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $6, $8, $9)`,
      [
        user.org_id,
        sessionId,
        user.user_id,
        sha256(secret),
        stage,
        now,
        expiresAt,
        methods,
        client.userAgent?.slice(0, 300) ?? null,
      ],
    );
    return {
      orgId: user.org_id,
      sessionId,
      userId: user.user_id,
      role: user.role,
      stage,
      createdAt: now,
      lastSeenAt: now,
      expiresAt,
      authenticatedAt: now,
      methods,
      secret,
    };
  }

  /** The live session this cookie secret opens (idle and absolute time-outs checked), or null. */
  async findSession(secret: string | undefined): Promise<StaffSession | null> {
    if (!secret || !/^[A-Za-z0-9_-]{43}$/.test(secret)) return null;
    const now = this.clock();
    const { rows } = await this.deps.db.query<{
      org_id: string;
      session_id: string;
      user_id: string;
      role: string;
      stage: Stage;
      created_at: Date;
      last_seen_at: Date;
      expires_at: Date;
      authenticated_at: Date;
      methods: string[];
      idle_minutes: number | null;
    }>(
      `SELECT s.org_id, s.session_id, s.user_id, u.role, s.stage, s.created_at, s.last_seen_at, s.expires_at,
              s.authenticated_at, s.methods, p.idle_minutes
       FROM staff_sessions s
       JOIN users u ON u.org_id = s.org_id AND u.user_id = s.user_id
       JOIN organizations o ON o.org_id = s.org_id
       LEFT JOIN staff_auth_policies p ON p.org_id = s.org_id
       WHERE s.secret_hash = $1 AND s.ended_at IS NULL AND u.status = 'active' AND o.status = 'active'`,
      [sha256(secret)],
    );
    const row = rows[0];
    if (!row) return null;
    const idleMs = (row.idle_minutes ?? DEFAULT_POLICY.idle_minutes) * 60_000;
    const reason =
      row.expires_at <= now
        ? 'absolute_timeout'
        : row.last_seen_at.getTime() + idleMs <= now.getTime()
          ? 'idle_timeout'
          : null;
    if (reason) {
      await this.deps.db.transaction(async (tx) => {
        const { rowCount } = await tx.query(
          `UPDATE staff_sessions SET ended_at = $3, ended_reason = $4 WHERE org_id = $1 AND session_id = $2 AND ended_at IS NULL`,
          [row.org_id, row.session_id, now, reason],
        );
        if (rowCount > 0)
          await this.audit(tx, {
            orgId: row.org_id,
            actor: userActor(row.user_id),
            action: 'auth.session_expired',
            objectType: 'session',
            objectId: row.session_id,
            outcome: 'success',
            details: { reason },
          });
      });
      return null;
    }
    // The idle clock is restarted at most twice a minute: not a durable write per request.
    if (now.getTime() - row.last_seen_at.getTime() >= SEEN_WRITE_MS)
      await this.deps.db.query(
        'UPDATE staff_sessions SET last_seen_at = $3 WHERE org_id = $1 AND session_id = $2',
        [row.org_id, row.session_id, now],
      );
    return {
      orgId: row.org_id,
      sessionId: row.session_id,
      userId: row.user_id,
      role: row.role,
      stage: row.stage,
      createdAt: row.created_at,
      lastSeenAt: now,
      expiresAt: row.expires_at,
      authenticatedAt: row.authenticated_at,
      methods: row.methods,
      secret,
    };
  }

  /**
   * The session of a request carrying the cookie, at one of the stages allowed. Requests that
   * change state must be same-origin and carry the session's CSRF token in X-CSRF-Token (the
   * pages post it as the form field `csrf`).
   */
  async sessionOf(
    request: FastifyRequest,
    options: { stages?: readonly Stage[]; csrf?: string | undefined } = {},
  ): Promise<StaffSession> {
    const secret = cookieValue(request.headers.cookie, this.cookieName);
    const session = await this.findSession(secret);
    if (!session) throw errors.unauthorized('Sign in first (the session is missing, ended or timed out).');
    const stages = options.stages ?? ['active'];
    if (!stages.includes(session.stage))
      throw new SealpostError(
        session.stage === 'enrol' ? 'enrolment_required' : 'second_factor_required',
        session.stage === 'enrol'
          ? 'Your organisation requires a second factor: enrol one first.'
          : 'Complete the sign-in with your second factor first.',
      );
    if (!['GET', 'HEAD', 'OPTIONS'].includes(request.method)) this.checkCsrf(request, session, options.csrf);
    return session;
  }

  checkCsrf(request: FastifyRequest, session: StaffSession, formToken?: string): void {
    const origin = request.headers.origin;
    const site = request.headers['sec-fetch-site'];
    // Under Referrer-Policy: no-referrer a browser's form posts say "Origin: null"; its
    // Sec-Fetch-Site (which no page can set) then tells whether the post came from this origin.
    const sameOrigin = origin && origin !== 'null' ? origin === this.origin : site === 'same-origin';
    const given = formToken ?? request.headers['x-csrf-token'];
    if (!sameOrigin || !csrfMatches(session.secret, given))
      throw new SealpostError(
        'csrf_failed',
        'A request made with the session cookie must be same-origin and carry X-CSRF-Token.',
      );
  }

  /** The request's credentials as the API's authentication sees them. */
  async authenticateSession(request: FastifyRequest): Promise<RequestAuth | null> {
    if (!cookieValue(request.headers.cookie, this.cookieName)) return null;
    const session = await this.sessionOf(request);
    return {
      orgId: session.orgId,
      actor: userActor(session.userId),
      scopes: await rolePermissions(this.deps, session.orgId, session.role),
      session: {
        id: session.sessionId,
        userId: session.userId,
        authenticatedAt: session.authenticatedAt,
        role: session.role,
      },
    };
  }

  /** Throws unless the request is an API key's or its session proved who it is recently. */
  recentAuth(request: FastifyRequest, minutes = RECENT_AUTH_MINUTES): void {
    recentAuth(request, this.clock(), minutes);
  }

  private async activate(q: Queryable, session: StaffSession, method: Method, client: ClientInfo) {
    const policy = await this.policy(q, session.orgId);
    const now = this.clock();
    const factors = await this.factors(q, session.orgId, session.userId);
    const needed = StaffAuth.requirement(policy, session.role);
    // A passkey demanded by policy and not yet held: enrol one before anything else.
    const stage: Stage = needed === 'passkey' && factors.passkeys.length === 0 ? 'enrol' : 'active';
    await q.query(
      `UPDATE staff_sessions SET stage = $3, methods = array_append(methods, $4), authenticated_at = $5,
         expires_at = CASE WHEN $3 = 'active' THEN created_at + make_interval(mins => $6) ELSE expires_at END
       WHERE org_id = $1 AND session_id = $2`,
      [session.orgId, session.sessionId, stage, method, now, policy.absolute_minutes],
    );
    if (stage === 'active') {
      await q.query('UPDATE users SET last_login_at = $3 WHERE org_id = $1 AND user_id = $2', [
        session.orgId,
        session.userId,
        now,
      ]);
      await this.audit(q, {
        orgId: session.orgId,
        actor: userActor(session.userId),
        action: 'auth.signed_in',
        objectType: 'session',
        objectId: session.sessionId,
        outcome: 'success',
        ip: client.ip,
        requestId: client.requestId,
        details: { methods: [...session.methods, method].join(' ') },
      });
    }
    session.stage = stage;
    return stage;
  }

  private async secondFactorFailed(session: StaffSession, method: Method, client: ClientInfo, email: string) {
    const user = { org_id: session.orgId, user_id: session.userId };
    this.signInFailed(user, client, { method, reason: 'invalid' });
    await this.countFailure(email, client, user);
  }

  async emailOf(q: Queryable, orgId: string, userId: string): Promise<string> {
    const { rows } = await q.query<{ email: string }>(
      'SELECT email FROM users WHERE org_id = $1 AND user_id = $2',
      [orgId, userId],
    );
    if (!rows[0]) throw errors.notFound('The user');
    return rows[0].email;
  }

  /** The second step with a TOTP code or a recovery code. */
  async secondFactor(
    session: StaffSession,
    input: { method: 'totp' | 'recovery_code'; code: string },
    client: ClientInfo,
  ): Promise<
    | { ok: true; stage: Stage }
    | { ok: false; reason: 'invalid' | 'throttled' | 'not_allowed'; retryAfterSeconds?: number }
  > {
    const email = await this.emailOf(this.deps.db, session.orgId, session.userId);
    const wait = await this.throttle.wait(email, client, []);
    if (wait > 0) return { ok: false, reason: 'throttled', retryAfterSeconds: wait };
    const policy = await this.policy(this.deps.db, session.orgId);
    const factors = await this.factors(this.deps.db, session.orgId, session.userId);
    if (StaffAuth.requirement(policy, session.role) === 'passkey' && factors.passkeys.length > 0)
      return { ok: false, reason: 'not_allowed' };
    const ok =
      input.method === 'totp'
        ? await this.useTotp(session.orgId, session.userId, input.code)
        : await this.useRecoveryCode(session.orgId, session.userId, input.code, client);
    if (!ok) {
      await this.secondFactorFailed(session, input.method, client, email);
      return { ok: false, reason: 'invalid' };
    }
    await this.throttle.succeeded(email, client);
    const stage = await this.deps.db.transaction((tx) => this.activate(tx, session, input.method, client));
    return { ok: true, stage };
  }

  // --- Re-authentication and password change ---------------------------------------------------

  async reauthenticate(session: StaffSession, password: string, client: ClientInfo): Promise<boolean> {
    const email = await this.emailOf(this.deps.db, session.orgId, session.userId);
    const blocked =
      (await this.throttle.wait(email, client, [{ org_id: session.orgId, user_id: session.userId }])) > 0;
    const hash = await this.passwordHash(session.orgId, session.userId);
    const ok = !blocked && hash !== null && (await verifyPassword(hash, password));
    if (ok)
      await this.deps.checkPasswordSignIn?.(
        { org_id: session.orgId, user_id: session.userId, role: session.role },
        client,
      );
    if (!ok) {
      if (!blocked) await this.secondFactorFailed(session, 'password', client, email);
      return false;
    }
    await this.throttle.succeeded(email, client);
    await this.deps.db.transaction(async (tx) => {
      await tx.query(
        'UPDATE staff_sessions SET authenticated_at = $3 WHERE org_id = $1 AND session_id = $2',
        [session.orgId, session.sessionId, this.clock()],
      );
      await this.audit(tx, {
        orgId: session.orgId,
        actor: userActor(session.userId),
        action: 'auth.reauthenticated',
        objectType: 'session',
        objectId: session.sessionId,
        outcome: 'success',
        ip: client.ip,
        requestId: client.requestId,
        details: { method: 'password' },
      });
    });
    return true;
  }

  /**
   * Re-authentication with a second factor (a TOTP code or a recovery code), for the most
   * sensitive actions (break-glass activation); throttled and counted like a sign-in.
   */
  async reauthenticateSecondFactor(
    session: StaffSession,
    input: { method: 'totp' | 'recovery_code'; code: string },
    client: ClientInfo,
  ): Promise<boolean> {
    const email = await this.emailOf(this.deps.db, session.orgId, session.userId);
    if ((await this.throttle.wait(email, client, [])) > 0) return false;
    const ok =
      input.method === 'totp'
        ? await this.useTotp(session.orgId, session.userId, input.code)
        : await this.useRecoveryCode(session.orgId, session.userId, input.code, client);
    if (!ok) {
      await this.secondFactorFailed(session, input.method, client, email);
      return false;
    }
    await this.throttle.succeeded(email, client);
    const now = this.clock();
    await this.deps.db.transaction(async (tx) => {
      await tx.query(
        'UPDATE staff_sessions SET authenticated_at = $3 WHERE org_id = $1 AND session_id = $2',
        [session.orgId, session.sessionId, now],
      );
      await this.audit(tx, {
        orgId: session.orgId,
        actor: userActor(session.userId),
        action: 'auth.reauthenticated',
        objectType: 'session',
        objectId: session.sessionId,
        outcome: 'success',
        ip: client.ip,
        requestId: client.requestId,
        details: { method: input.method },
      });
    });
    session.authenticatedAt = now;
    return true;
  }

  private async passwordHash(orgId: string, userId: string): Promise<string | null> {
    const { rows } = await this.deps.db.query<{ password_hash: string | null }>(
      'SELECT password_hash FROM users WHERE org_id = $1 AND user_id = $2',
      [orgId, userId],
    );
    return rows[0]?.password_hash ?? null;
  }

  async changePassword(
    session: StaffSession,
    input: { current: string; next: string },
    client: ClientInfo,
  ): Promise<{ ok: true } | { ok: false; problem: PasswordProblem | 'wrong_password' }> {
    // The new password's rules first: a refused one costs no argon2id check.
    const email = await this.emailOf(this.deps.db, session.orgId, session.userId);
    const factors = await this.factors(this.deps.db, session.orgId, session.userId);
    const min =
      factors.totp || factors.passkeys.length > 0
        ? PASSWORD_MIN_WITH_SECOND_FACTOR
        : PASSWORD_MIN_SINGLE_FACTOR;
    const problem = passwordProblem(input.next, { address: email, min });
    if (problem) return { ok: false, problem };
    if (!(await this.reauthenticate(session, input.current, client)))
      return { ok: false, problem: 'wrong_password' };
    const hash = await hashPassword(input.next);
    await this.deps.db.transaction(async (tx) => {
      await tx.query(
        `UPDATE users SET password_hash = $3, password_short = $4, password_changed_at = $5
         WHERE org_id = $1 AND user_id = $2`,
        [session.orgId, session.userId, hash, shortForSingleFactor(input.next), this.clock()],
      );
      await this.audit(tx, {
        orgId: session.orgId,
        actor: userActor(session.userId),
        action: 'auth.password_changed',
        objectType: 'user',
        objectId: session.userId,
        outcome: 'success',
        ip: client.ip,
        requestId: client.requestId,
      });
      await this.revokeAll(tx, session.orgId, session.userId, 'password_changed', client, session.sessionId);
    });
    return { ok: true };
  }

  // --- Sessions --------------------------------------------------------------------------------

  async listSessions(orgId: string, userId: string) {
    const { rows } = await this.deps.db.query<{
      id: string;
      created_at: Date;
      last_seen_at: Date;
      expires_at: Date;
      stage: string;
      methods: string[];
      user_agent: string | null;
    }>(
      `SELECT session_id AS id, created_at, last_seen_at, expires_at, stage, methods, user_agent
       FROM staff_sessions WHERE org_id = $1 AND user_id = $2 AND ended_at IS NULL AND expires_at > $3
       ORDER BY created_at DESC`,
      [orgId, userId, this.clock()],
    );
    return rows;
  }

  async revokeSession(
    q: Queryable,
    orgId: string,
    userId: string,
    sessionId: string,
    reason: string,
    client: ClientInfo,
  ): Promise<boolean> {
    const { rowCount } = await q.query(
      `UPDATE staff_sessions SET ended_at = $4, ended_reason = $5
       WHERE org_id = $1 AND user_id = $2 AND session_id = $3 AND ended_at IS NULL`,
      [orgId, userId, sessionId, this.clock(), reason],
    );
    if (rowCount > 0)
      await this.audit(q, {
        orgId,
        actor: userActor(userId),
        action: reason === 'signed_out' ? 'auth.signed_out' : 'auth.session_revoked',
        objectType: 'session',
        objectId: sessionId,
        outcome: 'success',
        ip: client.ip,
        requestId: client.requestId,
        details: { reason },
      });
    return rowCount > 0;
  }

  /** Ends every session of the user (but `keep`): password or factors changed, disabled, locked. */
  async revokeAll(
    q: Queryable,
    orgId: string,
    userId: string,
    reason: string,
    client: ClientInfo,
    keep?: string,
  ): Promise<number> {
    const { rowCount } = await q.query(
      `UPDATE staff_sessions SET ended_at = $3, ended_reason = $4
       WHERE org_id = $1 AND user_id = $2 AND ended_at IS NULL AND ($5::uuid IS NULL OR session_id <> $5::uuid)`,
      [orgId, userId, this.clock(), reason, keep ?? null],
    );
    if (rowCount > 0)
      await this.audit(q, {
        orgId,
        actor: userActor(userId),
        action: 'auth.session_revoked',
        objectType: 'user',
        objectId: userId,
        outcome: 'success',
        ip: client.ip,
        requestId: client.requestId,
        details: { reason, sessions: rowCount },
      });
    return rowCount;
  }

  // --- Factors ---------------------------------------------------------------------------------

  async factors(q: Queryable, orgId: string, userId: string): Promise<Factors> {
    // One after another: q may be a transaction, which runs one statement at a time.
    const totp = await q.query(
      'SELECT 1 FROM staff_totp WHERE org_id = $1 AND user_id = $2 AND confirmed_at IS NOT NULL',
      [orgId, userId],
    );
    const passkeys = await q.query<{ id: string; name: string; created_at: Date; last_used_at: Date | null }>(
      `SELECT credential_id AS id, name, created_at, last_used_at FROM staff_passkeys
       WHERE org_id = $1 AND user_id = $2 ORDER BY created_at`,
      [orgId, userId],
    );
    const codes = await q.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM staff_recovery_codes WHERE org_id = $1 AND user_id = $2 AND used_at IS NULL',
      [orgId, userId],
    );
    return { totp: totp.rows.length > 0, passkeys: passkeys.rows, recovery_codes_left: codes.rows[0]!.n };
  }

  private keyring(): Keyring {
    if (!this.deps.keyring) throw new Error('staff sign-in needs the keyring');
    return this.deps.keyring;
  }

  private binding = (userId: string) => ({ table: 'staff_totp', row: userId });

  /** Starts a TOTP enrolment: a new secret, confirmed by the first code. */
  async startTotp(session: StaffSession, issuer: string): Promise<{ secret: string; uri: string }> {
    const existing = await this.deps.db.query(
      'SELECT 1 FROM staff_totp WHERE org_id = $1 AND user_id = $2 AND confirmed_at IS NOT NULL',
      [session.orgId, session.userId],
    );
    if (existing.rows.length > 0)
      throw errors.conflict('totp_exists', 'An authenticator app is already enrolled: remove it first.');
    const secret = newTotpSecret();
    const sealed = await this.keyring().seal(session.orgId, this.binding(session.userId), secret);
    await this.deps.db.query(
      `INSERT INTO staff_totp (org_id, user_id, secret_sealed, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (org_id, user_id) DO UPDATE SET secret_sealed = $3, created_at = $4, confirmed_at = NULL, last_step = 0`,
      [session.orgId, session.userId, sealed, this.clock()],
    );
    const email = await this.emailOf(this.deps.db, session.orgId, session.userId);
    return { secret, uri: otpauthUri({ secret, issuer, account: email }) };
  }

  /** Checks a code against the user's secret (confirmed or, when enrolling, not); used steps refused. */
  private async useTotp(orgId: string, userId: string, code: string, confirming = false): Promise<boolean> {
    const { rows } = await this.deps.db.query<{ secret_sealed: Buffer; last_step: string | number }>(
      `SELECT secret_sealed, last_step FROM staff_totp WHERE org_id = $1 AND user_id = $2
         AND (confirmed_at IS ${confirming ? '' : 'NOT '}NULL)`,
      [orgId, userId],
    );
    const row = rows[0];
    if (!row) return false;
    const secret = await this.keyring().openText(orgId, this.binding(userId), Buffer.from(row.secret_sealed));
    const step = matchTotp(secret, code.replace(/\s/g, ''), this.clock());
    if (step === null || step <= Number(row.last_step)) return false;
    // The step is claimed atomically: the same code raced twice is accepted once.
    const { rowCount } = await this.deps.db.query(
      'UPDATE staff_totp SET last_step = $3 WHERE org_id = $1 AND user_id = $2 AND last_step < $3',
      [orgId, userId, step],
    );
    return rowCount > 0;
  }

  /** Confirms the enrolment with a first code; the first factor also brings recovery codes. */
  async confirmTotp(
    session: StaffSession,
    code: string,
    client: ClientInfo,
  ): Promise<{ ok: true; recoveryCodes: string[] | null; stage: Stage } | { ok: false }> {
    if (!(await this.useTotp(session.orgId, session.userId, code, true))) return { ok: false };
    return this.deps.db.transaction(async (tx) => {
      await tx.query('UPDATE staff_totp SET confirmed_at = $3 WHERE org_id = $1 AND user_id = $2', [
        session.orgId,
        session.userId,
        this.clock(),
      ]);
      const recoveryCodes = await this.ensureRecoveryCodes(tx, session);
      const stage = await this.factorAdded(tx, session, 'totp', client, { factor: 'totp' });
      return { ok: true as const, recoveryCodes, stage };
    });
  }

  /** After a factor is added: audited, other sessions ended, an enrolling session let in. */
  private async factorAdded(
    q: Queryable,
    session: StaffSession,
    method: Method,
    client: ClientInfo,
    details: Record<string, string>,
  ): Promise<Stage> {
    await this.audit(q, {
      orgId: session.orgId,
      actor: userActor(session.userId),
      action: 'auth.mfa_enrolled',
      objectType: 'user',
      objectId: session.userId,
      outcome: 'success',
      ip: client.ip,
      requestId: client.requestId,
      details,
    });
    await this.revokeAll(q, session.orgId, session.userId, 'factors_changed', client, session.sessionId);
    if (session.stage === 'enrol') return this.activate(q, session, method, client);
    return session.stage;
  }

  private async ensureRecoveryCodes(q: Queryable, session: StaffSession): Promise<string[] | null> {
    const { rows } = await q.query(
      'SELECT 1 FROM staff_recovery_codes WHERE org_id = $1 AND user_id = $2 LIMIT 1',
      [session.orgId, session.userId],
    );
    return rows.length > 0 ? null : this.writeRecoveryCodes(q, session.orgId, session.userId);
  }

  private async writeRecoveryCodes(q: Queryable, orgId: string, userId: string): Promise<string[]> {
    // 80 random bits each (16 base32 characters): enough that a fast hash keeps them safe
    // (NIST SP 800-63B asks for 64 bits or more of look-up secrets stored under an unsalted hash).
    const codes = Array.from({ length: RECOVERY_CODES }, () =>
      base32Encode(randomBytes(10))
        .toLowerCase()
        .replace(/(.{4})(?=.)/g, '$1-'),
    );
    await q.query('DELETE FROM staff_recovery_codes WHERE org_id = $1 AND user_id = $2', [orgId, userId]);
    for (const code of codes)
      await q.query('INSERT INTO staff_recovery_codes (org_id, user_id, code_hash) VALUES ($1, $2, $3)', [
        orgId,
        userId,
        sha256(`recovery:${code.replace(/-/g, '').toUpperCase()}`),
      ]);
    return codes;
  }

  /** New recovery codes replace the old ones (shown once). */
  async regenerateRecoveryCodes(session: StaffSession, client: ClientInfo): Promise<string[]> {
    const factors = await this.factors(this.deps.db, session.orgId, session.userId);
    if (!factors.totp && factors.passkeys.length === 0)
      throw errors.conflict('no_second_factor', 'Recovery codes come with a second factor: enrol one first.');
    return this.deps.db.transaction(async (tx) => {
      const codes = await this.writeRecoveryCodes(tx, session.orgId, session.userId);
      await this.audit(tx, {
        orgId: session.orgId,
        actor: userActor(session.userId),
        action: 'auth.recovery_codes_generated',
        objectType: 'user',
        objectId: session.userId,
        outcome: 'success',
        ip: client.ip,
        requestId: client.requestId,
        details: { count: codes.length },
      });
      // New codes are a factor changed: a session opened with an old one ends, like any other.
      await this.revokeAll(tx, session.orgId, session.userId, 'factors_changed', client, session.sessionId);
      return codes;
    });
  }

  private async useRecoveryCode(
    orgId: string,
    userId: string,
    code: string,
    client: ClientInfo,
  ): Promise<boolean> {
    const digits = code.replace(/[\s-]/g, '').toUpperCase();
    if (!/^[A-Z2-7]{16}$/.test(digits)) return false;
    const { rows } = await this.deps.db.query(
      `UPDATE staff_recovery_codes SET used_at = $4
       WHERE org_id = $1 AND user_id = $2 AND code_hash = $3 AND used_at IS NULL RETURNING 1`,
      [orgId, userId, sha256(`recovery:${digits}`), this.clock()],
    );
    if (rows.length === 0) return false;
    await this.audit(this.deps.db, {
      orgId,
      actor: userActor(userId),
      action: 'auth.recovery_code_used',
      objectType: 'user',
      objectId: userId,
      outcome: 'success',
      ip: client.ip,
      requestId: client.requestId,
    });
    return true;
  }

  /** Removes a factor; refused when policy needs it or the password is too short to stand alone. */
  async removeFactor(
    session: StaffSession,
    factor: { kind: 'totp' } | { kind: 'passkey'; id: string },
    client: ClientInfo,
  ): Promise<boolean> {
    return this.deps.db.transaction(async (tx) => {
      const before = await this.factors(tx, session.orgId, session.userId);
      const remaining = {
        totp: factor.kind === 'totp' ? false : before.totp,
        passkeys: before.passkeys.filter((p) => factor.kind !== 'passkey' || p.id !== factor.id).length,
      };
      const exists = factor.kind === 'totp' ? before.totp : remaining.passkeys < before.passkeys.length;
      if (!exists) return false;
      const policy = await this.policy(tx, session.orgId);
      const needed = StaffAuth.requirement(policy, session.role);
      if (
        (needed === 'passkey' && remaining.passkeys === 0) ||
        (needed === 'any' && !remaining.totp && remaining.passkeys === 0)
      )
        throw errors.conflict(
          'factor_required',
          "Your organisation's policy requires this factor: add another first.",
        );
      const { rows } = await tx.query<{ password_short: boolean }>(
        'SELECT password_short FROM users WHERE org_id = $1 AND user_id = $2',
        [session.orgId, session.userId],
      );
      if (rows[0]?.password_short && !remaining.totp && remaining.passkeys === 0)
        throw errors.conflict(
          'password_too_short',
          'Your password is shorter than 15 characters, which is allowed only with a second factor: change it first.',
        );
      if (factor.kind === 'totp')
        await tx.query('DELETE FROM staff_totp WHERE org_id = $1 AND user_id = $2', [
          session.orgId,
          session.userId,
        ]);
      else
        await tx.query(
          'DELETE FROM staff_passkeys WHERE org_id = $1 AND user_id = $2 AND credential_id = $3',
          [session.orgId, session.userId, factor.id],
        );
      if (!remaining.totp && remaining.passkeys === 0)
        await tx.query('DELETE FROM staff_recovery_codes WHERE org_id = $1 AND user_id = $2', [
          session.orgId,
          session.userId,
        ]);
      await this.audit(tx, {
        orgId: session.orgId,
        actor: userActor(session.userId),
        action: 'auth.mfa_removed',
        objectType: 'user',
        objectId: session.userId,
        outcome: 'success',
        ip: client.ip,
        requestId: client.requestId,
        details: { factor: factor.kind },
      });
      await this.revokeAll(tx, session.orgId, session.userId, 'factors_changed', client, session.sessionId);
      return true;
    });
  }

  // --- Passkeys --------------------------------------------------------------------------------

  private relyingParty() {
    const url = new URL(this.deps.publicUrl ?? 'http://localhost');
    return { rpID: url.hostname, origin: url.origin };
  }

  private async keepChallenge(
    session: StaffSession,
    purpose: 'register' | 'authenticate',
    challenge: string,
  ) {
    await this.deps.db.query(
      `INSERT INTO staff_webauthn_challenges (org_id, session_id, purpose, challenge, expires_at)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (org_id, session_id, purpose) DO UPDATE SET challenge = $4, expires_at = $5`,
      [session.orgId, session.sessionId, purpose, challenge, new Date(this.clock().getTime() + CHALLENGE_MS)],
    );
  }

  private async claimChallenge(
    session: StaffSession,
    purpose: 'register' | 'authenticate',
  ): Promise<string | null> {
    const { rows } = await this.deps.db.query<{ challenge: string }>(
      `DELETE FROM staff_webauthn_challenges WHERE org_id = $1 AND session_id = $2 AND purpose = $3
       RETURNING challenge, expires_at > $4 AS live`,
      [session.orgId, session.sessionId, purpose, this.clock()],
    );
    const row = rows[0] as { challenge: string; live?: boolean } | undefined;
    return row?.live ? row.challenge : null;
  }

  private async passkeysOf(orgId: string, userId: string) {
    const { rows } = await this.deps.db.query<{
      credential_id: string;
      public_key: Uint8Array;
      counter: string | number;
      transports: string[];
    }>(
      'SELECT credential_id, public_key, counter, transports FROM staff_passkeys WHERE org_id = $1 AND user_id = $2',
      [orgId, userId],
    );
    return rows.map((r) => ({
      id: r.credential_id,
      publicKey: new Uint8Array(r.public_key),
      counter: Number(r.counter),
      transports: r.transports ?? [],
    }));
  }

  async passkeyRegistrationOptions(
    session: StaffSession,
    orgName: string,
  ): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const email = await this.emailOf(this.deps.db, session.orgId, session.userId);
    const existing = await this.passkeysOf(session.orgId, session.userId);
    const options = await generateRegistrationOptions({
      rpName: `Sealpost · ${orgName}`,
      rpID: this.relyingParty().rpID,
      userName: email,
      userDisplayName: email,
      userID: new Uint8Array(Buffer.from(session.userId.replace(/-/g, ''), 'hex')),
      attestationType: 'none',
      excludeCredentials: existing.map((k) => ({ id: k.id, transports: k.transports as never })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
      timeout: CHALLENGE_MS,
    });
    await this.keepChallenge(session, 'register', options.challenge);
    return options;
  }

  async addPasskey(
    session: StaffSession,
    response: RegistrationResponseJSON,
    name: string,
    client: ClientInfo,
  ): Promise<
    { ok: true; stage: Stage; recoveryCodes: string[] | null } | { ok: false; reason: 'expired' | 'refused' }
  > {
    const challenge = await this.claimChallenge(session, 'register');
    if (!challenge) return { ok: false, reason: 'expired' };
    const { rpID, origin } = this.relyingParty();
    let verified;
    try {
      verified = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: origin,
        expectedRPID: rpID,
        requireUserVerification: true,
      });
    } catch {
      return { ok: false, reason: 'refused' };
    }
    if (!verified.verified) return { ok: false, reason: 'refused' };
    const { credential } = verified.registrationInfo;
    return this.deps.db.transaction(async (tx) => {
      const { rows: counted } = await tx.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM staff_passkeys WHERE org_id = $1 AND user_id = $2',
        [session.orgId, session.userId],
      );
      if (counted[0]!.n >= MAX_PASSKEYS) return { ok: false as const, reason: 'refused' as const };
      const { rows } = await tx.query(
        `INSERT INTO staff_passkeys (org_id, credential_id, user_id, name, public_key, counter, transports, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING 1`,
        [
          session.orgId,
          credential.id,
          session.userId,
          name,
          Buffer.from(credential.publicKey),
          credential.counter,
          credential.transports ?? [],
          this.clock(),
        ],
      );
      if (rows.length === 0) return { ok: false as const, reason: 'refused' as const };
      const recoveryCodes = await this.ensureRecoveryCodes(tx, session);
      const stage = await this.factorAdded(tx, session, 'passkey', client, { factor: 'passkey' });
      return { ok: true as const, stage, recoveryCodes };
    });
  }

  async passkeyAuthenticationOptions(session: StaffSession): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const passkeys = await this.passkeysOf(session.orgId, session.userId);
    const options = await generateAuthenticationOptions({
      rpID: this.relyingParty().rpID,
      allowCredentials: passkeys.map((k) => ({ id: k.id, transports: k.transports as never })),
      userVerification: 'required',
      timeout: CHALLENGE_MS,
    });
    await this.keepChallenge(session, 'authenticate', options.challenge);
    return options;
  }

  /** The second step with a passkey (its user verification makes it phishing-resistant MFA). */
  async usePasskey(
    session: StaffSession,
    response: AuthenticationResponseJSON,
    client: ClientInfo,
  ): Promise<
    | { ok: true; stage: Stage }
    | { ok: false; reason: 'invalid' | 'expired' | 'throttled'; retryAfterSeconds?: number }
  > {
    const email = await this.emailOf(this.deps.db, session.orgId, session.userId);
    const wait = await this.throttle.wait(email, client, []);
    if (wait > 0) return { ok: false, reason: 'throttled', retryAfterSeconds: wait };
    const challenge = await this.claimChallenge(session, 'authenticate');
    if (!challenge) return { ok: false, reason: 'expired' };
    const passkey = (await this.passkeysOf(session.orgId, session.userId)).find((k) => k.id === response.id);
    let verified = null;
    if (passkey) {
      const { rpID, origin } = this.relyingParty();
      try {
        verified = await verifyAuthenticationResponse({
          response,
          expectedChallenge: challenge,
          expectedOrigin: origin,
          expectedRPID: rpID,
          credential: { id: passkey.id, publicKey: passkey.publicKey, counter: passkey.counter },
          requireUserVerification: true,
        });
      } catch {
        verified = null;
      }
    }
    if (!passkey || !verified?.verified) {
      await this.secondFactorFailed(session, 'passkey', client, email);
      return { ok: false, reason: 'invalid' };
    }
    await this.throttle.succeeded(email, client);
    const stage = await this.deps.db.transaction(async (tx) => {
      await tx.query(
        'UPDATE staff_passkeys SET counter = $3, last_used_at = $4 WHERE org_id = $1 AND credential_id = $2',
        [session.orgId, passkey.id, verified.authenticationInfo.newCounter, this.clock()],
      );
      return this.activate(tx, session, 'passkey', client);
    });
    return { ok: true, stage };
  }

  private audit(q: Queryable, record: AuditInput) {
    return this.deps.audit(q, record);
  }
}
