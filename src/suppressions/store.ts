import type { Queryable } from '../db/index.ts';

/** `unsubscribe` holds back marketing mail only; the others hold back all mail. */
export type SuppressionReason = 'hard_bounce' | 'complaint' | 'manual' | 'unsubscribe';

export interface Suppression {
  address: string;
  reason: SuppressionReason;
  detail: string | null;
  message_id: string | null;
  created_at: Date;
}

/** Which of these (lower-case) addresses the organisation must not send to. */
export async function suppressedAmong(
  q: Queryable,
  orgId: string,
  addresses: string[],
): Promise<Suppression[]> {
  if (addresses.length === 0) return [];
  const { rows } = await q.query<Suppression & { [k: string]: unknown }>(
    `SELECT address, reason, detail, message_id, created_at FROM suppressions
     WHERE org_id = $1 AND address = ANY($2::text[])`,
    [orgId, addresses],
  );
  return rows;
}

/**
 * suppressedAmong for many look-ups at once (each an organisation and its addresses), in one
 * statement: one answer per look-up, in order.
 */
export async function suppressedAmongMany(
  q: Queryable,
  lookups: { orgId: string; addresses: string[] }[],
): Promise<Suppression[][]> {
  const pairs = lookups.flatMap((l) => l.addresses.map((address) => [l.orgId, address] as const));
  if (pairs.length === 0) return lookups.map(() => []);
  const { rows } = await q.query<Suppression & { [k: string]: unknown; org_id: string }>(
    `SELECT s.org_id, s.address, s.reason, s.detail, s.message_id, s.created_at FROM suppressions s
     JOIN (SELECT DISTINCT org_id, address FROM unnest($1::uuid[], $2::text[]) AS w (org_id, address)) w
       ON s.org_id = w.org_id AND s.address = w.address`,
    [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
  );
  return lookups.map((l) =>
    rows
      .filter((r) => r.org_id === l.orgId && l.addresses.includes(r.address))
      .map(({ org_id: _org, ...s }) => s as Suppression),
  );
}

/**
 * Suppresses an address. An address already suppressed keeps its first reason, except that any
 * other reason replaces an unsubscribe (which held back marketing mail only).
 */
export async function suppress(
  q: Queryable,
  orgId: string,
  entry: { address: string; reason: SuppressionReason; detail?: string; messageId?: string },
): Promise<void> {
  await q.query(
    `INSERT INTO suppressions (org_id, address, reason, detail, message_id) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (org_id, address) DO UPDATE SET reason = EXCLUDED.reason, detail = EXCLUDED.detail,
       message_id = EXCLUDED.message_id, created_at = now()
     WHERE suppressions.reason = 'unsubscribe' AND EXCLUDED.reason <> 'unsubscribe'`,
    [orgId, entry.address.toLowerCase(), entry.reason, entry.detail ?? null, entry.messageId ?? null],
  );
}

export async function listSuppressions(
  q: Queryable,
  orgId: string,
  options: { after?: string; limit: number; address?: string },
): Promise<Suppression[]> {
  const { rows } = await q.query<Suppression & { [k: string]: unknown }>(
    `SELECT address, reason, detail, message_id, created_at FROM suppressions
     WHERE org_id = $1 AND ($2::text IS NULL OR address > $2) AND ($3::text IS NULL OR address = $3)
     ORDER BY address LIMIT $4`,
    [orgId, options.after ?? null, options.address ?? null, options.limit],
  );
  return rows;
}

export async function removeSuppression(q: Queryable, orgId: string, address: string): Promise<boolean> {
  const { rowCount } = await q.query('DELETE FROM suppressions WHERE org_id = $1 AND address = $2', [
    orgId,
    address.toLowerCase(),
  ]);
  return rowCount > 0;
}
