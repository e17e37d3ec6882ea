// What an attacker with database superuser (or table owner) rights can do to the audit trail:
// switch the append-only triggers off, rewrite rows, switch them back on. The three rewrites below
// are the ones that passed `audit verify` before signed checkpoints.
import { type AuditEventRow, EVENT_COLUMNS, eventFromRow, eventHash } from '../../src/audit/index.ts';
import type { Db, Transaction } from '../../src/db/index.ts';

const GUARDED = ['audit_events', 'audit_heads', 'audit_checkpoints'];

export async function asSuperuser(db: Db, fn: (tx: Transaction) => Promise<unknown>): Promise<void> {
  await db.transaction(async (tx) => {
    for (const t of GUARDED) await tx.query(`ALTER TABLE ${t} DISABLE TRIGGER USER`);
    await fn(tx);
    for (const t of GUARDED) await tx.query(`ALTER TABLE ${t} ENABLE TRIGGER USER`);
  });
}

/** Deletes the events after `keep` and moves the head back onto event `keep`. */
export async function cutTail(tx: Transaction, orgId: string, keep: number): Promise<void> {
  await tx.query('DELETE FROM audit_events WHERE org_id = $1 AND seq > $2', [orgId, keep]);
  await tx.query(
    `UPDATE audit_heads h SET seq = e.seq, hash = e.hash FROM audit_events e
     WHERE h.org_id = $1 AND e.org_id = $1 AND e.seq = $2`,
    [orgId, keep],
  );
}

/** Deletes a whole chain with its head. */
export async function deleteChain(tx: Transaction, orgId: string): Promise<void> {
  await tx.query('DELETE FROM audit_events WHERE org_id = $1', [orgId]);
  await tx.query('DELETE FROM audit_heads WHERE org_id = $1', [orgId]);
}

/** Edits event `seq`'s action, then recomputes its hash, every later one and the head's. */
export async function rehash(tx: Transaction, orgId: string, seq: number): Promise<void> {
  const { rows } = await tx.query<AuditEventRow>(
    `SELECT ${EVENT_COLUMNS} FROM audit_events WHERE org_id = $1 AND seq >= $2 ORDER BY seq`,
    [orgId, seq],
  );
  let prev = eventFromRow(rows[0]!).prevHash;
  for (const row of rows) {
    const event = eventFromRow(row);
    if (event.seq === seq) event.action = 'audit.rewritten';
    const hash = eventHash(prev, event);
    await tx.query(
      'UPDATE audit_events SET action = $3, prev_hash = $4, hash = $5 WHERE org_id = $1 AND seq = $2',
      [orgId, event.seq, event.action, prev, hash],
    );
    prev = hash;
  }
  await tx.query('UPDATE audit_heads SET hash = $2 WHERE org_id = $1', [orgId, prev]);
}
