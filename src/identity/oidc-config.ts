import { isIP } from 'node:net';
import type { Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { roleExists } from './roles.ts';

// An organisation's single sign-on settings (OpenID Connect): which provider, which client, how a
// claim maps to a role, whether users are made on their first sign-in, whether the provider's MFA
// stands for a user's own factors, and whether passwords are still allowed. Which addresses sign
// in is not a setting: those of the organisation's proven domains (oidc-domains.ts). The client
// secret is sealed under the organisation's key and never leaves this module in clear except
// towards the provider.

export interface RoleMapping {
  /** A value of the role claim (e.g. a group name or id). */
  value: string;
  role: string;
}

export interface SsoSettings {
  slug: string | null;
  enabled: boolean;
  issuer: string;
  client_id: string;
  role_claim: string;
  role_mappings: RoleMapping[];
  default_role: string | null;
  password_sign_in: boolean;
  trust_provider_mfa: boolean;
}

/** What GET /v1/sso shows: the settings, never the secret. */
export interface SsoView extends SsoSettings {
  /** The organisation's proven domains: only verified addresses in them sign in. */
  allowed_domains: string[];
  client_secret_set: boolean;
  redirect_uri: string;
  last_success_at: Date | null;
  updated_at: Date;
}

export interface StoredSso extends SsoSettings {
  org_id: string;
  client_secret: Buffer;
  last_success_at: Date | null;
  updated_at: Date;
}

export type SsoChange = Partial<SsoSettings> & { client_secret?: string };

const COLUMNS = `org_id, slug, enabled, issuer, client_id, client_secret, role_claim, role_mappings,
  default_role, password_sign_in, trust_provider_mfa, last_success_at, updated_at`;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

export const secretBinding = (orgId: string) => ({ table: 'sso_configs', row: orgId });

/** Plain http is for a provider on this machine only (a test or a local provider). */
export function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export function checkIssuer(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw errors.validation('issuer must be a URL, e.g. https://login.example.com.');
  }
  if (url.search || url.hash || url.username || url.password)
    throw errors.validation('issuer must have no query, fragment or credentials.');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url)))
    throw errors.validation('issuer must use https (plain http only on this machine, e.g. 127.0.0.1).');
  // Kept exactly as given: the provider's metadata and its tokens' iss must match it as a string.
  return value;
}

export async function readSso(q: Queryable, orgId: string): Promise<StoredSso | null> {
  const { rows } = await q.query<StoredSso & Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM sso_configs WHERE org_id = $1`,
    [orgId],
  );
  return rows[0] ? { ...rows[0], client_secret: Buffer.from(rows[0].client_secret) } : null;
}

/**
 * The organisation whose single sign-on an anonymous visitor asks for: by id or slug, or by the
 * domain of their address when an organisation proved it (one at most can). Active ones only.
 */
export async function findSso(
  q: Queryable,
  by: { org?: string | undefined; email?: string | undefined },
): Promise<StoredSso | null> {
  const prefixed = COLUMNS.split(',')
    .map((c) => `s.${c.trim()}`)
    .join(', ');
  const base = `SELECT ${prefixed} FROM sso_configs s JOIN organizations o ON o.org_id = s.org_id
    WHERE o.status = 'active' AND s.enabled`;
  let rows: (StoredSso & Record<string, unknown>)[];
  if (by.org) {
    const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(by.org);
    ({ rows } = await q.query<StoredSso & Record<string, unknown>>(
      `${base} AND ${isUuid ? 's.org_id = $1::uuid' : 's.slug = lower($1)'}`,
      [by.org],
    ));
  } else {
    const domain = domainOf(by.email ?? '');
    if (!domain) return null;
    ({ rows } = await q.query<StoredSso & Record<string, unknown>>(
      `${base} AND EXISTS (SELECT 1 FROM sso_domains d
         WHERE d.org_id = s.org_id AND d.domain = $1 AND d.verified_at IS NOT NULL)`,
      [domain],
    ));
  }
  return rows[0] ? { ...rows[0], client_secret: Buffer.from(rows[0].client_secret) } : null;
}

export function domainOf(email: string): string | null {
  const at = email.lastIndexOf('@');
  if (at < 1) return null;
  const domain = email.slice(at + 1).toLowerCase();
  return DOMAIN.test(domain) ? domain : null;
}

export function viewOf(stored: StoredSso, redirectUri: string, allowedDomains: string[]): SsoView {
  return {
    slug: stored.slug,
    enabled: stored.enabled,
    issuer: stored.issuer,
    client_id: stored.client_id,
    allowed_domains: allowedDomains,
    role_claim: stored.role_claim,
    role_mappings: stored.role_mappings,
    default_role: stored.default_role,
    password_sign_in: stored.password_sign_in,
    trust_provider_mfa: stored.trust_provider_mfa,
    client_secret_set: stored.client_secret.length > 0,
    redirect_uri: redirectUri,
    last_success_at: stored.last_success_at,
    updated_at: stored.updated_at,
  };
}

/**
 * Writes the settings (a first PUT must give issuer, client id and secret). SSO-only
 * (password_sign_in: false) needs an SSO sign-in that worked with this issuer and client first,
 * so nobody locks their organisation out with a provider that does not work. Another provider
 * starts untrusted for MFA: trust is given to one provider, not to whichever comes next.
 */
export async function writeSso(
  q: Queryable,
  orgId: string,
  change: SsoChange,
  /** The new client secret, sealed beforehand (sealing reads keys outside this transaction). */
  sealedSecret: Buffer | undefined,
  now: Date,
): Promise<{ stored: StoredSso; changed: string[] }> {
  const before = await readSso(q, orgId);
  if (!before && (!change.issuer || !change.client_id || !sealedSecret))
    throw errors.validation('The first configuration needs issuer, client_id and client_secret.');
  const issuer = change.issuer !== undefined ? checkIssuer(change.issuer) : before!.issuer;
  const clientId = change.client_id ?? before!.client_id;
  const providerChanged = !before || issuer !== before.issuer || clientId !== before.client_id;
  const mappings = change.role_mappings ?? before?.role_mappings ?? [];
  const defaultRole =
    change.default_role !== undefined ? change.default_role : (before?.default_role ?? null);
  // Owners are made in Sealpost, never by a claim: they are the way back in when SSO fails.
  for (const role of [...mappings.map((m) => m.role), ...(defaultRole ? [defaultRole] : [])]) {
    if (role === 'owner') throw errors.validation('The owner role cannot come from single sign-on.');
    if (!(await roleExists(q, orgId, role))) throw errors.validation(`Unknown role "${role}".`);
  }
  const lastSuccess = providerChanged ? null : (before?.last_success_at ?? null);
  const passwordSignIn = change.password_sign_in ?? (providerChanged ? true : before!.password_sign_in);
  const trustMfa = change.trust_provider_mfa ?? (providerChanged ? false : before!.trust_provider_mfa);
  const enabled = change.enabled ?? before?.enabled ?? true;
  if (!passwordSignIn && (!lastSuccess || !enabled))
    throw errors.conflict(
      'sso_not_proven',
      'Turn passwords off only after a single sign-on with this issuer and client worked (sign in once through it first).',
    );
  const secret = sealedSecret ?? before!.client_secret;
  const slug = change.slug !== undefined ? change.slug : (before?.slug ?? null);
  const roleClaim = change.role_claim ?? before?.role_claim ?? 'groups';
  try {
    await q.query(
      `INSERT INTO sso_configs (org_id, slug, enabled, issuer, client_id, client_secret, trust_provider_mfa,
         role_claim, role_mappings, default_role, password_sign_in, last_success_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13)
       ON CONFLICT (org_id) DO UPDATE SET slug = $2, enabled = $3, issuer = $4, client_id = $5,
         client_secret = $6, trust_provider_mfa = $7, role_claim = $8, role_mappings = $9::jsonb,
         default_role = $10, password_sign_in = $11, last_success_at = $12, updated_at = $13`,
      [
        orgId,
        slug,
        enabled,
        issuer,
        clientId,
        secret,
        trustMfa,
        roleClaim,
        JSON.stringify(mappings),
        defaultRole,
        passwordSignIn,
        lastSuccess,
        now,
      ],
    );
  } catch (err) {
    if ((err as { code?: string }).code === '23505')
      throw errors.conflict('slug_taken', 'Another organisation uses this slug.');
    throw err;
  }
  const changed = Object.keys(change).sort();
  return { stored: (await readSso(q, orgId))!, changed };
}

/**
 * Whether the organisation has turned passwords off (SSO-only). Owners keep theirs as the way back
 * in: callers let them through (and record it).
 */
export async function ssoOnly(q: Queryable, orgId: string): Promise<boolean> {
  const { rows } = await q.query<{ password_sign_in: boolean }>(
    'SELECT password_sign_in FROM sso_configs WHERE org_id = $1 AND enabled',
    [orgId],
  );
  return rows[0] ? !rows[0].password_sign_in : false;
}
