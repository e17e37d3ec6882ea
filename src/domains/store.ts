import type { Keyring } from '../crypto/index.ts';
import type { Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { type DkimAlgorithm, type DkimKeyStatus, generateDkimKeys } from './dkim.ts';
import { type DnsRecord, expectedRecords, type SendingHost } from './records.ts';
import type { DomainCheck } from './verify.ts';

export interface DomainView {
  domain: string;
  status: 'pending' | 'verified';
  created_at: Date;
  verified_at: Date | null;
  last_checked_at: Date | null;
  dkim: {
    selector: string;
    algorithm: DkimAlgorithm;
    status: DkimKeyStatus;
    created_at: Date;
    retired_at: Date | null;
  }[];
  records: DnsRecord[];
  last_check: DomainCheck | null;
}

interface DomainRow {
  [column: string]: unknown;
  domain: string;
  status: 'pending' | 'verified';
  created_at: Date;
  verified_at: Date | null;
  last_checked_at: Date | null;
  last_check: DomainCheck | null;
}

interface KeyRow {
  [column: string]: unknown;
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  public_key: string;
  status: DkimKeyStatus;
  created_at: Date;
  retired_at: Date | null;
}

export interface PreparedDomain {
  domain: string;
  keys: { selector: string; algorithm: DkimAlgorithm; publicKey: string; sealed: Buffer }[];
}

/**
 * Fresh DKIM keys for a domain, their private halves sealed. Done before the transaction that
 * stores them: sealing reads the organisation's key, and the embedded database serves one
 * transaction at a time.
 */
export async function prepareDomain(
  keyring: Keyring,
  orgId: string,
  domain: string,
): Promise<PreparedDomain> {
  const keys = await Promise.all(
    generateDkimKeys().map(async (k) => ({
      selector: k.selector,
      algorithm: k.algorithm,
      publicKey: k.publicKey,
      sealed: await keyring.seal(orgId, dkimBinding(domain, k.selector), k.privateKeyPem),
    })),
  );
  return { domain, keys };
}

export const dkimBinding = (domain: string, selector: string) => ({
  table: 'dkim_keys',
  row: `${domain}/${selector}`,
});

/** Stores a prepared domain; a 409 when the organisation has it already. */
export async function addDomain(q: Queryable, orgId: string, prepared: PreparedDomain): Promise<void> {
  const inserted = await q.query(
    'INSERT INTO sending_domains (org_id, domain) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING domain',
    [orgId, prepared.domain],
  );
  if (inserted.rowCount === 0)
    throw errors.conflict('domain_exists', `${prepared.domain} is already a sending domain.`);
  await insertKeys(q, orgId, prepared, 'active');
}

export async function insertKeys(
  q: Queryable,
  orgId: string,
  prepared: PreparedDomain,
  status: 'active' | 'pending',
): Promise<void> {
  for (const k of prepared.keys) {
    await q.query(
      `INSERT INTO dkim_keys (org_id, domain, selector, algorithm, public_key, private_key_sealed, status)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [orgId, prepared.domain, k.selector, k.algorithm, k.publicKey, k.sealed, status],
    );
  }
}

export async function listDomains(
  q: Queryable,
  orgId: string,
  sender: SendingHost,
  now: Date,
  domain?: string,
): Promise<DomainView[]> {
  const filter = domain ? ' AND domain = $2' : '';
  const params = domain ? [orgId, domain] : [orgId];
  const domains = await q.query<DomainRow>(
    `SELECT domain, status, created_at, verified_at, last_checked_at, last_check
     FROM sending_domains WHERE org_id = $1${filter} ORDER BY domain`,
    params,
  );
  // The keys signing now, then those waiting to, then the retired ones, newest first.
  const keys = await q.query<KeyRow>(
    `SELECT domain, selector, algorithm, public_key, status, created_at, retired_at FROM dkim_keys
     WHERE org_id = $1${filter}
     ORDER BY domain, CASE status WHEN 'active' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END,
       created_at DESC, algorithm DESC`,
    params,
  );
  return domains.rows.map((d): DomainView => {
    const own = keys.rows.filter((k) => k.domain === d.domain);
    return {
      ...d,
      dkim: own.map((k) => ({
        selector: k.selector,
        algorithm: k.algorithm,
        status: k.status,
        created_at: k.created_at,
        retired_at: k.retired_at,
      })),
      records: expectedRecords(
        d.domain,
        own.map((k) => ({
          selector: k.selector,
          algorithm: k.algorithm,
          publicKey: k.public_key,
          status: k.status,
          retiredAt: k.retired_at,
        })),
        sender,
        now,
      ),
    };
  });
}

/** Stores a check; the domain becomes verified when the check passes, and stays so once verified. */
export async function recordCheck(q: Queryable, orgId: string, domain: string, check: DomainCheck) {
  await q.query(
    `UPDATE sending_domains SET last_checked_at = $3, last_check = $4,
       status = CASE WHEN $5 THEN 'verified' ELSE status END,
       verified_at = CASE WHEN $5 AND verified_at IS NULL THEN $3 ELSE verified_at END
     WHERE org_id = $1 AND domain = $2`,
    [orgId, domain, check.checked_at, JSON.stringify(check), check.verified],
  );
}

/** Whether the organisation may send as this domain: it is theirs and its DNS records checked out. */
export async function isVerifiedDomain(q: Queryable, orgId: string, domain: string): Promise<boolean> {
  const { rows } = await q.query(
    "SELECT 1 FROM sending_domains WHERE org_id = $1 AND domain = $2 AND status = 'verified'",
    [orgId, domain],
  );
  return rows.length > 0;
}

export interface DkimSigningKey {
  selector: string;
  algorithm: DkimAlgorithm;
  privateKeyPem: string;
}

/** The DKIM keys to sign with now (the active ones, never pending or retired), their private halves opened. */
export async function dkimSigningKeys(
  q: Queryable,
  keyring: Keyring,
  orgId: string,
  domain: string,
): Promise<DkimSigningKey[]> {
  const { rows } = await q.query<{ selector: string; algorithm: DkimAlgorithm; private_key_sealed: Buffer }>(
    `SELECT selector, algorithm, private_key_sealed FROM dkim_keys
     WHERE org_id = $1 AND domain = $2 AND status = 'active' ORDER BY algorithm DESC, created_at`,
    [orgId, domain],
  );
  return Promise.all(
    rows.map(async (r) => ({
      selector: r.selector,
      algorithm: r.algorithm,
      privateKeyPem: await keyring.openText(orgId, dkimBinding(domain, r.selector), r.private_key_sealed),
    })),
  );
}

/**
 * Marks a domain verified without asking DNS. Only for the sandbox, whose mail never leaves: its
 * demo domain has nobody to publish records for it.
 */
export async function verifyForSandbox(
  q: Queryable,
  orgId: string,
  domain: string,
  now: Date,
): Promise<void> {
  await q.query(
    `UPDATE sending_domains SET status = 'verified', verified_at = $3, last_checked_at = $3
     WHERE org_id = $1 AND domain = $2`,
    [orgId, domain, now],
  );
}
