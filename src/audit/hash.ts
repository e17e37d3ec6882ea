import { createHash } from 'node:crypto';
import type { AuditEvent } from './types.ts';

/** The previous hash of a chain's first event. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

/** Names the canonical form below; a future form gets a new tag, and verify knows both. */
const FORMAT = 'sealpost.audit.v1';

/** JSON with object keys sorted (UTF-16 code unit order) at every level and no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

type Hashed = Omit<AuditEvent, 'prevHash' | 'hash'>;

/**
 * The canonical form of an event's own fields: a JSON array of every field but seq in a fixed
 * order, the timestamp as an ISO 8601 string with milliseconds, UUIDs in lower case, details with
 * sorted keys.
 */
export function canonicalEvent(event: Omit<Hashed, 'seq'>): string {
  return canonicalJson([
    FORMAT,
    event.orgId,
    event.eventId,
    event.occurredAt.toISOString(),
    event.actor.type,
    event.actor.id,
    event.actor.label,
    event.action,
    event.objectType,
    event.objectId,
    event.outcome,
    event.ip,
    event.requestId,
    event.details,
  ]);
}

/** SHA-256 of the canonical form: known before the event has a place in the chain. */
export function eventDigest(event: Omit<Hashed, 'seq'>): Buffer {
  return createHash('sha256').update(canonicalEvent(event), 'utf8').digest();
}

/**
 * An event's hash: SHA-256(prev_hash || seq as 8 bytes big-endian || event digest), 72 bytes in.
 * Each hash seals its event, its place and everything before it. The database computes the same
 * (sha256(prev_hash || int8send(seq) || digest)) when it appends, so the head is read and the
 * event written in one statement.
 */
export function chainHash(prevHash: Uint8Array, seq: number, digest: Uint8Array): Buffer {
  const position = Buffer.alloc(8);
  position.writeBigUInt64BE(BigInt(seq));
  return createHash('sha256').update(prevHash).update(position).update(digest).digest();
}

export function eventHash(prevHash: Uint8Array, event: Hashed): Buffer {
  return chainHash(prevHash, event.seq, eventDigest(event));
}
