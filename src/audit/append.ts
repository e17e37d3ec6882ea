import { randomUUID } from 'node:crypto';
import type { Db, Queryable, Transaction } from '../db/index.ts';
import { SealpostError } from '../errors/index.ts';
import { canonicalJson, chainHash, eventDigest, GENESIS_HASH } from './hash.ts';
import {
  AUDIT_OUTCOMES,
  type AuditDetails,
  type AuditEvent,
  type AuditInput,
  type AuditOutcome,
} from './types.ts';

export interface AppendOptions {
  /** The time recorded as occurred_at (tests pin it). Defaults to the system clock. */
  clock?: () => Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ACTOR_TYPE = /^[a-z][a-z0-9_]{0,31}$/;
const ACTION = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const OBJECT_TYPE = /^[a-z][a-z0-9_]{0,63}$/;
const MAX_DETAILS_BYTES = 8192;
const MAX_DETAILS_DEPTH = 4;

/**
 * Appends an event to its organisation's chain and returns it as stored.
 *
 * Pass the transaction of the action being audited: the event commits with the action or not at
 * all (fail closed: an action whose audit event cannot be written does not happen). Given the
 * database itself, the append runs in a transaction of its own.
 *
 * The chain's head row stays locked until that transaction ends, so appends to one organisation
 * queue behind it: append last, just before the transaction commits, and do not append to two
 * organisations in one transaction (two such transactions could deadlock).
 */
export async function appendAudit(
  q: Queryable,
  input: AuditInput,
  options: AppendOptions = {},
): Promise<AuditEvent> {
  const event = normalise(input);
  const clock = options.clock ?? (() => new Date());
  if (isDb(q)) return q.transaction((tx) => appendIn(tx, event, clock));
  return appendIn(q, event, clock);
}

function isDb(q: Queryable): q is Db {
  return typeof (q as Partial<Db>).transaction === 'function';
}

/** An event checked and copied as it will be stored, before its place in the chain is known. */
export type Normalised = Omit<AuditEvent, 'seq' | 'eventId' | 'occurredAt' | 'prevHash' | 'hash'>;

const INSERT = `
  WITH head AS (SELECT seq, hash FROM audit_heads WHERE org_id = $1 FOR UPDATE)
  INSERT INTO audit_events (org_id, seq, event_id, occurred_at, actor_type, actor_id, actor_label, action,
    object_type, object_id, outcome, ip, request_id, details, prev_hash, hash)
  SELECT $1, head.seq + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, head.hash,
    sha256(head.hash || int8send(head.seq + 1) || $14::bytea)
  FROM head
  RETURNING seq, prev_hash, hash`;

/**
 * One statement: lock the chain's head, place the event after it, hash it there. The insert
 * trigger then checks the link and moves the head. The head row stays locked until the
 * transaction ends, which is what keeps concurrent appends to one chain in a line.
 */
async function appendIn(
  tx: Queryable | Transaction,
  event: Normalised,
  clock: () => Date,
): Promise<AuditEvent> {
  const occurredAt = new Date(clock().getTime());
  if (Number.isNaN(occurredAt.getTime())) throw invalid('the clock returned an invalid date');
  const unplaced = { ...event, eventId: randomUUID(), occurredAt };
  const digest = eventDigest(unplaced);
  const params = [
    unplaced.orgId,
    unplaced.eventId,
    occurredAt.toISOString(),
    unplaced.actor.type,
    unplaced.actor.id,
    unplaced.actor.label,
    unplaced.action,
    unplaced.objectType,
    unplaced.objectId,
    unplaced.outcome,
    unplaced.ip,
    unplaced.requestId,
    JSON.stringify(unplaced.details),
    digest,
  ];
  type Placed = { seq: number | string; prev_hash: Uint8Array; hash: Uint8Array };
  let { rows } = await tx.query<Placed>(INSERT, params);
  if (!rows[0]) {
    // The chain's first event: create its empty head, then append.
    await tx.query(
      'INSERT INTO audit_heads (org_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (org_id) DO NOTHING',
      [unplaced.orgId, GENESIS_HASH],
    );
    ({ rows } = await tx.query<Placed>(INSERT, params));
  }
  const row = rows[0];
  if (!row) throw new SealpostError('audit_unavailable', 'The audit chain head could not be locked.');
  const placed = {
    ...unplaced,
    seq: Number(row.seq),
    prevHash: Buffer.from(row.prev_hash),
    hash: Buffer.from(row.hash),
  };
  // The database hashed it; the verifier will hash it here. They must agree, or nothing commits.
  if (!chainHash(placed.prevHash, placed.seq, digest).equals(placed.hash)) {
    throw new SealpostError('audit_hash_mismatch', 'The database computed another audit hash.');
  }
  return placed;
}

function invalid(message: string): SealpostError {
  // A caller's bug, not the client's: the action fails (fail closed) and the server logs it.
  return new SealpostError('audit_event_invalid', `Invalid audit event: ${message}.`);
}

function text(value: unknown, name: string, max: number, min = 0): string {
  if (typeof value !== 'string') throw invalid(`${name} must be a string`);
  if (value.length < min || value.length > max) throw invalid(`${name} must be ${min} to ${max} characters`);
  if (!value.isWellFormed() || value.includes('\u0000')) throw invalid(`${name} holds invalid characters`);
  return value;
}

function optionalText(value: unknown, name: string, max: number): string | null {
  return value === undefined || value === null ? null : text(value, name, max);
}

function pattern(value: unknown, name: string, re: RegExp, max: number): string {
  const s = text(value, name, max, 1);
  if (!re.test(s)) throw invalid(`${name} does not match ${re}`);
  return s;
}

/** Checks an event (a bad one is the caller's bug: it throws) and copies it as it will be stored. */
export function normalise(input: AuditInput): Normalised {
  if (typeof input.orgId !== 'string' || !UUID.test(input.orgId)) throw invalid('orgId must be a UUID');
  if (!input.actor || typeof input.actor !== 'object') throw invalid('actor is required');
  if (!AUDIT_OUTCOMES.includes(input.outcome))
    throw invalid(`outcome must be one of ${AUDIT_OUTCOMES.join(', ')}`);
  const details = input.details ?? {};
  checkDetails(details);
  if (Buffer.byteLength(canonicalJson(details)) > MAX_DETAILS_BYTES) {
    throw invalid(`details must stay under ${MAX_DETAILS_BYTES} bytes`);
  }
  return {
    orgId: input.orgId.toLowerCase(),
    actor: {
      type: pattern(input.actor.type, 'actor.type', ACTOR_TYPE, 32) as AuditEvent['actor']['type'],
      id: text(input.actor.id, 'actor.id', 200, 1),
      label: text(input.actor.label, 'actor.label', 200),
    },
    action: pattern(input.action, 'action', ACTION, 100),
    objectType: pattern(input.objectType, 'objectType', OBJECT_TYPE, 64),
    objectId: text(input.objectId, 'objectId', 200),
    outcome: input.outcome as AuditOutcome,
    ip: optionalText(input.ip, 'ip', 64),
    requestId: optionalText(input.requestId, 'requestId', 128),
    // A copy through JSON: what is hashed is exactly what the database stores and returns.
    details: JSON.parse(JSON.stringify(details)) as AuditDetails,
  };
}

/** Plain JSON only: finite numbers, well-formed strings, plain objects and arrays, bounded depth. */
function checkDetails(value: unknown, path = 'details', depth = 0): void {
  if (depth === 0 && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw invalid('details must be an object');
  }
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(`${path} must be a finite number`);
    return;
  }
  if (typeof value === 'string') {
    text(value, path, 2000);
    return;
  }
  if (typeof value !== 'object')
    throw invalid(`${path} must be a string, number, boolean, null, array or object`);
  if (depth >= MAX_DETAILS_DEPTH) throw invalid(`${path} is nested too deeply`);
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      checkDetails(item, `${path}[${i}]`, depth + 1);
    });
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw invalid(`${path} must be a plain object`);
  for (const [key, item] of Object.entries(value)) {
    text(key, `${path} key`, 100, 1);
    if (item === undefined) throw invalid(`${path}.${key} is undefined`);
    checkDetails(item, `${path}.${key}`, depth + 1);
  }
}

/**
 * Stages an event in the outbox, inside the action's transaction: checked now (a bad event still
 * fails the action), placed in the chain by `flushAuditOutbox` shortly after. For high-volume
 * actions whose events would otherwise queue on the chain's head lock.
 */
export async function stageAudit(
  q: Queryable,
  input: AuditInput | AuditInput[],
  options: AppendOptions = {},
): Promise<void> {
  const events = [input].flat().map(normalise);
  if (events.length === 0) return;
  const occurredAt = (options.clock ?? (() => new Date()))();
  await q.query(
    `INSERT INTO audit_outbox (org_id, occurred_at, event)
     SELECT (e->>'orgId')::uuid, $1, e FROM jsonb_array_elements($2::jsonb) AS e`,
    [occurredAt, JSON.stringify(events)],
  );
}

/** Staged events chained per flush, at most. */
export const AUDIT_FLUSH_LIMIT = 500;

/**
 * Moves up to `limit` staged events into their chains in one transaction and returns how many.
 * Rows are taken in (organisation, entry) order, so concurrent flushers lock chain heads in the
 * same order and never deadlock; SKIP LOCKED lets them share the work. Each organisation's events
 * go into its chain with two statements, whatever their number (appendManyIn).
 */
export async function flushAuditOutbox(db: Db, limit = AUDIT_FLUSH_LIMIT): Promise<number> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{
      org_id: string;
      entry_id: string;
      occurred_at: Date;
      event: Normalised;
    }>(
      `SELECT org_id, entry_id, occurred_at, event FROM audit_outbox
       ORDER BY org_id, entry_id LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [limit],
    );
    for (let i = 0; i < rows.length;) {
      const orgId = rows[i]!.org_id;
      const batch: Unplaced[] = [];
      for (; i < rows.length && rows[i]!.org_id === orgId; i++) {
        const row = rows[i]!;
        batch.push({
          ...normalise(row.event as unknown as AuditInput),
          eventId: randomUUID(),
          occurredAt: new Date(row.occurred_at.getTime()),
        });
      }
      await appendManyIn(tx, orgId, batch);
    }
    if (rows.length > 0)
      await tx.query(
        `DELETE FROM audit_outbox o USING unnest($1::uuid[], $2::bigint[]) AS d (org_id, entry_id)
         WHERE o.org_id = d.org_id AND o.entry_id = d.entry_id`,
        [rows.map((r) => r.org_id), rows.map((r) => r.entry_id)],
      );
    return rows.length;
  });
}

type Unplaced = Normalised & { eventId: string; occurredAt: Date };

const INSERT_MANY = `
  WITH input AS (
    SELECT * FROM unnest($2::bigint[], $3::uuid[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
      $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
      $15::bytea[], $16::bytea[], $17::bytea[]) WITH ORDINALITY
      AS i (seq, event_id, occurred_at, actor_type, actor_id, actor_label, action, object_type, object_id,
        outcome, ip, request_id, details, prev_hash, hash, digest, n)
  ), placed AS (
    INSERT INTO audit_events (org_id, seq, event_id, occurred_at, actor_type, actor_id, actor_label, action,
      object_type, object_id, outcome, ip, request_id, details, prev_hash, hash)
    SELECT $1, seq, event_id, occurred_at, actor_type, actor_id, actor_label, action, object_type, object_id,
      outcome, ip, request_id, details::jsonb, prev_hash, hash
    FROM input ORDER BY n
    RETURNING seq
  )
  SELECT (SELECT count(*) FROM placed)::int AS placed,
    count(*) FILTER (WHERE sha256(prev_hash || int8send(seq) || digest) <> hash)::int AS disagree
  FROM input`;

/**
 * Appends one organisation's events in their order with two statements: lock the chain's head,
 * insert them all (the insert trigger checks every link and moves the head once). The hashes
 * are computed here and again by the database in the same statement; unless both agree, nothing
 * commits.
 */
async function appendManyIn(tx: Queryable, orgId: string, events: Unplaced[]): Promise<void> {
  const lockHead = () =>
    tx.query<{ seq: number | string; hash: Uint8Array }>(
      'SELECT seq, hash FROM audit_heads WHERE org_id = $1 FOR UPDATE',
      [orgId],
    );
  let { rows } = await lockHead();
  if (!rows[0]) {
    // The chain's first event: create its empty head, then lock it.
    await tx.query(
      'INSERT INTO audit_heads (org_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (org_id) DO NOTHING',
      [orgId, GENESIS_HASH],
    );
    ({ rows } = await lockHead());
  }
  if (!rows[0]) throw new SealpostError('audit_unavailable', 'The audit chain head could not be locked.');
  let seq = Number(rows[0].seq);
  let prev: Buffer = Buffer.from(rows[0].hash);
  const columns: unknown[][] = Array.from({ length: 16 }, () => []);
  for (const e of events) {
    seq++;
    const digest = eventDigest(e);
    const hash = chainHash(prev, seq, digest);
    const values = [
      seq,
      e.eventId,
      e.occurredAt.toISOString(),
      e.actor.type,
      e.actor.id,
      e.actor.label,
      e.action,
      e.objectType,
      e.objectId,
      e.outcome,
      e.ip,
      e.requestId,
      JSON.stringify(e.details),
      prev,
      hash,
      digest,
    ];
    values.forEach((v, k) => columns[k]!.push(v));
    prev = hash;
  }
  const { rows: result } = await tx.query<{ placed: number; disagree: number }>(INSERT_MANY, [
    orgId,
    ...columns,
  ]);
  if (result[0]?.placed !== events.length || result[0].disagree !== 0)
    throw new SealpostError('audit_hash_mismatch', 'The database computed another audit hash.');
}
