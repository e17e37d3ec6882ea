import { createHash } from 'node:crypto';
import type { Db, Queryable } from '../db/index.ts';
import { clientSource } from '../http/index.ts';
import { normalise, type Normalised } from './append.ts';
import { canonicalJson } from './hash.ts';
import type { AuditDetails, AuditInput } from './types.ts';

// Refusals that anyone can cause at will (a wrong secret for a known API key, a made-up portal
// link) must reach the audit trail without letting whoever causes them grow an append-only chain
// as they please. They are tallied instead: one event per organisation, action, object, client
// source (an IPv6 client's /64) and details per window, with the count. Counting is in memory
// (a refusal costs no write); every second each process adds what it counted to audit_tallies,
// where the counts of every process sharing the database meet; a window's rows become events
// (through the outbox) once it has ended, whichever process gets there first.
//
// What a crash costs: the counts of the last second in that process. What is bounded: events per
// window, one per source and object (two if a process's save lands more than CLOSE_AFTER_MS
// late, after the window was closed), and per object at most MAX_SOURCES named sources
// per process, the rest folded into one event without an address (other_sources: true); memory,
// at most MAX_PENDING tallies between saves (beyond, counts are dropped and the drop is logged).

/** How long one tallied event covers. */
export const TALLY_WINDOW_MS = 5 * 60_000;
/** How long after its end a window is closed: time for every process's last save to land. */
const CLOSE_AFTER_MS = 5_000;
const MAX_PENDING = 10_000;
const MAX_SOURCES = 100;
const CLOSE_LIMIT = 500;

export interface TallyDeps {
  db: Db;
  /** Stages events in the outbox in the given transaction (App.stageAudit). */
  stage(q: Queryable, records: AuditInput[]): Promise<unknown>;
  clock?: () => Date;
  windowMs?: number;
  /** Told how many refusals went uncounted when memory was full. */
  onDropped?: (count: number) => void;
}

interface Tally {
  windowStart: number;
  key: string;
  event: Normalised;
  count: number;
  firstAt: number;
  lastAt: number;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const iso = (ms: number) => new Date(ms).toISOString();

export class AuditTally {
  private readonly deps: TallyDeps;
  private readonly clock: () => Date;
  private readonly windowMs: number;
  private pending = new Map<string, Tally>();
  /** The sources named so far in this window, per object. */
  private named = { windowStart: Number.NaN, byObject: new Map<string, Set<string>>() };
  private dropped = 0;

  constructor(deps: TallyDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? (() => new Date());
    this.windowMs = deps.windowMs ?? TALLY_WINDOW_MS;
  }

  /**
   * Counts one refusal. `ip` is the client's address (counted by its source); `details` must hold
   * only values from a small fixed set (a reason), since each distinct value is an event of its own.
   * The request id is not kept: the event stands for many requests.
   */
  count(input: AuditInput): void {
    const at = this.clock().getTime();
    const windowStart = Math.floor(at / this.windowMs) * this.windowMs;
    let event = normalise({ ...input, ip: input.ip ? clientSource(input.ip) : null, requestId: null });
    if (this.named.windowStart !== windowStart) this.named = { windowStart, byObject: new Map() };
    const object = canonicalJson([event.orgId, event.action, event.objectType, event.objectId]);
    let sources = this.named.byObject.get(object);
    if (!sources && this.named.byObject.size < MAX_PENDING) {
      sources = new Set();
      this.named.byObject.set(object, sources);
    }
    if (event.ip !== null && !sources?.has(event.ip)) {
      if (sources && sources.size < MAX_SOURCES) sources.add(event.ip);
      else event = { ...event, ip: null, details: { ...event.details, other_sources: true } };
    }
    const key = sha256(canonicalJson(event));
    const name = `${windowStart} ${key}`;
    const tally = this.pending.get(name);
    if (tally) {
      tally.count++;
      tally.lastAt = at;
    } else if (this.pending.size < MAX_PENDING) {
      this.pending.set(name, { windowStart, key, event, count: 1, firstAt: at, lastAt: at });
    } else {
      this.dropped++;
    }
  }

  /** Adds what this process counted since the last save to the shared tallies (one statement). */
  async save(): Promise<void> {
    if (this.dropped > 0) {
      this.deps.onDropped?.(this.dropped);
      this.dropped = 0;
    }
    if (this.pending.size === 0) return;
    // In key order, so that two processes saving at once lock rows in the same order.
    const tallies = [...this.pending.values()].sort(
      (a, b) =>
        a.event.orgId.localeCompare(b.event.orgId) ||
        a.windowStart - b.windowStart ||
        a.key.localeCompare(b.key),
    );
    this.pending = new Map();
    const rows = tallies.map((t) => ({
      org_id: t.event.orgId,
      window_start: iso(t.windowStart),
      window_end: iso(t.windowStart + this.windowMs),
      tally_key: t.key,
      event: t.event,
      refusals: t.count,
      first_at: iso(t.firstAt),
      last_at: iso(t.lastAt),
    }));
    await this.deps.db.query(
      `INSERT INTO audit_tallies AS t (org_id, window_start, tally_key, window_end, event, refusals, first_at, last_at)
       SELECT r.org_id, r.window_start, r.tally_key, r.window_end, r.event, r.refusals, r.first_at, r.last_at
       FROM jsonb_to_recordset($1::jsonb) AS r (org_id uuid, window_start timestamptz, tally_key text,
         window_end timestamptz, event jsonb, refusals bigint, first_at timestamptz, last_at timestamptz)
       ORDER BY r.org_id, r.window_start, r.tally_key
       ON CONFLICT (org_id, window_start, tally_key) DO UPDATE SET
         refusals = t.refusals + EXCLUDED.refusals,
         first_at = least(t.first_at, EXCLUDED.first_at),
         last_at = greatest(t.last_at, EXCLUDED.last_at)`,
      [JSON.stringify(rows)],
    );
  }

  /**
   * Turns the tallies of ended windows into audit events (staged in the outbox, chained by its
   * flusher) and returns how many; processes sharing the database share the work (SKIP LOCKED).
   * With `open`, the windows still open are closed too: what is refused later in such a window
   * becomes a second event for it.
   */
  async closeEnded(options: { open?: boolean } = {}): Promise<number> {
    const now = this.clock().getTime();
    const closing = new Date(options.open ? now + this.windowMs : now - CLOSE_AFTER_MS);
    const { db } = this.deps;
    // Most seconds there is nothing to close: a read, not a transaction.
    const { rows: due } = await db.query('SELECT 1 FROM audit_tallies WHERE window_end <= $1 LIMIT 1', [
      closing,
    ]);
    if (due.length === 0) return 0;
    return db.transaction(async (tx) => {
      const { rows } = await tx.query<{
        org_id: string;
        window_start: Date;
        tally_key: string;
        window_end: Date;
        event: Normalised;
        refusals: number | string;
        first_at: Date;
        last_at: Date;
      }>(
        `SELECT org_id, window_start, tally_key, window_end, event, refusals, first_at, last_at
         FROM audit_tallies WHERE window_end <= $1
         ORDER BY org_id, window_start, tally_key LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [closing, CLOSE_LIMIT],
      );
      if (rows.length === 0) return 0;
      await this.deps.stage(
        tx,
        rows.map((row) => {
          const details: AuditDetails = {
            ...row.event.details,
            count: Number(row.refusals),
            first_at: row.first_at.toISOString(),
            last_at: row.last_at.toISOString(),
            window_start: row.window_start.toISOString(),
            window_end: row.window_end.toISOString(),
          };
          return { ...row.event, details };
        }),
      );
      await tx.query(
        `DELETE FROM audit_tallies t USING unnest($1::uuid[], $2::timestamptz[], $3::text[]) AS d (org_id, window_start, tally_key)
         WHERE t.org_id = d.org_id AND t.window_start = d.window_start AND t.tally_key = d.tally_key`,
        [rows.map((r) => r.org_id), rows.map((r) => r.window_start), rows.map((r) => r.tally_key)],
      );
      return rows.length;
    });
  }
}
