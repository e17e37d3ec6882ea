import type { KeyObject } from 'node:crypto';
import type { Queryable } from '../db/index.ts';
import { errors } from '../errors/index.ts';
import { type Checkpoint, checkpointPage, checkpointSigned, type ExportedCheckpoint } from './checkpoints.ts';
import { eventHash, GENESIS_HASH } from './hash.ts';
import { type AuditEventRow, EVENT_COLUMNS, eventFromRow } from './types.ts';

/**
 * Why a chain is broken, at the first event found wrong:
 * - `hash_mismatch`: the event's fields no longer give its hash (the event was edited);
 * - `link_broken`: its prev_hash is not the previous event's hash (events reordered or replaced);
 * - `missing_event`: the seq before it is absent (an event was deleted);
 * - `head_mismatch`: the chain ends elsewhere than its recorded head (tail deleted, head missing);
 * - `chain_missing`: an organisation, or a signed checkpoint, names a chain that is not there;
 * - `truncated`: the chain ends before the event a signed checkpoint holds (tail and head cut back);
 * - `rewritten`: the event at a checkpoint's seq has another hash than the one signed (edited, and
 *   every later hash recomputed);
 * - `checkpoint_invalid`: a checkpoint's signature does not hold (forged or altered).
 */
export type AuditBreakReason =
  | 'hash_mismatch'
  | 'link_broken'
  | 'missing_event'
  | 'head_mismatch'
  | 'chain_missing'
  | 'truncated'
  | 'rewritten'
  | 'checkpoint_invalid';

/** A broken chain, named at its first broken event. */
export interface AuditBreak {
  orgId: string;
  /** The first broken event's position; for a cut chain, the first missing position. */
  seq: number;
  /** The event found at that position, or null when there is none. */
  eventId: string | null;
  reason: AuditBreakReason;
  /** One sentence for people. */
  detail: string;
}

/** What the signed checkpoints added to the verification. */
export interface CheckpointSummary {
  /** Checkpoints whose signature held and whose chain position was compared. */
  checked: number;
  /** Checkpoints in the database signed by a key this process does not hold: not relied on. */
  unverifiable: number;
  /** The keys that signed the checkpoints checked: compare them with the key ids you recorded. */
  keyIds: string[];
  /** When the newest checkpoint checked was signed: every chain is proven up to it, at least. */
  latest: Date | null;
}

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
  checkpoints: CheckpointSummary;
}

export interface AuditVerifyBroken extends AuditBreak {
  ok: false;
  /** Every broken chain, the first of them repeated above; the other chains were verified intact. */
  breaks: AuditBreak[];
  /** Chains verified intact. */
  chains: number;
  /** Events verified, in intact chains and before the break in broken ones. */
  events: number;
  checkpoints: CheckpointSummary;
}

export type AuditVerifyResult = AuditVerifyOk | AuditVerifyBroken;

export interface VerifyOptions {
  /** Verifies this organisation's chain only (SYSTEM_ORG_ID for the system chain). */
  orgId?: string;
  /**
   * The public keys whose checkpoints in the database count, by key id: those this process holds.
   * A checkpoint signed by any other key is counted as unverifiable and relied on for nothing.
   */
  checkpointKeys?: ReadonlyMap<string, KeyObject>;
  /**
   * Checkpoints the auditor kept (parseCheckpoints of an export), each checked with the public key
   * it carries: the anchor that survives the deletion of the database's own checkpoints.
   */
  checkpoints?: readonly ExportedCheckpoint[];
  /** Called every `progressEvery` events with a line for people. */
  onProgress?: (line: string) => void;
  progressEvery?: number;
  /** Events (and checkpoints) read per query. */
  pageSize?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Walks every chain (or one) in seq order, a page at a time, recomputing each event's hash and
 * checking that seqs follow without gaps, that each event links to the one before, that the chain
 * ends at its recorded head, and that it still holds the hash every signed checkpoint holds, no
 * shorter. Every organisation must have its chain. Names the first broken event of each chain.
 *
 * Needs no lock and no long transaction: events appended while it runs are either verified too or
 * left for the next run, never reported as a break.
 */
export async function verifyAudit(db: Queryable, options: VerifyOptions = {}): Promise<AuditVerifyResult> {
  const pageSize = options.pageSize ?? 1000;
  const progressEvery = options.progressEvery ?? 10_000;
  const progress = options.onProgress ?? (() => {});
  const held = byChain(options.checkpoints ?? []);
  let orgIds: string[];
  let only: string | undefined;
  if (options.orgId !== undefined) {
    if (!UUID.test(options.orgId)) throw errors.badRequest('The organisation id must be a UUID.');
    only = options.orgId.toLowerCase();
    orgIds = [only];
  } else {
    orgIds = await chainIds(db, held.keys());
  }
  const organisations = await registeredOrganisations(db, only);

  const tally = new Tally();
  const totals = { chains: 0, events: 0 };
  const breaks: AuditBreak[] = [];
  let head: AuditVerifyOk['head'];
  for (const orgId of orgIds) {
    const checkpoints = new CheckpointCursor(
      db,
      orgId,
      options.checkpointKeys ?? new Map(),
      held.get(orgId) ?? [],
      pageSize,
      tally,
    );
    const result = await verifyChain(db, orgId, {
      pageSize,
      checkpoints,
      tally,
      registered: organisations.has(orgId),
      counted: () => {
        totals.events++;
        if (totals.events % progressEvery === 0) {
          progress(`verified ${totals.events} audit events (chain ${totals.chains + 1} of ${orgIds.length})`);
        }
      },
    });
    if (!result.ok) {
      breaks.push(result.broken);
      continue;
    }
    if (result.exists) totals.chains++;
    head = result.head;
  }
  const checkpoints = tally.summary();
  if (breaks.length > 0) return { ok: false, ...breaks[0]!, breaks, ...totals, checkpoints };
  return only !== undefined && head
    ? { ok: true, ...totals, head, checkpoints }
    : { ok: true, ...totals, checkpoints };
}

function byChain(checkpoints: readonly ExportedCheckpoint[]): Map<string, ExportedCheckpoint[]> {
  const chains = new Map<string, ExportedCheckpoint[]>();
  for (const c of checkpoints) {
    const list = chains.get(c.orgId) ?? [];
    list.push(c);
    chains.set(c.orgId, list);
  }
  for (const list of chains.values()) list.sort((a, b) => a.seq - b.seq);
  return chains;
}

/**
 * Every chain: those with a head, any whose events lost their head, and those that must exist,
 * whether anything of them is left or not: every organisation's, every chain a checkpoint names.
 */
async function chainIds(db: Queryable, held: Iterable<string>): Promise<string[]> {
  const { rows } = await db.query<{ org_id: string }>(
    `SELECT org_id FROM audit_heads
     UNION
     SELECT DISTINCT org_id FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM audit_heads h WHERE h.org_id = e.org_id)
     UNION
     SELECT org_id FROM organizations
     UNION
     SELECT DISTINCT org_id FROM audit_checkpoints`,
  );
  return [...new Set([...rows.map((r) => r.org_id), ...held])].sort();
}

/** Organisations, each of which has had a chain since the transaction that created it. */
async function registeredOrganisations(db: Queryable, orgId?: string): Promise<Set<string>> {
  const { rows } = await db.query<{ org_id: string }>(
    'SELECT org_id FROM organizations WHERE $1::uuid IS NULL OR org_id = $1',
    [orgId ?? null],
  );
  return new Set(rows.map((r) => r.org_id));
}

class Tally {
  checked = 0;
  unverifiable = 0;
  private readonly keyIds = new Set<string>();
  private latest: Date | null = null;

  count(c: Checkpoint): void {
    this.checked++;
    this.keyIds.add(c.keyId);
    if (!this.latest || c.signedAt > this.latest) this.latest = c.signedAt;
  }

  summary(): CheckpointSummary {
    return {
      checked: this.checked,
      unverifiable: this.unverifiable,
      keyIds: [...this.keyIds].sort(),
      latest: this.latest,
    };
  }
}

interface Held {
  checkpoint: Checkpoint;
  /** Whether its signature holds. */
  signed: boolean;
  /** Where it came from, for the break's sentence. */
  from: 'database' | 'file';
}

/**
 * One chain's checkpoints in seq order, from the database (a page at a time) and the auditor's
 * file merged. Database checkpoints by a key not held are counted and passed over.
 */
class CheckpointCursor {
  private page: Held[] = [];
  private after = { seq: 0, keyId: '' };
  private exhausted = false;
  private fileAt = 0;
  private readonly db: Queryable;
  private readonly orgId: string;
  private readonly keys: ReadonlyMap<string, KeyObject>;
  private readonly file: readonly ExportedCheckpoint[];
  private readonly pageSize: number;
  private readonly tally: Tally;

  constructor(
    db: Queryable,
    orgId: string,
    keys: ReadonlyMap<string, KeyObject>,
    file: readonly ExportedCheckpoint[],
    pageSize: number,
    tally: Tally,
  ) {
    this.db = db;
    this.orgId = orgId;
    this.keys = keys;
    this.file = file;
    this.pageSize = pageSize;
    this.tally = tally;
  }

  /** The next checkpoint, or null; `take` moves past it. */
  async peek(): Promise<Held | null> {
    while (this.page.length === 0 && !this.exhausted) await this.read();
    const fromDb = this.page[0] ?? null;
    const inFile = this.file[this.fileAt];
    if (inFile && (!fromDb || inFile.seq <= fromDb.checkpoint.seq)) {
      return { checkpoint: inFile, signed: checkpointSigned(inFile, inFile.publicKey), from: 'file' };
    }
    return fromDb;
  }

  take(held: Held): void {
    if (held.from === 'file') this.fileAt++;
    else this.page.shift();
  }

  private async read(): Promise<void> {
    const rows = await checkpointPage(this.db, this.orgId, this.after, this.pageSize);
    if (rows.length < this.pageSize) this.exhausted = true;
    const last = rows.at(-1);
    if (last) this.after = { seq: last.seq, keyId: last.keyId };
    for (const checkpoint of rows) {
      const key = this.keys.get(checkpoint.keyId);
      if (!key) this.tally.unverifiable++;
      else this.page.push({ checkpoint, signed: checkpointSigned(checkpoint, key), from: 'database' });
    }
  }
}

type ChainResult =
  | { ok: true; exists: boolean; head: { seq: number; hash: string } | undefined }
  | { ok: false; broken: AuditBreak };

interface ChainOptions {
  pageSize: number;
  checkpoints: CheckpointCursor;
  tally: Tally;
  /** The chain is an organisation's, so it must exist. */
  registered: boolean;
  counted: () => void;
}

const signedBy = (held: Held) =>
  `${held.from === 'file' ? 'the given file' : 'the database'} signed at ${held.checkpoint.signedAt.toISOString()}`;

async function verifyChain(db: Queryable, orgId: string, options: ChainOptions): Promise<ChainResult> {
  const { pageSize, checkpoints, tally } = options;
  let seq = 0;
  let hash = GENESIS_HASH;
  let eventId: string | null = null;
  const broken = (reason: AuditBreakReason, at: number, id: string | null, detail: string): ChainResult => ({
    ok: false,
    broken: { orgId, seq: at, eventId: id, reason, detail },
  });
  const forged = (held: Held) =>
    broken(
      'checkpoint_invalid',
      held.checkpoint.seq,
      null,
      `The checkpoint of event ${held.checkpoint.seq} in ${signedBy(held)} does not verify with key ${held.checkpoint.keyId}: it was forged or altered.`,
    );
  const page = () =>
    db.query<AuditEventRow>(
      `SELECT ${EVENT_COLUMNS} FROM audit_events WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [orgId, seq, pageSize],
    );

  let next = await checkpoints.peek();
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
      // Checkpoints at this seq: each must hold this very hash.
      while (next && next.checkpoint.seq <= event.seq) {
        if (!next.signed) return forged(next);
        if (!next.checkpoint.hash.equals(event.hash)) {
          return broken(
            'rewritten',
            event.seq,
            event.eventId,
            `This event's hash is not the one a checkpoint in ${signedBy(next)} holds: the chain up to it was rewritten and its hashes recomputed.`,
          );
        }
        tally.count(next.checkpoint);
        checkpoints.take(next);
        next = await checkpoints.peek();
      }
      seq = event.seq;
      hash = event.hash;
      eventId = event.eventId;
      options.counted();
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
    // A checkpoint past the last event: its events were committed before it was signed, so they
    // are read now, unless they were deleted.
    if (next) {
      ({ rows } = await page());
      if (rows.length > 0) continue;
      if (!next.signed) return forged(next);
      tally.count(next.checkpoint);
      if (!head && seq === 0)
        return broken(
          'chain_missing',
          1,
          null,
          `A checkpoint in ${signedBy(next)} holds event ${next.checkpoint.seq} of this chain, but the chain and its head are gone.`,
        );
      return broken(
        'truncated',
        seq + 1,
        null,
        `The chain ends at event ${seq}, but a checkpoint in ${signedBy(next)} holds event ${next.checkpoint.seq}: the events after ${seq} were deleted and the head moved back.`,
      );
    }
    if (!head) {
      if (seq > 0)
        return broken('head_mismatch', seq, eventId, 'The chain has events but its head record is missing.');
      if (options.registered)
        return broken(
          'chain_missing',
          1,
          null,
          'The organisation exists but its audit chain is gone: its events and head were deleted.',
        );
      return { ok: true, exists: false, head: undefined };
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

function breakJson(b: AuditBreak) {
  return { org_id: b.orgId, seq: b.seq, event_id: b.eventId, reason: b.reason, detail: b.detail };
}

/** The verification result on the wire: snake_case, as the API and `--json` show it. */
export function auditVerifyJson(result: AuditVerifyResult) {
  const checkpoints = {
    checked: result.checkpoints.checked,
    unverifiable: result.checkpoints.unverifiable,
    key_ids: result.checkpoints.keyIds,
    latest: result.checkpoints.latest?.toISOString() ?? null,
  };
  if (result.ok) {
    return {
      ok: true as const,
      chains: result.chains,
      events: result.events,
      ...(result.head ? { head: result.head } : {}),
      checkpoints,
    };
  }
  return {
    ok: false as const,
    ...breakJson(result),
    breaks: result.breaks.map(breakJson),
    chains: result.chains,
    events: result.events,
    checkpoints,
  };
}
