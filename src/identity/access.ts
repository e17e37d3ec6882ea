import { createHash, randomBytes } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditInput } from '../audit/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { errors, SealpostError } from '../errors/index.ts';
import type { AuthCache } from './auth-cache.ts';
import type { ClientInfo, StaffSession } from './staff-auth.ts';

// Conditional access: the networks an organisation's people and keys may reach it from, for
// everyone (sign-in, sessions, API keys) and per role (sign-in and sessions of that role's users),
// checked with node:net's BlockList. And the devices and addresses staff sign in from: a sign-in
// from one not seen before is recorded (auth.new_device).
//
// The client address is the socket's, or with SEALPOST_TRUST_PROXY the one X-Forwarded-For names
// (Fastify's trustProxy): turn that on only behind a proxy that sets the header itself.

export const DEVICE_COOKIE = 'sealpost_device';
export const SECURE_DEVICE_COOKIE = '__Host-sealpost_device';
const DEVICE_ID = /^[A-Za-z0-9_-]{22}$/;
const DEVICE_MAX_AGE = 400 * 86_400; // the longest a browser keeps a cookie (RFC 6265bis)

export interface AccessPolicy {
  /** CIDR ranges everyone of the organisation must come from; empty: anywhere. */
  networks: string[];
  /** Per role (a built-in role's name or a custom role's id): ranges its users must come from. */
  role_networks: Record<string, string[]>;
  /** Mail a person when they sign in from a device or address not seen before (not the first sign-in). */
  notify_new_device: boolean;
}

export const OPEN_POLICY: AccessPolicy = { networks: [], role_networks: {}, notify_new_device: true };

/** A sign-in from a device or address the user had not used before. */
export interface NewDeviceSignIn {
  orgId: string;
  userId: string;
  at: Date;
  ip: string | null;
  userAgent: string | null;
}

export interface AccessDeps {
  db: Db;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  clock?: () => Date;
  publicUrl?: string;
  /** Tells the person about a sign-in from somewhere new (staff mail); failures are its own to log. */
  notifyNewDevice?: (signIn: NewDeviceSignIn) => Promise<void>;
  /** Keeps each organisation's policy a few seconds for the checks below (auth-cache.ts). */
  authCache?: AuthCache;
}

/** Parses "a.b.c.d/n" or "x::/n" (a bare address is its own /32 or /128); null when not one. */
export function parseNetwork(
  text: string,
): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const [address = '', prefixText, ...rest] = text.trim().split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return null;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText ?? String(max)) || prefix > max) return null;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** Checks and normalises a list of ranges; a 422 naming the ones that are not. */
export function checkNetworks(list: readonly string[], field: string): string[] {
  const wrong = list.filter((n) => parseNetwork(n) === null);
  if (wrong.length > 0)
    throw errors.validation(`${field}: not an IPv4 or IPv6 range in CIDR form: ${wrong.join(', ')}.`, {
      field,
      invalid: wrong,
    });
  return [...new Set(list.map((n) => n.trim()))];
}

function blockList(networks: readonly string[]): BlockList {
  const list = new BlockList();
  for (const n of networks) {
    const parsed = parseNetwork(n);
    if (parsed) list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return list;
}

/** True when the address is inside one of the ranges (IPv4-mapped IPv6 counts as IPv4). */
export function inNetworks(ip: string | null | undefined, networks: readonly string[]): boolean {
  if (networks.length === 0) return true;
  if (!ip) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const address = mapped ? mapped[1]! : ip;
  const version = isIP(address);
  if (version === 0) return false;
  return blockList(networks).check(address, version === 4 ? 'ipv4' : 'ipv6');
}

/** Whether policy lets someone in (a role for people, null for API keys) from this address. */
export function allowedFrom(
  policy: Pick<AccessPolicy, 'networks' | 'role_networks'>,
  role: string | null,
  ip: string | null | undefined,
): boolean {
  if (!inNetworks(ip, policy.networks)) return false;
  const forRole = role === null ? undefined : policy.role_networks[role];
  return !forRole || inNetworks(ip, forRole);
}

export const networkRefused = () =>
  new SealpostError(
    'network_not_allowed',
    "Your organisation's access policy does not allow access from this network address.",
  );

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/** How a place staff signed in from is kept: a hash of its kind and value, never the value. */
export const originHash = (kind: 'device' | 'address', value: string) => sha256(`${kind}:${value}`);

/** The device id a Cookie header carries (under either cookie name), when well formed. */
export function deviceIdIn(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const index = part.indexOf('=');
    const name = part.slice(0, index).trim();
    const value = part.slice(index + 1).trim();
    if (index > 0 && (name === DEVICE_COOKIE || name === SECURE_DEVICE_COOKIE) && DEVICE_ID.test(value))
      return value;
  }
  return undefined;
}

export class AccessControl {
  private readonly deps: AccessDeps;
  private readonly clock: () => Date;
  readonly deviceCookieName: string;
  private readonly secureCookies: boolean;

  constructor(deps: AccessDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? (() => new Date());
    this.secureCookies = (deps.publicUrl ?? '').startsWith('https:');
    this.deviceCookieName = this.secureCookies ? SECURE_DEVICE_COOKIE : DEVICE_COOKIE;
  }

  async policy(q: Queryable, orgId: string): Promise<AccessPolicy> {
    const { rows } = await q.query<{
      networks: string[];
      role_networks: Record<string, string[]>;
      notify_new_device: boolean;
    }>('SELECT networks, role_networks, notify_new_device FROM access_policies WHERE org_id = $1', [orgId]);
    const row = rows[0];
    return row
      ? { networks: row.networks, role_networks: row.role_networks, notify_new_device: row.notify_new_device }
      : { ...OPEN_POLICY };
  }

  /** The policy as sign-in and every request check it: cached a few seconds (auth-cache.ts). */
  private checkedPolicy(orgId: string): Promise<AccessPolicy> {
    const { db, authCache } = this.deps;
    if (!authCache) return this.policy(db, orgId);
    return authCache.get(`policy:${orgId}`, () => this.policy(db, orgId));
  }

  async setPolicy(q: Queryable, orgId: string, policy: AccessPolicy): Promise<void> {
    await q.query(
      `INSERT INTO access_policies (org_id, networks, role_networks, notify_new_device, updated_at)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (org_id) DO UPDATE SET networks = $2, role_networks = $3, notify_new_device = $4, updated_at = $5`,
      [orgId, policy.networks, JSON.stringify(policy.role_networks), policy.notify_new_device, this.clock()],
    );
  }

  private async refuse(
    orgId: string,
    actor: AuditInput['actor'],
    kind: 'sign_in' | 'api',
    client: { ip: string | null; requestId: string | null },
  ): Promise<never> {
    await this.deps.db.transaction((tx) =>
      this.deps.audit(tx, {
        orgId,
        actor,
        action: 'access.denied',
        objectType: actor.type === 'api_key' ? 'api_key' : 'user',
        objectId: actor.id,
        outcome: 'denied',
        ip: client.ip,
        requestId: client.requestId,
        details: { reason: 'network', kind },
      }),
    );
    throw networkRefused();
  }

  /** At sign-in, once the password is right: the organisation's and the role's networks. */
  checkSignIn = async (user: { org_id: string; user_id: string; role: string }, client: ClientInfo) => {
    const policy = await this.checkedPolicy(user.org_id);
    if (allowedFrom(policy, user.role, client.ip)) return;
    await this.refuse(
      user.org_id,
      { type: 'user', id: user.user_id, label: user.user_id },
      'sign_in',
      client,
    );
  };

  /** On every authenticated API request: API keys by the organisation's networks, sessions also by their role's. */
  authorize = async (request: FastifyRequest) => {
    const auth = request.auth;
    const policy = await this.checkedPolicy(auth.orgId);
    const role = auth.session ? (auth.session.role ?? null) : null;
    if (allowedFrom(policy, role, request.ip)) return;
    await this.refuse(auth.orgId, auth.actor, 'api', { ip: request.ip, requestId: request.id });
  };

  // --- Devices and addresses -------------------------------------------------------------------

  deviceCookie(id: string): string {
    return [
      `${this.deviceCookieName}=${id}`,
      'Path=/',
      'HttpOnly',
      'SameSite=Strict',
      ...(this.secureCookies ? ['Secure'] : []),
      `Max-Age=${DEVICE_MAX_AGE}`,
    ].join('; ');
  }

  deviceIdOf(request: FastifyRequest): string | null {
    for (const part of (request.headers.cookie ?? '').split(';')) {
      const index = part.indexOf('=');
      if (index > 0 && part.slice(0, index).trim() === this.deviceCookieName) {
        const value = part.slice(index + 1).trim();
        return DEVICE_ID.test(value) ? value : null;
      }
    }
    return null;
  }

  /**
   * After a right password: remembers the device (a cookie, given one if it has none) and the
   * address; one not seen before for this user is recorded as auth.new_device. The first sign-in
   * of a user is recorded too, with first_sign_in: true. Unless it is the first, and when policy
   * says so, the person is told by mail (a stolen password used elsewhere shows up in their inbox).
   */
  async recordSignIn(request: FastifyRequest, reply: FastifyReply, session: StaffSession): Promise<void> {
    let deviceId = this.deviceIdOf(request);
    if (!deviceId) deviceId = randomBytes(16).toString('base64url');
    reply.header('set-cookie', this.deviceCookie(deviceId));
    const now = this.clock();
    const notify = await this.deps.db.transaction(async (tx) => {
      const { rows: known } = await tx.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM staff_sign_in_origins WHERE org_id = $1 AND user_id = $2',
        [session.orgId, session.userId],
      );
      const fresh: Record<'device' | 'address', boolean> = { device: false, address: false };
      for (const [kind, value] of [
        ['device', deviceId],
        ['address', request.ip],
      ] as const) {
        const { rows } = await tx.query<{ inserted: boolean }>(
          `INSERT INTO staff_sign_in_origins (org_id, user_id, kind, value_hash, first_seen_at, last_seen_at)
           VALUES ($1, $2, $3, $4, $5, $5)
           ON CONFLICT (org_id, user_id, kind, value_hash) DO UPDATE SET last_seen_at = $5
           RETURNING (xmax = 0) AS inserted`,
          [session.orgId, session.userId, kind, originHash(kind, value), now],
        );
        fresh[kind] = rows[0]!.inserted;
      }
      if (!fresh.device && !fresh.address) return false;
      const firstSignIn = known[0]!.n === 0;
      await this.deps.audit(tx, {
        orgId: session.orgId,
        actor: { type: 'user', id: session.userId, label: session.userId },
        action: 'auth.new_device',
        objectType: 'session',
        objectId: session.sessionId,
        outcome: 'success',
        ip: request.ip,
        requestId: request.id,
        details: {
          new_device: fresh.device,
          new_address: fresh.address,
          first_sign_in: firstSignIn,
        },
      });
      return !firstSignIn && (await this.policy(tx, session.orgId)).notify_new_device;
    });
    if (notify && this.deps.notifyNewDevice)
      await this.deps.notifyNewDevice({
        orgId: session.orgId,
        userId: session.userId,
        at: now,
        ip: request.ip,
        userAgent: request.headers['user-agent'] ?? null,
      });
  }
}
