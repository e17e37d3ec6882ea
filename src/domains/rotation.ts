// DKIM key rotation with overlap. A rotation adds a pending pair whose records the owner
// publishes next to the active ones; signing carries on with the active pair. Once a check finds
// the pending records, the pending pair signs and the old pair retires, its records kept listed
// for a while, so receivers can verify mail signed on either side of the switch.
import type { Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { dkimRecordName } from './records.ts';
import { insertKeys, type DomainView, type PreparedDomain } from './store.ts';
import type { DomainCheck } from './verify.ts';

/** Locks the domain's row: rotations and promotions of one domain take turns. */
async function lockDomain(q: Queryable, orgId: string, domain: string): Promise<boolean> {
  const { rows } = await q.query(
    'SELECT 1 FROM sending_domains WHERE org_id = $1 AND domain = $2 FOR UPDATE',
    [orgId, domain],
  );
  return rows.length > 0;
}

/** Stores prepared keys as pending; a 409 while an earlier rotation is still pending. */
export async function startRotation(q: Queryable, orgId: string, prepared: PreparedDomain): Promise<void> {
  if (!(await lockDomain(q, orgId, prepared.domain))) throw errors.notFound('The sending domain');
  const pending = await q.query(
    "SELECT 1 FROM dkim_keys WHERE org_id = $1 AND domain = $2 AND status = 'pending' LIMIT 1",
    [orgId, prepared.domain],
  );
  if (pending.rows.length > 0) throw rotationPending(prepared.domain);
  await insertKeys(q, orgId, prepared, 'pending');
}

export const rotationPending = (domain: string) =>
  errors.conflict(
    'dkim_rotation_pending',
    `A DKIM key rotation of ${domain} is already pending: publish its records and verify the domain.`,
  );

/** The selectors of the domain's pending keys when the check found every one's record right, else []. */
export function publishedPendingKeys(domain: DomainView, check: DomainCheck): string[] {
  const pending = domain.dkim.filter((k) => k.status === 'pending').map((k) => k.selector);
  const ok = (selector: string) =>
    check.records.some(
      (r) => r.purpose === 'dkim' && r.name === dkimRecordName(domain.domain, selector) && r.status === 'ok',
    );
  return pending.every(ok) ? pending : [];
}

/**
 * Ends a rotation: the pending keys named (those whose records were found) sign from now on and
 * the keys they replace retire. Null when they are no longer what is pending, because another
 * check promoted them first.
 */
export async function promotePendingKeys(
  q: Queryable,
  orgId: string,
  domain: string,
  selectors: string[],
  now: Date,
): Promise<{ active: string[]; retired: string[] } | null> {
  if (!(await lockDomain(q, orgId, domain))) return null;
  const pending = await q.query<{ selector: string }>(
    "SELECT selector FROM dkim_keys WHERE org_id = $1 AND domain = $2 AND status = 'pending'",
    [orgId, domain],
  );
  const current = pending.rows.map((r) => r.selector).sort();
  if (current.length === 0 || current.join() !== [...selectors].sort().join()) return null;
  // Retire first: at most one key per algorithm may be active.
  const retired = await q.query<{ selector: string }>(
    `UPDATE dkim_keys SET status = 'retired', retired_at = $3
     WHERE org_id = $1 AND domain = $2 AND status = 'active' RETURNING selector`,
    [orgId, domain, now],
  );
  await q.query(
    "UPDATE dkim_keys SET status = 'active' WHERE org_id = $1 AND domain = $2 AND status = 'pending'",
    [orgId, domain],
  );
  return { active: current, retired: retired.rows.map((r) => r.selector).sort() };
}
