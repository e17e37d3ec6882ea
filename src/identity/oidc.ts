import { createHash, randomBytes } from 'node:crypto';
import type { Resolver } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import * as oidc from 'openid-client';
import { type AuditInput, SYSTEM_ORG_ID } from '../audit/index.ts';
import type { Keyring } from '../crypto/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { createResolver } from '../domains/index.ts';
import { SealpostError } from '../errors/index.ts';
import type { Actor } from '../access-model/index.ts';
import {
  type AddressPolicy,
  FetchFailed,
  type GuardedFetch,
  guardedFetch,
  guardHost,
  HostRefused,
  makeResolver,
  type Resolve,
} from '../net-guard/index.ts';
import {
  checkIssuer,
  domainOf,
  findSso,
  isLoopback,
  ssoOnly,
  readSso,
  secretBinding,
  type StoredSso,
} from './oidc-config.ts';
import { isProvenDomain } from './oidc-domains.ts';
import { pendingInvitationFor, recordAcceptance } from './invitations.ts';
import { roleExists } from './roles.ts';
import {
  type ClientInfo,
  type Method,
  type Stage,
  StaffAuth,
  type StaffSession,
  userActor,
} from './staff-auth.ts';
import { createUser } from './users.ts';

// Single sign-on with OpenID Connect: the authorization code flow with PKCE (S256), state and
// nonce, every check done by openid-client. A sign-in on its way is kept in the database, bound to
// the browser that started it by a cookie (so a callback URL replayed in another browser, or
// twice, opens nothing), and used once. The callback finds the user by a verified address in one
// of the organisation's proven domains, or makes one when the organisation says so, sets the role
// the claims map to, and starts the same staff session as a password would.
//
// A sign-in through the provider stands for the password, and no more: a user's own second factor
// is asked for after it as after a password. The ID token's amr claim (RFC 8176) saying "mfa"
// stands for that factor only when an owner chose to trust the provider's MFA, and never for an
// owner's (an owner finishes every SSO sign-in with a factor held here: whoever controls the
// provider must not become owner) nor for a passkey that policy requires.
//
// The issuer is an organisation's to set, but the requests to it leave from inside the operator's
// network: every one (discovery, token, userinfo, keys) goes through the shared guard
// (src/net-guard), under the operator's policy for all outbound fetches.

export const SSO_COOKIE = 'sealpost_sso';
export const CALLBACK_PATH = '/v1/auth/sso/callback';
const TRANSACTION_MS = 10 * 60_000;
const DISCOVERY_MS = 10 * 60_000;
/** Each request to the provider, connection to last byte. */
const PROVIDER_TIMEOUT_MS = 10_000;
/** Metadata, keys and tokens are a few kilobytes. */
const PROVIDER_MAX_BYTES = 512 * 1024;
const ssoActor: Actor = { type: 'system', id: 'sso', label: 'single sign-on' };

export interface SsoDeps {
  db: Db;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  /** For refusals anyone can repeat at will: one event per source and object per window. */
  tallyAudit(record: AuditInput): void;
  keyring: Keyring;
  publicUrl: string;
  /** DNS servers for the proof of domains and the provider's host (unset: the system's). */
  dnsServers?: string[] | undefined;
  /** Where requests to providers may go (the operator's policy for outbound fetches); unset: public addresses only. */
  fetchPolicy?: AddressPolicy | undefined;
  /** Certificate authorities trusted besides the system's (SEALPOST_EXTRA_CA_FILE). */
  extraCaFile?: string | undefined;
  clock?: () => Date;
}

export type SsoRefusal =
  | 'unknown_organization'
  | 'no_transaction'
  | 'provider_error'
  | 'provider_unreachable'
  | 'validation_failed'
  | 'email_missing'
  | 'email_not_verified'
  | 'domain_not_allowed'
  | 'not_provisioned'
  | 'user_disabled'
  | 'owner_factor_required';

const MESSAGES: Record<SsoRefusal, string> = {
  unknown_organization: 'No organisation signs in with single sign-on by that name or address.',
  no_transaction:
    'This sign-in is unknown, was already used, or took too long: start again from the sign-in page.',
  provider_error: 'The identity provider did not sign you in.',
  provider_unreachable: 'The identity provider could not be reached: try again later.',
  validation_failed: "The identity provider's answer did not pass the checks: start again.",
  email_missing: 'The identity provider did not give an email address.',
  email_not_verified: 'The identity provider does not say your email address is verified.',
  domain_not_allowed: "Your email address's domain is not allowed to sign in to this organisation.",
  not_provisioned: 'You have no account in this organisation yet: ask an administrator to invite you.',
  user_disabled: 'Your account is disabled.',
  owner_factor_required:
    'Owners finish single sign-on with their own second factor: sign in with your password and enrol one first.',
};

export class SsoRefused extends SealpostError<'sso_refused'> {
  readonly reason: SsoRefusal;
  /** What failed, for the audit trail (never shown). */
  readonly check: string | undefined;
  constructor(reason: SsoRefusal, check?: string) {
    const status = reason === 'unknown_organization' ? 404 : reason === 'provider_unreachable' ? 502 : 403;
    super('sso_refused', MESSAGES[reason], { status, details: { reason } });
    this.reason = reason;
    this.check = check;
  }
}

export interface SsoSignIn {
  session: StaffSession;
  stage: Stage;
  methods: Method[];
  provisioned: boolean;
}

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/** Claims a token or the userinfo endpoint gave, as far as this module reads them. */
type Claims = Record<string, unknown>;

export class SingleSignOn {
  readonly deps: SsoDeps;
  readonly staff: StaffAuth;
  readonly clock: () => Date;
  /** Looks up the TXT records that prove domains (oidc-domains.ts). */
  readonly resolver: Resolver;
  /** The provider's host's addresses, for the guard. */
  private readonly resolve: Resolve;
  private readonly policy: AddressPolicy;
  /** Every request openid-client makes goes through this. */
  private readonly fetch: GuardedFetch;
  private readonly discovered = new Map<string, { key: string; at: number; config: oidc.Configuration }>();

  constructor(deps: SsoDeps, staff: StaffAuth) {
    this.deps = deps;
    this.staff = staff;
    this.clock = deps.clock ?? (() => new Date());
    this.resolver = createResolver(deps.dnsServers);
    this.resolve = makeResolver(deps.dnsServers);
    this.policy = deps.fetchPolicy ?? { allowPrivate: false };
    this.fetch = guardedFetch({
      policy: this.policy,
      resolve: this.resolve,
      httpToLoopback: true,
      secureContext: deps.extraCaFile
        ? tls.createSecureContext({
            ca: [...tls.getCACertificates('default'), readFileSync(deps.extraCaFile, 'utf8')],
          })
        : undefined,
      timeoutMs: PROVIDER_TIMEOUT_MS,
      maxBytes: PROVIDER_MAX_BYTES,
    });
  }

  /**
   * Refuses an issuer whose host may not be reached under the operator's policy (before it is
   * saved; every request checks again, as DNS can change). A host that does not resolve now is
   * left to the sign-in, which fails closed.
   */
  async checkIssuerHost(issuer: string): Promise<void> {
    const { hostname } = new URL(checkIssuer(issuer));
    try {
      await guardHost(hostname, this.policy, this.resolve);
    } catch (err) {
      if (!(err instanceof HostRefused)) throw err;
      if (err.code === 'forbidden')
        throw new SealpostError(
          'sso_issuer_forbidden',
          `${err.message} An identity provider must be on a public address, or on a private range the operator allows.`,
        );
    }
  }

  get redirectUri(): string {
    return new URL(CALLBACK_PATH, this.deps.publicUrl).toString();
  }

  transactionCookie(secret: string, maxAgeSeconds = TRANSACTION_MS / 1000): string {
    // Lax, not Strict: the provider sends the browser back with a cross-site top-level GET.
    return [
      `${SSO_COOKIE}=${secret}`,
      'Path=/v1/auth/sso',
      'HttpOnly',
      'SameSite=Lax',
      ...(this.staff.secureCookies ? ['Secure'] : []),
      `Max-Age=${maxAgeSeconds}`,
    ].join('; ');
  }

  /** The provider's metadata (discovered once per ten minutes) and this client's credentials. */
  private async provider(sso: StoredSso): Promise<oidc.Configuration> {
    const key = `${sso.issuer}\n${sso.client_id}\n${sso.updated_at.toISOString()}`;
    const cached = this.discovered.get(sso.org_id);
    if (cached && cached.key === key && Date.now() - cached.at < DISCOVERY_MS) return cached.config;
    const secret = await this.deps.keyring.openText(sso.org_id, secretBinding(sso.org_id), sso.client_secret);
    const issuer = new URL(sso.issuer);
    let config: oidc.Configuration;
    try {
      // The fetch is kept by the configuration for the token, userinfo and key requests too.
      config = await oidc.discovery(issuer, sso.client_id, undefined, oidc.ClientSecretBasic(secret), {
        [oidc.customFetch]: this.fetch,
        timeout: PROVIDER_TIMEOUT_MS / 1000,
        ...(isLoopback(issuer) && issuer.protocol === 'http:'
          ? { execute: [oidc.allowInsecureRequests] }
          : {}),
      });
    } catch (err) {
      throw new SsoRefused('provider_unreachable', unreachableCheck(err));
    }
    this.discovered.set(sso.org_id, { key, at: Date.now(), config });
    return config;
  }

  /** Where to send the browser, and the cookie that binds the sign-in to it. */
  async start(
    by: { org?: string | undefined; email?: string | undefined },
    client: ClientInfo,
  ): Promise<{ location: string; cookie: string }> {
    const sso = await findSso(this.deps.db, by);
    if (!sso) {
      this.refused(SYSTEM_ORG_ID, 'unknown_organization', client);
      throw new SsoRefused('unknown_organization');
    }
    let config: oidc.Configuration;
    try {
      config = await this.provider(sso);
    } catch (err) {
      if (err instanceof SsoRefused) this.refused(sso.org_id, err.reason, client, err.check);
      throw err;
    }
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const browser = randomBytes(32).toString('base64url');
    const now = this.clock();
    await this.deps.db.query('DELETE FROM sso_transactions WHERE org_id = $1 AND expires_at < $2', [
      sso.org_id,
      now,
    ]);
    await this.deps.db.query(
      `INSERT INTO sso_transactions (org_id, browser_hash, state, nonce, code_verifier, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        sso.org_id,
        sha256(browser),
        state,
        nonce,
        await this.deps.keyring.seal(sso.org_id, this.verifierBinding(state), verifier),
        now,
        new Date(now.getTime() + TRANSACTION_MS),
      ],
    );
    const parameters: Record<string, string> = {
      redirect_uri: this.redirectUri,
      scope: 'openid email profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    };
    if (by.email && domainOf(by.email)) parameters.login_hint = by.email;
    return { location: oidc.buildAuthorizationUrl(config, parameters).toString(), cookie: browser };
  }

  private verifierBinding(state: string) {
    return { table: 'sso_transactions', row: state };
  }

  /**
   * The provider sent the browser back: `url` is the callback as the browser asked for it,
   * `browser` the cookie's value. Every refusal is audited with its reason and thrown.
   */
  async callback(url: URL, browser: string | undefined, client: ClientInfo): Promise<SsoSignIn> {
    const now = this.clock();
    // Claimed before anything else: whatever happens next, this sign-in cannot be tried twice.
    const { rows } = browser
      ? await this.deps.db.query<{
          org_id: string;
          state: string;
          nonce: string;
          code_verifier: Buffer;
          expires_at: Date;
        }>(
          `DELETE FROM sso_transactions WHERE browser_hash = $1
           RETURNING org_id, state, nonce, code_verifier, expires_at`,
          [sha256(browser)],
        )
      : { rows: [] };
    const tx = rows[0];
    const sso = tx ? await readSso(this.deps.db, tx.org_id) : null;
    if (!tx || tx.expires_at <= now || !sso?.enabled)
      return this.refuse(tx?.org_id ?? SYSTEM_ORG_ID, 'no_transaction', client);
    const orgId = tx.org_id;
    const verifier = await this.deps.keyring.openText(
      orgId,
      this.verifierBinding(tx.state),
      Buffer.from(tx.code_verifier),
    );
    let claims: Claims;
    let amr: string[];
    try {
      const config = await this.provider(sso);
      const tokens = await oidc.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: verifier,
        expectedState: tx.state,
        expectedNonce: tx.nonce,
        idTokenExpected: true,
      });
      const idToken = tokens.claims()!;
      amr = Array.isArray(idToken.amr) ? idToken.amr.filter((v): v is string => typeof v === 'string') : [];
      claims = { ...idToken };
      // Providers that keep the address out of the ID token give it at the userinfo endpoint
      // (checked to be about the same subject).
      if (typeof claims.email !== 'string' || claims[sso.role_claim] === undefined) {
        const info = await oidc.fetchUserInfo(config, tokens.access_token, idToken.sub);
        for (const [name, value] of Object.entries(info))
          if (claims[name] === undefined) claims[name] = value;
      }
    } catch (err) {
      if (err instanceof SsoRefused) return this.refuse(orgId, err.reason, client, err.check);
      const unreachable = unreachableCheck(err);
      if (unreachable) return this.refuse(orgId, 'provider_unreachable', client, unreachable);
      return this.refuse(
        orgId,
        providerSaid(err) ? 'provider_error' : 'validation_failed',
        client,
        checkOf(err),
      );
    }
    const email = typeof claims.email === 'string' ? claims.email.trim() : '';
    if (!email) return this.refuse(orgId, 'email_missing', client);
    // Microsoft Entra ID says "the domain's owner verified this address" with xms_edov.
    if (claims.email_verified !== true && claims.xms_edov !== true)
      return this.refuse(orgId, 'email_not_verified', client);
    // Before any account is looked at: an address outside the proven domains matches nobody here.
    const domain = domainOf(email);
    if (!domain || !(await isProvenDomain(this.deps.db, orgId, domain)))
      return this.refuse(orgId, 'domain_not_allowed', client);
    const mapped = await this.mappedRole(sso, claims[sso.role_claim]);

    const { rows: users } = await this.deps.db.query<{ user_id: string; role: string; status: string }>(
      'SELECT user_id, role, status FROM users WHERE org_id = $1 AND lower(email) = lower($2)',
      [orgId, email],
    );
    const existing = users[0];
    if (existing && existing.status !== 'active')
      return this.refuse(orgId, 'user_disabled', client, undefined, existing.user_id);
    // An open invitation for the address admits its holder even without JIT provisioning.
    const invitation = existing ? null : await pendingInvitationFor(this.deps.db, orgId, email, this.clock());
    const newRole = mapped ?? invitation?.role ?? sso.default_role;
    if (!existing && !newRole) return this.refuse(orgId, 'not_provisioned', client);
    // Conditional access (allowed networks) holds for single sign-on as for a password.
    if (existing)
      await this.staff.deps.checkSignIn?.(
        { org_id: orgId, user_id: existing.user_id, role: existing.role },
        client,
      );
    if (existing?.role === 'owner') {
      const factors = await this.staff.factors(this.deps.db, orgId, existing.user_id);
      if (!factors.totp && factors.passkeys.length === 0)
        return this.refuse(orgId, 'owner_factor_required', client, undefined, existing.user_id);
    }

    return this.deps.db.transaction(async (q) => {
      let user: { org_id: string; user_id: string; role: string };
      if (existing) {
        user = { org_id: orgId, user_id: existing.user_id, role: existing.role };
        // Claims set the role of everyone but owners (made and kept in Sealpost).
        if (newRole && newRole !== existing.role && existing.role !== 'owner') {
          await q.query('UPDATE users SET role = $3 WHERE org_id = $1 AND user_id = $2', [
            orgId,
            existing.user_id,
            newRole,
          ]);
          await this.deps.audit(q, {
            orgId,
            actor: ssoActor,
            action: 'user.role_changed',
            objectType: 'user',
            objectId: existing.user_id,
            outcome: 'success',
            ip: client.ip,
            requestId: client.requestId,
            details: { from: existing.role, to: newRole, by: mapped ? 'claim_mapping' : 'default_role' },
          });
          user.role = newRole;
        }
      } else {
        const made = await createUser(q, orgId, { email, role: newRole! });
        user = { org_id: orgId, user_id: made.id, role: made.role };
        // Locked and checked again inside the transaction: two callbacks racing accept it once.
        const open = invitation && (await pendingInvitationFor(q, orgId, email, this.clock()));
        if (open)
          await recordAcceptance(
            q,
            { audit: this.deps.audit, now: this.clock() },
            { orgId, ...open, role: made.role },
            made.id,
            client,
            'sso',
          );
        await this.deps.audit(q, {
          orgId,
          actor: ssoActor,
          action: 'user.provisioned',
          objectType: 'user',
          objectId: made.id,
          outcome: 'success',
          ip: client.ip,
          requestId: client.requestId,
          details: {
            role: made.role,
            by: mapped ? 'claim_mapping' : open ? 'invitation' : 'default_role',
          },
        });
      }
      const result = await this.startSession(q, user, amr, sso.trust_provider_mfa, client);
      await q.query('UPDATE sso_configs SET last_success_at = $2 WHERE org_id = $1', [orgId, this.clock()]);
      await this.deps.audit(q, {
        orgId,
        actor: userActor(user.user_id),
        action: 'auth.sso_sign_in',
        objectType: 'session',
        objectId: result.session.sessionId,
        outcome: 'success',
        ip: client.ip,
        requestId: client.requestId,
        details: {
          amr: amr.join(' '),
          mfa: amr.includes('mfa'),
          provider_mfa_trusted: result.providerFactor,
          next: result.stage,
          provisioned: !existing,
        },
      });
      return {
        session: result.session,
        stage: result.stage,
        methods: result.methods,
        provisioned: !existing,
      };
    });
  }

  /**
   * The session after the provider proved who it is: the user's own second factor still due when
   * they have one (as after a password) or policy asks for one, unless the provider's MFA is
   * trusted and stands for it.
   */
  private async startSession(
    q: Queryable,
    user: { org_id: string; user_id: string; role: string },
    amr: string[],
    trustProviderMfa: boolean,
    client: ClientInfo,
  ): Promise<Omit<SsoSignIn, 'provisioned'> & { providerFactor: boolean }> {
    const staff = this.staff;
    const policy = await staff.policy(q, user.org_id);
    const factors = await staff.factors(q, user.org_id, user.user_id);
    const needed = StaffAuth.requirement(policy, user.role);
    const has = factors.totp || factors.passkeys.length > 0;
    const providerFactor = trustProviderMfa && amr.includes('mfa') && user.role !== 'owner';
    const satisfied = needed === 'passkey' ? false : providerFactor || (needed === 'none' && !has);
    const stage: Stage = satisfied ? 'active' : has ? 'second_factor' : 'enrol';
    const methods: Method[] = [];
    if (stage === 'second_factor') {
      if (factors.passkeys.length > 0) methods.push('passkey');
      if (needed !== 'passkey' || factors.passkeys.length === 0) {
        if (factors.totp) methods.push('totp');
        if (factors.recovery_codes_left > 0) methods.push('recovery_code');
      }
    }
    const session = await staff.startSession(
      q,
      user,
      stage,
      providerFactor ? ['sso', 'sso_mfa'] : ['sso'],
      policy,
      client,
    );
    if (stage === 'active')
      await q.query('UPDATE users SET last_login_at = $3 WHERE org_id = $1 AND user_id = $2', [
        user.org_id,
        user.user_id,
        this.clock(),
      ]);
    return { session, stage, methods, providerFactor };
  }

  /** The role the first matching mapping gives, if it still exists. */
  private async mappedRole(sso: StoredSso, claim: unknown): Promise<string | null> {
    const values = new Set(
      (Array.isArray(claim) ? claim : [claim]).filter((v): v is string => typeof v === 'string'),
    );
    for (const mapping of sso.role_mappings)
      if (values.has(mapping.value) && (await roleExists(this.deps.db, sso.org_id, mapping.role)))
        return mapping.role;
    return null;
  }

  /**
   * The password hook of StaffAuth: refused in an SSO-only organisation, but for owners (the way
   * back in when the provider fails; their use of it is on the record).
   */
  async checkPasswordSignIn(user: { org_id: string; user_id: string; role: string }, client: ClientInfo) {
    if (!(await ssoOnly(this.deps.db, user.org_id))) return;
    if (user.role === 'owner') {
      await this.deps.audit(this.deps.db, {
        orgId: user.org_id,
        actor: userActor(user.user_id),
        action: 'auth.sso_bypassed',
        objectType: 'user',
        objectId: user.user_id,
        outcome: 'success',
        ip: client.ip,
        requestId: client.requestId,
        details: { method: 'password', reason: 'owner' },
      });
      return;
    }
    this.staff.signInFailed(user, client, { method: 'password', reason: 'sso_only' }, 'denied');
    throw new SealpostError(
      'sso_required',
      'Your organisation signs in with single sign-on only: use "Continue with single sign-on".',
    );
  }

  /**
   * A refused sign-in, tallied like a wrong password (src/audit/tally.ts): anyone can start one
   * and come back with a made-up answer, so it is one event per object, source and reason per
   * window, with the count.
   */
  private refused(orgId: string, reason: SsoRefusal, client: ClientInfo, check?: string, userId?: string) {
    this.deps.tallyAudit({
      orgId,
      actor: userId ? userActor(userId) : ssoActor,
      action: 'auth.sso_refused',
      objectType: userId ? 'user' : 'organization',
      objectId: userId ?? orgId,
      outcome: 'denied',
      ip: client.ip,
      details: check ? { reason, check } : { reason },
    });
  }

  private refuse(
    orgId: string,
    reason: SsoRefusal,
    client: ClientInfo,
    check?: string,
    userId?: string,
  ): never {
    this.refused(orgId, reason, client, check, userId);
    throw new SsoRefused(reason);
  }
}

/**
 * Why the provider was not reached: address_refused (the guard refused its host), unresolvable,
 * or no_answer (connection, TLS, time or size); undefined when the error is not the fetch's.
 */
function unreachableCheck(err: unknown): 'address_refused' | 'unresolvable' | 'no_answer' | undefined {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e instanceof HostRefused) return e.code === 'forbidden' ? 'address_refused' : 'unresolvable';
    if (e instanceof FetchFailed) return 'no_answer';
  }
  return undefined;
}

/** The provider's own error code (access_denied, invalid_grant ...), which names no secret. */
function providerSaid(err: unknown): boolean {
  const code = (err as { error?: unknown }).error;
  return typeof code === 'string' && /^[a-z_]{1,64}$/.test(code);
}

// The errors a provider may answer (RFC 6749 4.1.2.1 and 5.2, OpenID Connect Core 3.1.2.6,
// RFC 6750 3.1). A callback's error is the browser's to write, and each distinct value of a
// tallied refusal is an event of its own: any other is recorded as `other`.
const PROVIDER_ERRORS = new Set([
  'invalid_request',
  'unauthorized_client',
  'access_denied',
  'unsupported_response_type',
  'invalid_scope',
  'server_error',
  'temporarily_unavailable',
  'invalid_client',
  'invalid_grant',
  'unsupported_grant_type',
  'interaction_required',
  'login_required',
  'account_selection_required',
  'consent_required',
  'invalid_request_uri',
  'invalid_request_object',
  'request_not_supported',
  'request_uri_not_supported',
  'registration_not_supported',
  'invalid_token',
  'insufficient_scope',
]);

/**
 * What failed, as a code from a small set: the provider's error, or openid-client's code for a
 * check that did not pass (never the message, which may quote a token's contents).
 */
function checkOf(err: unknown): string {
  const e = err as { error?: unknown; code?: unknown };
  if (providerSaid(err)) return PROVIDER_ERRORS.has(String(e.error)) ? String(e.error) : 'other';
  return typeof e.code === 'string' && /^[A-Z0-9_]{1,64}$/.test(e.code) ? e.code : 'unknown';
}
