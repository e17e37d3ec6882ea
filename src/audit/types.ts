import type { Actor } from '../access-model/index.ts';

/** The chain of events that belong to no organisation (e.g. a master key rotation). */
export const SYSTEM_ORG_ID = '00000000-0000-0000-0000-000000000000';

export type AuditOutcome = 'success' | 'failure' | 'denied';
export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ['success', 'failure', 'denied'];

/** A scalar allowed in `details`. */
export type AuditScalar = string | number | boolean | null;
/** What `details` may hold: scalars, and arrays and objects of them (nested four levels at most). */
export type AuditDetailValue =
  AuditScalar | readonly AuditDetailValue[] | { readonly [key: string]: AuditDetailValue };
export type AuditDetails = { readonly [key: string]: AuditDetailValue };

/** What a caller records: who did what to which object, from where, and how it ended. */
export interface AuditInput {
  /** The organisation's chain; SYSTEM_ORG_ID for system-wide events. */
  orgId: string;
  actor: Actor;
  /** `<object>.<verb>` in lower case, e.g. `api_key.created`, `auth.login_failed`. */
  action: string;
  /** e.g. `api_key`, `user`, `message`. */
  objectType: string;
  /** The object's id; never an address, a name or anything else that identifies a patient. */
  objectId: string;
  outcome: AuditOutcome;
  /** The client's address. */
  ip?: string | null;
  requestId?: string | null;
  /**
   * Context that helps an auditor: ids, counts, scopes, reasons, methods. NEVER PHI: no names,
   * email addresses, phone numbers, subjects, bodies or form answers, in clear or hashed.
   */
  details?: AuditDetails;
}

/** One event of the trail, as stored. */
export interface AuditEvent {
  orgId: string;
  /** Position in the organisation's chain, from 1, without gaps. */
  seq: number;
  eventId: string;
  occurredAt: Date;
  actor: Actor;
  action: string;
  objectType: string;
  objectId: string;
  outcome: AuditOutcome;
  ip: string | null;
  requestId: string | null;
  details: AuditDetails;
  /** The previous event's hash; 32 zero bytes for the first event. */
  prevHash: Buffer;
  /** SHA-256(prevHash || seq || SHA-256(canonical form)): see chainHash in hash.ts. */
  hash: Buffer;
}

/** An event on the wire (API, JSON lines, CSV): snake_case, hashes in hex. */
export interface AuditEventJson {
  org_id: string;
  seq: number;
  event_id: string;
  occurred_at: string;
  actor_type: string;
  actor_id: string;
  actor_label: string;
  action: string;
  object_type: string;
  object_id: string;
  outcome: AuditOutcome;
  ip: string | null;
  request_id: string | null;
  details: AuditDetails;
  prev_hash: string;
  hash: string;
}

export interface AuditEventRow {
  org_id: string;
  seq: number | string;
  event_id: string;
  occurred_at: Date;
  actor_type: string;
  actor_id: string;
  actor_label: string;
  action: string;
  object_type: string;
  object_id: string;
  outcome: string;
  ip: string | null;
  request_id: string | null;
  details: AuditDetails;
  prev_hash: Buffer | Uint8Array;
  hash: Buffer | Uint8Array;
  [column: string]: unknown;
}

export const EVENT_COLUMNS =
  'org_id, seq, event_id, occurred_at, actor_type, actor_id, actor_label, action, object_type, object_id, outcome, ip, request_id, details, prev_hash, hash';

export function eventFromRow(row: AuditEventRow): AuditEvent {
  return {
    orgId: row.org_id,
    seq: Number(row.seq),
    eventId: row.event_id,
    occurredAt: row.occurred_at,
    actor: { type: row.actor_type as Actor['type'], id: row.actor_id, label: row.actor_label },
    action: row.action,
    objectType: row.object_type,
    objectId: row.object_id,
    outcome: row.outcome as AuditOutcome,
    ip: row.ip,
    requestId: row.request_id,
    details: row.details,
    prevHash: Buffer.from(row.prev_hash),
    hash: Buffer.from(row.hash),
  };
}

export function auditEventJson(event: AuditEvent): AuditEventJson {
  return {
    org_id: event.orgId,
    seq: event.seq,
    event_id: event.eventId,
    occurred_at: event.occurredAt.toISOString(),
    actor_type: event.actor.type,
    actor_id: event.actor.id,
    actor_label: event.actor.label,
    action: event.action,
    object_type: event.objectType,
    object_id: event.objectId,
    outcome: event.outcome,
    ip: event.ip,
    request_id: event.requestId,
    details: event.details,
    prev_hash: event.prevHash.toString('hex'),
    hash: event.hash.toString('hex'),
  };
}
