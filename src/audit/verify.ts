import type { Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { eventHash, GENESIS_HASH } from './hash.ts';
import { type AuditEventRow, EVENT_COLUMNS, eventFromRow } from './types.ts';

/**
 * Why a chain is broken, at the first event found wrong:
 * - `hash_mismatch`: the event's fields no longer give its hash (the event was edited);
 * - `link_broken`: its prev_hash is not the previous event's hash (events reordered or replaced);
 * - `missing_event`: the seq before it is absent (an event was deleted);
 * - `head_mismatch`: the chain ends elsewhere than its recorded head (tail deleted, head missing).
 */
export type AuditBreakReason = 'hash_mismatch' | 'link_broken' | 'missing_event' | 'head_mismatch';

export interface AuditVerifyOk {
  ok: true;
  /** Chains verified (one per organisation that has audit events, plus the system chain). */
  chains: number;
  /** Events verified in all chains. */
  events: number;
  /**
   * With `orgId`: the chain's head, to record elsewhere. A later verify that still finds this hash
   * at this seq shows that nobody rewrote the chain up to it, even with database superuser rights.
   */
  head?: { seq: number; hash: string };
}

export interface AuditVerifyBroken {
  ok: false;
  orgId: string;
  /** The first broken event's position; for a truncated tail, the first missing position. */
  seq: number;
  /** The event found at that position, or null when there is none. */
  eventId: string | null;
  reason: AuditBreakReason;
  /** One sentence for people. */
  detail: string;
  chains: number;
  events: number;
}

export type AuditVerifyResult = AuditVerifyOk | AuditVerifyBroken;

export interface VerifyOptions {
  /** Verifies this organisation's chain only (SYSTEM_ORG_ID for the system chain). */
  orgId?: string;
  /** Called every `progressEvery` events with a line for people. */
  onProgress?: (line: string) => void;
  progressEvery?: number;
  /** Events read per query. */
  pageSize?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Walks every chain (or one) in seq order, a page at a time, recomputing each event's hash and
 * checking that seqs follow without gaps, that each event links to the one before, and that the
 * chain ends at its recorded head. Stops at the first broken event and names it.
 *
 * Needs no lock and no long transaction: events appended while it runs are either verified too or
 * left for the next run, never reported as a break.
 */
export async function verifyAudit(db: Queryable, options: VerifyOptions = {}): Promise<AuditVerifyResult> {
  const pageSize = options.pageSize ?? 1000;
  const progressEvery = options.progressEvery ?? 10_000;
  const progress = options.onProgress ?? (() => {});
  let orgIds: string[];
  if (options.orgId !== undefined) {
    if (!UUID.test(options.orgId)) throw errors.badRequest('The organisation id must be a UUID.');
    orgIds = [options.orgId.toLowerCase()];
  } else {
    orgIds = await chainIds(db);
  }

  const totals = { chains: 0, events: 0 };
  let head: AuditVerifyOk['head'];
  for (const orgId of orgIds) {
    const result = await verifyChain(db, orgId, pageSize, () => {
      totals.events++;
      if (totals.events % progressEvery === 0) {
        progress(`verified ${totals.events} audit events (chain ${totals.chains + 1} of ${orgIds.length})`);
      }
    });
    if (!result.ok) return { ...result.broken, ...totals };
    if (result.exists) totals.chains++;
    head = result.head;
  }
  return options.orgId !== undefined && head ? { ok: true, ...totals, head } : { ok: true, ...totals };
}

/** Every chain: those with a head, and any whose events lost their head. */
async function chainIds(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ org_id: string }>(
    `SELECT org_id FROM audit_heads
     UNION
     SELECT DISTINCT org_id FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM audit_heads h WHERE h.org_id = e.org_id)`,
  );
  return rows.map((r) => r.org_id).sort();
}

type Broken = Omit<AuditVerifyBroken, 'chains' | 'events'>;
type ChainResult =
  | { ok: true; exists: boolean; head: { seq: number; hash: string } | undefined }
  | { ok: false; broken: Broken };

async function verifyChain(
  db: Queryable,
  orgId: string,
  pageSize: number,
  counted: () => void,
): Promise<ChainResult> {
  let seq = 0;
  let hash = GENESIS_HASH;
  let eventId: string | null = null;
  const broken = (reason: Broken['reason'], at: number, id: string | null, detail: string): ChainResult => ({
    ok: false,
    broken: { ok: false, orgId, seq: at, eventId: id, reason, detail },
  });
  const page = () =>
    db.query<AuditEventRow>(
      `SELECT ${EVENT_COLUMNS} FROM audit_events WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [orgId, seq, pageSize],
    );

  let { rows } = await page();
  for (;;) {
    for (const row of rows) {
      const event = eventFromRow(row);
      if (event.seq !== seq + 1) {
        const gap =
          event.seq - 1 > seq + 1 ? `events ${seq + 1} to ${event.seq - 1} are` : `event ${seq + 1} is`;
        return broken('missing_event', event.seq, event.eventId, `${gap} missing before this event.`);
      }
      if (!event.prevHash.equals(hash)) {
        return broken(
          'link_broken',
          event.seq,
          event.eventId,
          seq === 0
            ? 'The first event does not start from the zero hash.'
            : `This event does not follow event ${seq}: the chain was reordered or rewritten.`,
        );
      }
      if (!eventHash(event.prevHash, event).equals(event.hash)) {
        return broken(
          'hash_mismatch',
          event.seq,
          event.eventId,
          'This event was changed after it was recorded.',
        );
      }
      seq = event.seq;
      hash = event.hash;
      eventId = event.eventId;
      counted();
    }
    if (rows.length === pageSize) {
      ({ rows } = await page());
      continue;
    }
    // The end of the events read so far: compare with the head. A head read now may have moved on
    // (appends committed meanwhile); every event up to it is committed with it, so read on.
    const head = await readHead(db, orgId);
    if (head && head.seq > seq) {
      ({ rows } = await page());
      if (rows.length > 0) continue;
      return broken(
        'head_mismatch',
        seq + 1,
        null,
        `The chain's head is at event ${head.seq} but the last event is ${seq}: the events after it were deleted.`,
      );
    }
    if (!head) {
      if (seq === 0) return { ok: true, exists: false, head: undefined };
      return broken('head_mismatch', seq, eventId, 'The chain has events but its head record is missing.');
    }
    if (head.seq < seq) {
      const { rows: after } = await db.query<{ event_id: string }>(
        'SELECT event_id FROM audit_events WHERE org_id = $1 AND seq = $2',
        [orgId, head.seq + 1],
      );
      return broken(
        'head_mismatch',
        head.seq + 1,
        after[0]?.event_id ?? null,
        `The chain's head is at event ${head.seq}, but events after it exist: they were added outside the audit module.`,
      );
    }
    if (!head.hash.equals(hash)) {
      return broken('head_mismatch', seq, eventId, "The last event's hash differs from the chain's head.");
    }
    return { ok: true, exists: true, head: { seq, hash: hash.toString('hex') } };
  }
}

async function readHead(db: Queryable, orgId: string): Promise<{ seq: number; hash: Buffer } | null> {
  const { rows } = await db.query<{ seq: number | string; hash: Uint8Array }>(
    'SELECT seq, hash FROM audit_heads WHERE org_id = $1',
    [orgId],
  );
  return rows[0] ? { seq: Number(rows[0].seq), hash: Buffer.from(rows[0].hash) } : null;
}

/** The verification result on the wire: snake_case, as the API and `--json` show it. */
export function auditVerifyJson(result: AuditVerifyResult) {
  if (result.ok) {
    return {
      ok: true as const,
      chains: result.chains,
      events: result.events,
      ...(result.head ? { head: result.head } : {}),
    };
  }
  return {
    ok: false as const,
    org_id: result.orgId,
    seq: result.seq,
    event_id: result.eventId,
    reason: result.reason,
    detail: result.detail,
    chains: result.chains,
    events: result.events,
  };
}
