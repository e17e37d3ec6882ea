import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { type Actor, isPermission, type Permission } from '../access-model/index.ts';

// Tokens look like spk_<16 hex>_<43 base64url>: the prefix lets secret scanners and people
// recognise a Sealpost key; the key id is public (lists, logs, rate limits), the secret is not.
const TOKEN = /^spk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: Date;
  created_by: { type: string; id: string };
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  /** Requests a minute this key may make; null: the default (SEALPOST_RATE_LIMIT_PER_KEY). */
  rate_limit_per_minute: number | null;
}

export interface NewApiKey {
  key: ApiKey;
  /** The whole token: shown once, never stored. */
  token: string;
}

interface ApiKeyRow {
  [column: string]: unknown;
  key_id: string;
  name: string;
  scopes: string[];
  created_by_type: string;
  created_by: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  rate_limit_per_minute: number | null;
}

const COLUMNS =
  'key_id, name, scopes, created_by_type, created_by, created_at, expires_at, last_used_at, revoked_at, rate_limit_per_minute';

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.key_id,
    name: row.name,
    prefix: `spk_${row.key_id}`,
    scopes: row.scopes,
    created_at: row.created_at,
    created_by: { type: row.created_by_type, id: row.created_by },
    expires_at: row.expires_at,
    last_used_at: row.last_used_at,
    revoked_at: row.revoked_at,
    rate_limit_per_minute: row.rate_limit_per_minute,
  };
}

export function validateScopes(scopes: readonly string[]): Permission[] {
  const unknown = scopes.filter((s) => !isPermission(s));
  if (unknown.length > 0)
    throw errors.validation(`Unknown scope: ${unknown.join(', ')}.`, { unknown_scopes: unknown });
  if (scopes.length === 0) throw errors.validation('An API key needs at least one scope.');
  return [...new Set(scopes)] as Permission[];
}

export async function createApiKey(
  q: Queryable,
  orgId: string,
  input: {
    name: string;
    scopes: readonly string[];
    expiresAt?: Date | null;
    rateLimitPerMinute?: number | null;
    createdBy: Actor;
  },
): Promise<NewApiKey> {
  const scopes = validateScopes(input.scopes);
  const keyId = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const { rows } = await q.query<ApiKeyRow>(
    `INSERT INTO api_keys (org_id, key_id, name, secret_hash, scopes, created_by_type, created_by, expires_at,
       rate_limit_per_minute)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
    [
      orgId,
      keyId,
      input.name,
      hashSecret(secret),
      scopes,
      input.createdBy.type,
      input.createdBy.id,
      input.expiresAt ?? null,
      input.rateLimitPerMinute ?? null,
    ],
  );
  return { key: toApiKey(rows[0]!), token: `spk_${keyId}_${secret}` };
}

export async function listApiKeys(q: Queryable, orgId: string): Promise<ApiKey[]> {
  const { rows } = await q.query<ApiKeyRow>(
    `SELECT ${COLUMNS} FROM api_keys WHERE org_id = $1 ORDER BY created_at, key_id`,
    [orgId],
  );
  return rows.map(toApiKey);
}

export async function getApiKey(q: Queryable, orgId: string, keyId: string): Promise<ApiKey | null> {
  const { rows } = await q.query<ApiKeyRow>(
    `SELECT ${COLUMNS} FROM api_keys WHERE org_id = $1 AND key_id = $2`,
    [orgId, keyId],
  );
  return rows[0] ? toApiKey(rows[0]) : null;
}

/** Changes what may change of a key (fields left undefined keep their value); null when there is no such key. */
export async function updateApiKey(
  q: Queryable,
  orgId: string,
  keyId: string,
  change: { name?: string; rateLimitPerMinute?: number | null },
): Promise<ApiKey | null> {
  const { rows } = await q.query<ApiKeyRow>(
    `UPDATE api_keys SET name = coalesce($3, name),
       rate_limit_per_minute = CASE WHEN $4 THEN $5::integer ELSE rate_limit_per_minute END
     WHERE org_id = $1 AND key_id = $2 RETURNING ${COLUMNS}`,
    [
      orgId,
      keyId,
      change.name ?? null,
      change.rateLimitPerMinute !== undefined,
      change.rateLimitPerMinute ?? null,
    ],
  );
  return rows[0] ? toApiKey(rows[0]) : null;
}

/**
 * Refuses (403) to let someone revoke or change a key that holds scopes they do not: a narrow key
 * or role cannot take away, or tamper with, a broader one.
 */
export function requireHeldScopes(key: Pick<ApiKey, 'scopes'>, held: readonly string[], verb: string): void {
  const beyond = key.scopes.filter((s) => !held.includes(s));
  if (beyond.length > 0)
    throw errors.forbidden(`You cannot ${verb} a key holding scopes you do not hold: ${beyond.join(', ')}.`);
}

/** Revokes the key; true when it was active until now. */
export async function revokeApiKey(q: Queryable, orgId: string, keyId: string): Promise<boolean> {
  const { rowCount } = await q.query(
    'UPDATE api_keys SET revoked_at = now() WHERE org_id = $1 AND key_id = $2 AND revoked_at IS NULL',
    [orgId, keyId],
  );
  return rowCount > 0;
}

export interface VerifiedKey {
  orgId: string;
  keyId: string;
  scopes: string[];
  lastUsedAt: Date | null;
  createdBy: { type: string; id: string };
  rateLimitPerMinute: number | null;
}

export type KeyCheck =
  | { ok: true; key: VerifiedKey }
  | {
      ok: false;
      reason: 'malformed' | 'unknown' | 'wrong_secret' | 'revoked' | 'expired';
      orgId?: string;
      keyId?: string;
    };

/** A key's record as authentication needs it (cached a few seconds: see auth-cache.ts). */
export interface StoredKey {
  orgId: string;
  keyId: string;
  secretHash: Buffer;
  scopes: string[];
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  orgActive: boolean;
  createdBy: { type: string; id: string };
  rateLimitPerMinute: number | null;
}

/** The key id and secret of a well-formed token; null when it is not one. */
export function parseToken(token: string): { keyId: string; secret: string } | null {
  const match = TOKEN.exec(token);
  return match ? { keyId: match[1]!, secret: match[2]! } : null;
}

export async function findApiKey(q: Queryable, keyId: string): Promise<StoredKey | null> {
  const { rows } = await q.query<{
    org_id: string;
    secret_hash: Buffer;
    scopes: string[];
    expires_at: Date | null;
    revoked_at: Date | null;
    last_used_at: Date | null;
    org_status: string;
    created_by_type: string;
    created_by: string;
    rate_limit_per_minute: number | null;
  }>(
    `SELECT k.org_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at, k.last_used_at, o.status AS org_status,
            k.created_by_type, k.created_by, k.rate_limit_per_minute
     FROM api_keys k JOIN organizations o ON o.org_id = k.org_id WHERE k.key_id = $1`,
    [keyId],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    orgId: row.org_id,
    keyId,
    secretHash: Buffer.from(row.secret_hash),
    scopes: row.scopes,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
    orgActive: row.org_status === 'active',
    createdBy: { type: row.created_by_type, id: row.created_by },
    rateLimitPerMinute: row.rate_limit_per_minute,
  };
}

/** Judges a presented secret against a key's record. The comparison takes the same time whatever they hold. */
export function judgeApiKey(stored: StoredKey | null, keyId: string, secret: string, now: Date): KeyCheck {
  if (!stored) return { ok: false, reason: 'unknown', keyId };
  const { orgId } = stored;
  if (!timingSafeEqual(stored.secretHash, hashSecret(secret)))
    return { ok: false, reason: 'wrong_secret', orgId, keyId };
  if (stored.revokedAt || !stored.orgActive) return { ok: false, reason: 'revoked', orgId, keyId };
  if (stored.expiresAt && stored.expiresAt <= now) return { ok: false, reason: 'expired', orgId, keyId };
  return {
    ok: true,
    key: {
      orgId,
      keyId,
      scopes: stored.scopes,
      lastUsedAt: stored.lastUsedAt,
      createdBy: stored.createdBy,
      rateLimitPerMinute: stored.rateLimitPerMinute,
    },
  };
}

export async function touchApiKey(q: Queryable, orgId: string, keyId: string): Promise<void> {
  await q.query('UPDATE api_keys SET last_used_at = now() WHERE org_id = $1 AND key_id = $2', [orgId, keyId]);
}
