import type { Db, Queryable } from '../db/index.ts';
import { FINAL_STATES, PRIORITY, type StoredMessage, type StoredRecipient } from '../messages/index.ts';
import type { RecipientPreference } from './preferences.ts';

// The delivery queue is `message_recipients` itself (migration 0025): a recipient whose `due_at`
// has come is waiting for a worker; a worker's claim sets `due_at` to the end of its lease and
// `claimed_by` to the worker, and the recorded outcome clears both or sets `due_at` to the next
// try. The claims of a worker that dies are handed back when its heartbeats stop (heartbeat.ts);
// the lease only bounds one delivery of a worker still alive. No job row is written, fetched or
// completed beside the recipient, which the delivery reads and writes anyway.

/** What a claim hands the worker: the recipient, what the choice of method needs, its message. */
export type Claimed = StoredRecipient & {
  preference: RecipientPreference | null;
  /** Whether the organisation has a valid key on file for the address (then it is looked up). */
  has_uploaded_keys: boolean;
  /** Claims since the last recorded outcome, this one included (more than one: a worker failed). */
  claims: number;
  message: StoredMessage;
};

type ClaimRow = Omit<Claimed, 'message'> & {
  [k: string]: unknown;
  m_created_at: Date;
  send_at: Date | null;
  from_address: string;
  from_domain: string;
  protection: StoredMessage['protection'];
  priority: StoredMessage['priority'];
  tags: string[];
  size_bytes: number;
  dlp: StoredMessage['dlp'];
  phi: boolean;
  rfc_message_id: string;
  content_sealed: Buffer;
  sandbox: boolean;
};

// One CTE per priority level, highest first, each taking what the levels above left of the limit:
// each is a range scan of the partial index (priority, due_at), so waiting retries and held leases
// are never read. (FOR UPDATE cannot be used under UNION, hence CTEs.)
const LEVELS = [...new Set(Object.values(PRIORITY))].sort((a, b) => b - a);
const DUE = LEVELS.map((level, i) => {
  const taken = LEVELS.slice(0, i).map((_, j) => ` - (SELECT count(*) FROM p${j})`);
  return `p${i} AS (SELECT ctid AS tid, org_id, message_id FROM message_recipients
    WHERE priority = ${level} AND due_at <= $1 ORDER BY due_at
    LIMIT $2${taken.join('')} FOR UPDATE SKIP LOCKED)`;
});

// A due recipient already in a final state (revoked or bounced by a report while it waited) only
// has its due_at cleared.
const CLAIM_SQL = `WITH ${DUE.join(',\n')},
  due AS (${LEVELS.map((_, i) => `SELECT * FROM p${i}`).join(' UNION ALL ')}),
  claimed AS (
    UPDATE message_recipients r SET
      state = CASE WHEN r.state = ANY($4::text[]) THEN r.state ELSE 'delivering' END,
      due_at = CASE WHEN r.state = ANY($4::text[]) THEN NULL ELSE $3::timestamptz END,
      claims = CASE WHEN r.state = ANY($4::text[]) THEN r.claims ELSE r.claims + 1 END,
      claimed_by = CASE WHEN r.state = ANY($4::text[]) THEN NULL ELSE $5::uuid END,
      updated_at = CASE WHEN r.state = ANY($4::text[]) THEN r.updated_at ELSE $1 END
    FROM due, messages m
    WHERE r.ctid = due.tid AND m.org_id = due.org_id AND m.message_id = due.message_id
    RETURNING r.org_id, r.recipient_id, r.message_id, r.position, r.kind, r.address, r.state, r.method,
      r.method_reason, r.attempts, r.claims, m.created_at AS m_created_at, m.send_at, m.from_address,
      m.from_domain, m.protection, m.priority, m.tags, m.size_bytes, m.dlp, m.phi, m.rfc_message_id,
      m.content_sealed, m.sandbox)
  SELECT c.*,
    (SELECT protection FROM recipient_preferences p WHERE p.org_id = c.org_id AND p.address = c.address)
      AS preference,
    EXISTS (SELECT 1 FROM recipient_keys k WHERE k.org_id = c.org_id AND k.address = lower(btrim(c.address))
      AND (k.expires_at IS NULL OR k.expires_at > $1)) AS has_uploaded_keys
  FROM claimed c WHERE c.state = 'delivering'
  ORDER BY c.priority = 'bulk', c.m_created_at`;

// A claim is a few key look-ups per recipient, and only that plan is allowed. The planner, left
// to itself with the statistics of a table that has just filled (a new installation's first
// campaign), joined the whole of an organisation's messages to every claim (growing with the
// table), or found each claimed row through an index on org_id alone; both cost many times the
// key look-ups (docs/benchmarks.md, the fourth pass). Claimed rows are therefore updated by the
// row address (ctid) the locking scan found, with sequential scans, hash and merge joins off for
// the statement.
const KEY_LOOKUPS_ONLY =
  'SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off';

/**
 * Claims up to `limit` due recipients for the worker `workerId`, for `leaseSeconds` at most,
 * transactional mail before bulk and the longest waiting first, skipping rows other workers hold.
 * Each comes with its stored preference, whether a key is on file for it (most have none, and are
 * then spared a look-up) and its message.
 */
export async function claimDue(
  db: Db,
  options: { workerId: string; limit: number; now: Date; leaseSeconds: number },
): Promise<Claimed[]> {
  const { workerId, limit, now, leaseSeconds } = options;
  const { rows } = await db.transaction(async (tx) => {
    await tx.exec(KEY_LOOKUPS_ONLY);
    return tx.query<ClaimRow>(CLAIM_SQL, [
      now,
      limit,
      new Date(now.getTime() + leaseSeconds * 1000),
      [...FINAL_STATES],
      workerId,
    ]);
  });
  return rows.map((r) => ({
    org_id: r.org_id,
    recipient_id: r.recipient_id,
    message_id: r.message_id,
    position: r.position,
    kind: r.kind,
    address: r.address,
    state: r.state,
    method: r.method,
    method_reason: r.method_reason,
    attempts: r.attempts,
    claims: r.claims,
    preference: r.preference,
    has_uploaded_keys: r.has_uploaded_keys,
    message: {
      org_id: r.org_id,
      message_id: r.message_id,
      created_at: r.m_created_at,
      send_at: r.send_at,
      from_address: r.from_address,
      from_domain: r.from_domain,
      protection: r.protection,
      priority: r.priority,
      tags: r.tags,
      size_bytes: r.size_bytes,
      dlp: r.dlp,
      phi: r.phi,
      rfc_message_id: r.rfc_message_id,
      content_sealed: r.content_sealed,
      sandbox: r.sandbox,
    },
  }));
}

/**
 * The assignments that hand a claimed row `r` back to the queue, due at the time in parameter
 * `at`, in the state it had before the claim. A row that left 'delivering' while claimed (revoked,
 * or bounced by a report) only loses its claim.
 */
export const HAND_BACK = (at: string) => `claimed_by = NULL,
  due_at = CASE WHEN r.state = 'delivering' THEN ${at}::timestamptz ELSE r.due_at END,
  state = CASE WHEN r.state <> 'delivering' THEN r.state WHEN r.attempts > 0 THEN 'deferred' ELSE 'queued' END`;

/**
 * Hands a claim of the worker `workerId` back after its delivery failed to record an outcome (the
 * database, most likely): it is due again at `at`. A no-op once the recipient left 'delivering' or
 * the claim passed to another worker.
 */
export async function releaseClaim(
  q: Queryable,
  workerId: string,
  recipient: Pick<StoredRecipient, 'org_id' | 'recipient_id'>,
  at: Date,
): Promise<void> {
  await q.query(
    `UPDATE message_recipients r SET ${HAND_BACK('$3')}
     WHERE org_id = $1 AND recipient_id = $2 AND state = 'delivering' AND claimed_by = $4`,
    [recipient.org_id, recipient.recipient_id, at, workerId],
  );
}

export interface DeliveryQueueStats {
  /** Due now (a held lease that ran out counts: its worker died). */
  queued: number;
  /** Held by a worker under a lease. */
  active: number;
  /** Waiting for a later try (a deferral, or a send_at to come). */
  deferred: number;
  /** Of all the above, those a worker already failed to finish at least once (counted twice). */
  failed: number;
  /** How long the oldest held claim has been held, in seconds. */
  oldestActiveSeconds: number;
}

/** The queue's counts, for metrics: a scan of the due-index's rows only. */
export async function deliveryQueueStats(q: Queryable, now: Date): Promise<DeliveryQueueStats> {
  const { rows } = await q.query<{
    queued: number;
    active: number;
    deferred: number;
    failed: number;
    oldest: number | null;
  }>(
    `SELECT count(*) FILTER (WHERE due_at <= $1)::int AS queued,
       count(*) FILTER (WHERE due_at > $1 AND state = 'delivering')::int AS active,
       count(*) FILTER (WHERE due_at > $1 AND state <> 'delivering')::int AS deferred,
       count(*) FILTER (WHERE claims > 1 OR state <> 'delivering' AND claims > 0)::int AS failed,
       extract(epoch FROM $1 - min(updated_at) FILTER (WHERE due_at > $1 AND state = 'delivering'))::float8 AS oldest
     FROM message_recipients WHERE due_at IS NOT NULL`,
    [now],
  );
  const r = rows[0]!;
  return {
    queued: r.queued,
    active: r.active,
    deferred: r.deferred,
    failed: r.failed,
    oldestActiveSeconds: r.oldest ?? 0,
  };
}
