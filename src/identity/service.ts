import type { FastifyRequest } from 'fastify';
import type { AuditInput } from '../audit/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { type Actor, type RequestAuth, PERMISSIONS } from '../access-model/index.ts';
import type { AddressPolicy } from '../net-guard/index.ts';
import {
  createApiKey,
  findApiKey,
  judgeApiKey,
  type KeyCheck,
  parseToken,
  type StoredKey,
  touchApiKey,
} from './api-keys.ts';
import { AuthCache } from './auth-cache.ts';
import { AccessControl, type AccessDeps } from './access.ts';
import { BreakGlass } from './break-glass.ts';
import { rolePermissions } from './roles.ts';
import { SingleSignOn } from './oidc.ts';
import { StaffAuth, type StaffAuthDeps } from './staff-auth.ts';
import { createUser, generatePassword } from './users.ts';

export interface IdentityDeps {
  db: Db;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  /**
   * For refusals anyone can repeat at will (a wrong secret for a known key): counted, and chained
   * as one event per source and object per window with the count (src/audit/tally.ts).
   */
  tallyAudit(record: AuditInput): void;
  createOrgKey(q: Queryable, orgId: string): Promise<unknown>;
  clock?: () => Date;
  /** For staff sign-in: TOTP secrets are sealed; passkeys and cookies follow the public URL. */
  keyring?: StaffAuthDeps['keyring'];
  publicUrl?: string;
  /** DNS servers for single sign-on's proof of domains and its provider's host (unset: the system's). */
  dnsServers?: string[] | undefined;
  /** Where single sign-on's requests to providers may go (SEALPOST_FETCH_PRIVATE_RANGES); unset: public only. */
  fetchPolicy?: AddressPolicy | undefined;
  /** Certificate authorities single sign-on trusts besides the system's (SEALPOST_EXTRA_CA_FILE). */
  extraCaFile?: string | undefined;
  /** Mails a person about a sign-in from a new device or address (see AccessControl). */
  notifyNewDevice?: AccessDeps['notifyNewDevice'];
  /** Keys, policies and roles read by authentication (see auth-cache.ts); the service makes one. */
  authCache?: AuthCache;
}

export interface InitResult {
  org_id: string;
  org_name: string;
  admin_email: string;
  /** One-time: shown once, stored only as an argon2id hash. */
  admin_password: string;
  /** One-time: shown once, stored only as a hash. */
  api_key: string;
}

// last_used_at is written at most once a minute per key: a write per request would make every
// read a durable commit.
const TOUCH_INTERVAL_MS = 60_000;

/** A key's record and, for a key made by a person, what that person may do now (null: not a person's). */
interface KeyRecord {
  stored: StoredKey;
  ownerHeld: readonly string[] | null;
}

export class IdentityService {
  /**
   * The dependencies as the identity module uses them: give these to its routes. Their database
   * makes every transaction forget the authentication cache when it ends.
   */
  readonly deps: IdentityDeps & { authCache: AuthCache };
  private readonly clock: () => Date;
  private readonly touched = new Map<string, number>();
  /** Staff sign-in, sessions and second factors. */
  readonly staff: StaffAuth;
  /** Conditional access (allowed networks) and the devices staff sign in from. */
  readonly access: AccessControl;
  /** Break-glass emergency access: elevates the sessions that hold it. */
  readonly breakGlass: BreakGlass;
  /** Single sign-on with OpenID Connect (needs the keyring: client secrets are sealed). */
  readonly sso: SingleSignOn | null;

  constructor(given: IdentityDeps) {
    const authCache = given.authCache ?? new AuthCache();
    const deps = { ...given, db: authCache.watch(given.db), authCache };
    this.deps = deps;
    this.clock = deps.clock ?? (() => new Date());
    this.access = new AccessControl(deps);
    this.breakGlass = new BreakGlass(deps);
    this.staff = new StaffAuth({
      ...deps,
      checkSignIn: this.access.checkSignIn,
      checkPasswordSignIn: async (user, client) => this.sso?.checkPasswordSignIn(user, client),
    });
    this.sso = deps.keyring
      ? new SingleSignOn(
          { ...deps, keyring: deps.keyring, publicUrl: deps.publicUrl ?? 'http://localhost' },
          this.staff,
        )
      : null;
  }

  /** Creates an organisation with its key, a first administrator and a first API key, atomically. */
  async initOrganization(input: { name: string; adminEmail: string; actor: Actor }): Promise<InitResult> {
    const password = generatePassword();
    return this.deps.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ org_id: string; name: string }>(
        'INSERT INTO organizations (name) VALUES ($1) RETURNING org_id, name',
        [input.name],
      );
      const org = rows[0]!;
      await this.deps.createOrgKey(tx, org.org_id);
      const user = await createUser(tx, org.org_id, { email: input.adminEmail, role: 'owner', password });
      const { key, token } = await createApiKey(tx, org.org_id, {
        name: 'First API key',
        scopes: PERMISSIONS,
        createdBy: input.actor,
      });
      const base = { orgId: org.org_id, actor: input.actor, outcome: 'success' as const };
      await this.deps.audit(tx, {
        ...base,
        action: 'organization.created',
        objectType: 'organization',
        objectId: org.org_id,
      });
      await this.deps.audit(tx, {
        ...base,
        action: 'user.created',
        objectType: 'user',
        objectId: user.id,
        details: { role: 'owner' },
      });
      await this.deps.audit(tx, {
        ...base,
        action: 'api_key.created',
        objectType: 'api_key',
        objectId: key.id,
      });
      return {
        org_id: org.org_id,
        org_name: org.name,
        admin_email: user.email,
        admin_password: password,
        api_key: token,
      };
    });
  }

  /**
   * Finds who is calling: an API key in the Authorization header, else a staff session cookie
   * (whose role's permissions become the request's scopes, and whose state-changing requests must
   * be same-origin with the CSRF token); refuses with 401 and records why.
   */
  async authenticate(request: FastifyRequest): Promise<RequestAuth> {
    const header = request.headers.authorization;
    if (!header) {
      const session = await this.staff.authenticateSession(request);
      if (session) return this.breakGlass.elevate(request, session);
      throw errors.unauthorized();
    }
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw errors.unauthorized('Use "Authorization: Bearer <API key>".');
    const now = this.clock();
    const token = parseToken(match[1]!);
    const record = token
      ? await this.deps.authCache.get(`key:${token.keyId}`, () => this.keyRecord(token.keyId))
      : null;
    const result: KeyCheck = token
      ? judgeApiKey(record?.stored ?? null, token.keyId, token.secret, now)
      : { ok: false, reason: 'malformed' };
    if (!result.ok) {
      if (result.orgId && result.keyId)
        this.deps.tallyAudit({
          orgId: result.orgId,
          actor: { type: 'api_key', id: result.keyId, label: `spk_${result.keyId}` },
          action: 'auth.api_key_rejected',
          objectType: 'api_key',
          objectId: result.keyId,
          outcome: 'denied',
          ip: request.ip,
          details: { reason: result.reason },
        });
      throw errors.unauthorized(
        result.reason === 'revoked' || result.reason === 'expired'
          ? `This API key is ${result.reason}.`
          : 'The API key is not valid.',
      );
    }
    const { key } = result;
    const last = this.touched.get(key.keyId) ?? key.lastUsedAt?.getTime() ?? 0;
    if (now.getTime() - last >= TOUCH_INTERVAL_MS) {
      this.touched.set(key.keyId, now.getTime());
      await touchApiKey(this.deps.db, key.orgId, key.keyId);
    }
    // A key made by a person never does more than that person may do now: its scopes narrow
    // with their role, and come to nothing when they are disabled or gone.
    const held = record!.ownerHeld;
    return {
      orgId: key.orgId,
      actor: { type: 'api_key', id: key.keyId, label: `spk_${key.keyId}` },
      scopes: held ? key.scopes.filter((s) => held.includes(s)) : key.scopes,
      rateLimitPerMinute: key.rateLimitPerMinute,
    };
  }

  private async keyRecord(keyId: string): Promise<KeyRecord | null> {
    const stored = await findApiKey(this.deps.db, keyId);
    if (!stored) return null;
    // Shared by the requests that find it in the cache: nobody may change it.
    Object.freeze(stored.scopes);
    if (stored.createdBy.type !== 'user') return { stored, ownerHeld: null };
    const { rows } = await this.deps.db.query<{ role: string }>(
      "SELECT role FROM users WHERE org_id = $1 AND user_id::text = $2 AND status = 'active'",
      [stored.orgId, stored.createdBy.id],
    );
    const ownerHeld = rows[0] ? await rolePermissions(this.deps, stored.orgId, rows[0].role) : [];
    return { stored, ownerHeld };
  }
}
