import { hostname } from 'node:os';
import { SYSTEM_ORG_ID } from '../audit/index.ts';
import type { Db } from '../db/index.ts';
import { HAND_BACK } from './queue.ts';

// Delivery workers say they are alive (migration 0031): each has a row in delivery_workers whose
// expires_at every heartbeat pushes on. A worker whose row expired is dead, and the next heartbeat
// of any live worker deletes the row and hands its claims back to the queue, so they are delivered
// within seconds, where a lease would hold them for minutes. Liveness is judged on the database's
// clock, which every worker shares.

/** Heartbeats in a row a worker may miss before it is taken for dead. */
export const MISSED_HEARTBEATS = 3;

export interface Heartbeat {
  /** False when the worker had no row: its first heartbeat, or it was taken for dead meanwhile. */
  known: boolean;
  /** Claims of dead workers handed back by this heartbeat. */
  released: number;
}

/**
 * Records that the worker is alive for `aliveSeconds` more, and hands back the claims of the
 * workers whose time ran out. A worker found dead by two others at once is handed back once: each
 * deletes only the rows it could lock.
 */
export function heartbeat(
  db: Db,
  worker: { workerId: string; aliveSeconds: number; now: Date },
): Promise<Heartbeat> {
  return db.transaction(async (tx) => {
    const { rows: own } = await tx.query<{ known: boolean }>(
      `INSERT INTO delivery_workers (org_id, worker_id, host, pid, started_at, heartbeat_at, expires_at)
       VALUES ($1, $2, $3, $4, now(), now(), now() + make_interval(secs => $5))
       ON CONFLICT (org_id, worker_id) DO UPDATE SET heartbeat_at = now(), expires_at = excluded.expires_at
       RETURNING started_at < heartbeat_at AS known`,
      [SYSTEM_ORG_ID, worker.workerId, hostname(), process.pid, worker.aliveSeconds],
    );
    const { rows: dead } = await tx.query<{ worker_id: string }>(
      `DELETE FROM delivery_workers WHERE org_id = $1 AND worker_id IN (
         SELECT worker_id FROM delivery_workers WHERE org_id = $1 AND expires_at < now() FOR UPDATE SKIP LOCKED)
       RETURNING worker_id`,
      [SYSTEM_ORG_ID],
    );
    let released = 0;
    if (dead.length > 0) {
      const result = await tx.query(
        `UPDATE message_recipients r SET ${HAND_BACK('$1')}
         WHERE r.claimed_by = ANY($2::uuid[]) AND r.claimed_by IS NOT NULL`,
        [worker.now, dead.map((d) => d.worker_id)],
      );
      released = result.rowCount;
    }
    return { known: own[0]!.known, released };
  });
}

/**
 * On the embedded database one process owns the data: whatever is claimed when its worker starts
 * was claimed by a process that died. Every claim is handed back at once, due at `now`.
 */
export function releaseAllClaims(db: Db, now: Date): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.query('DELETE FROM delivery_workers WHERE org_id = $1', [SYSTEM_ORG_ID]);
    const { rowCount } = await tx.query(
      `UPDATE message_recipients r SET ${HAND_BACK('$1')}
       WHERE (r.state = 'delivering' AND r.due_at IS NOT NULL) OR r.claimed_by IS NOT NULL`,
      [now],
    );
    return rowCount;
  });
}

/** A worker that stops hands its remaining claims back, due at `now`, and leaves the register. */
export function retire(db: Db, worker: { workerId: string; now: Date }): Promise<void> {
  return db.transaction(async (tx) => {
    await tx.query('DELETE FROM delivery_workers WHERE org_id = $1 AND worker_id = $2', [
      SYSTEM_ORG_ID,
      worker.workerId,
    ]);
    await tx.query(
      `UPDATE message_recipients r SET ${HAND_BACK('$1')}
       WHERE r.claimed_by = $2 AND r.claimed_by IS NOT NULL`,
      [worker.now, worker.workerId],
    );
  });
}
