import { randomBytes } from 'node:crypto';
import type { Resolver } from 'node:dns/promises';
import type { Queryable } from '../db/index.ts';
import { isVerifiedDomain, lookupTxt } from '../domains/index.ts';
import { errors } from '../errors/index.ts';

// The domains an organisation has proven it holds, for single sign-on. Only a proven domain finds
// the organisation by an address (the sign-in page's "work email"), and only addresses in the
// organisation's proven domains sign in through its provider, so an organisation can neither send
// another's staff to its provider nor sign into an account at a domain it does not hold. Proof is
// a TXT record with the claim's token, or a verified sending domain of the same organisation (its
// DKIM records were proof enough to send as it). A unique index lets one organisation at most hold
// a domain proven.

export type SsoProof = 'dns_txt' | 'sending_domain';

export interface SsoDomain {
  domain: string;
  status: 'pending' | 'verified';
  proof: SsoProof | null;
  /** The record that proves the domain (not needed once a sending domain proved it). */
  record: { type: 'TXT'; name: string; value: string };
  created_at: Date;
  last_checked_at: Date | null;
  verified_at: Date | null;
}

/** What a check found, for the person publishing the record. */
export interface SsoDomainCheck {
  claim: SsoDomain;
  /** How the domain is proven now (null: not yet). */
  proof: SsoProof | null;
  /** Why it is not proven yet (null once it is). */
  detail: string | null;
  /** The TXT values found at the record's name. */
  found: string[];
}

interface ClaimRow {
  domain: string;
  token: string;
  proof: SsoProof | null;
  created_at: Date;
  last_checked_at: Date | null;
  verified_at: Date | null;
}

export const recordName = (domain: string) => `_sealpost-sso.${domain}`;
const recordValue = (token: string) => `sealpost-sso=${token}`;

function viewOf(row: ClaimRow): SsoDomain {
  return {
    domain: row.domain,
    status: row.verified_at ? 'verified' : 'pending',
    proof: row.proof,
    record: { type: 'TXT', name: recordName(row.domain), value: recordValue(row.token) },
    created_at: row.created_at,
    last_checked_at: row.last_checked_at,
    verified_at: row.verified_at,
  };
}

const taken = () =>
  errors.conflict(
    'sso_domain_taken',
    'Another organisation has proven this domain for single sign-on: it signs in there. Ask Sealpost support if it is yours.',
  );

export async function listSsoDomains(q: Queryable, orgId: string, domain?: string): Promise<SsoDomain[]> {
  const { rows } = await q.query<ClaimRow & Record<string, unknown>>(
    `SELECT domain, token, proof, created_at, last_checked_at, verified_at FROM sso_domains
     WHERE org_id = $1 AND ($2::text IS NULL OR domain = $2) ORDER BY domain`,
    [orgId, domain ?? null],
  );
  return rows.map(viewOf);
}

async function findClaim(q: Queryable, orgId: string, domain: string): Promise<SsoDomain> {
  const [claim] = await listSsoDomains(q, orgId, domain);
  if (!claim) throw errors.notFound('The single sign-on domain');
  return claim;
}

/** The organisation's proven domains: the addresses that sign in through its provider. */
export async function provenDomains(q: Queryable, orgId: string): Promise<string[]> {
  const { rows } = await q.query<{ domain: string }>(
    'SELECT domain FROM sso_domains WHERE org_id = $1 AND verified_at IS NOT NULL ORDER BY domain',
    [orgId],
  );
  return rows.map((r) => r.domain);
}

export async function isProvenDomain(q: Queryable, orgId: string, domain: string): Promise<boolean> {
  const { rows } = await q.query(
    'SELECT 1 FROM sso_domains WHERE org_id = $1 AND domain = $2 AND verified_at IS NOT NULL',
    [orgId, domain],
  );
  return rows.length > 0;
}

/** A claim on a domain with its token (the same one when claimed again); refused when taken. */
export async function claimSsoDomain(
  q: Queryable,
  orgId: string,
  domain: string,
  now: Date,
): Promise<{ claim: SsoDomain; created: boolean }> {
  const { rows: holders } = await q.query(
    'SELECT 1 FROM sso_domains WHERE domain = $1 AND verified_at IS NOT NULL AND org_id <> $2',
    [domain, orgId],
  );
  if (holders.length > 0) throw taken();
  const { rowCount } = await q.query(
    `INSERT INTO sso_domains (org_id, domain, token, created_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (org_id, domain) DO NOTHING`,
    [orgId, domain, randomBytes(16).toString('hex'), now],
  );
  return { claim: await findClaim(q, orgId, domain), created: rowCount > 0 };
}

/**
 * Checks a claim, writing nothing: a verified sending domain of the organisation proves it,
 * otherwise the TXT record must carry the claim's token.
 */
export async function checkSsoDomain(
  deps: { db: Queryable; resolver: Resolver },
  orgId: string,
  domain: string,
): Promise<SsoDomainCheck> {
  const claim = await findClaim(deps.db, orgId, domain);
  if (claim.proof) return { claim, proof: claim.proof, detail: null, found: [] };
  if (await isVerifiedDomain(deps.db, orgId, domain))
    return { claim, proof: 'sending_domain', detail: null, found: [] };
  const { found, error } = await lookupTxt(deps.resolver, claim.record.name);
  const ours = found.filter((v) => v.trim().startsWith('sealpost-sso='));
  if (ours.some((v) => v.trim() === claim.record.value))
    return { claim, proof: 'dns_txt', detail: null, found };
  const detail = error
    ? `DNS lookup failed (${error})`
    : ours.length > 0
      ? `the sealpost-sso record at ${claim.record.name} has another token`
      : `no sealpost-sso record at ${claim.record.name} yet`;
  return { claim, proof: null, detail, found };
}

/** Records a check; true when it proved the domain just now (refused when another holds it). */
export async function recordSsoCheck(
  q: Queryable,
  orgId: string,
  domain: string,
  proof: SsoProof | null,
  now: Date,
): Promise<boolean> {
  try {
    const { rowCount } = await q.query(
      `UPDATE sso_domains SET last_checked_at = $3::timestamptz, proof = $4::text,
         verified_at = CASE WHEN $4::text IS NULL THEN NULL ELSE $3::timestamptz END
       WHERE org_id = $1 AND domain = $2 AND verified_at IS NULL`,
      [orgId, domain, now, proof],
    );
    return proof !== null && rowCount > 0;
  } catch (err) {
    // The unique index on proven domains: another organisation proved it first.
    if ((err as { code?: string }).code === '23505') throw taken();
    throw err;
  }
}

/** Gives a claim up (proven or not): the domain no longer signs in here and is free for others. */
export async function releaseSsoDomain(q: Queryable, orgId: string, domain: string): Promise<SsoDomain> {
  const claim = await findClaim(q, orgId, domain);
  await q.query('DELETE FROM sso_domains WHERE org_id = $1 AND domain = $2', [orgId, domain]);
  return claim;
}
