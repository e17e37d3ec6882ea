// The audit trail: every security-relevant action appends an event to its organisation's hash chain
// in the action's own transaction; the database refuses to change or delete events; signed
// checkpoints of the chains' heads anchor them outside the database; and verify proves each chain
// intact or names its first broken event.

export {
  AUDIT_FLUSH_LIMIT,
  type AppendOptions,
  appendAudit,
  flushAuditOutbox,
  stageAudit,
} from './append.ts';
export {
  type Checkpoint,
  CHECKPOINT_FORMAT,
  type CheckpointJson,
  checkpointBytes,
  checkpointSigned,
  type ExportedCheckpoint,
  exportCheckpoints,
  parseCheckpoints,
  writeCheckpoints,
} from './checkpoints.ts';
export { canonicalEvent, canonicalJson, chainHash, eventDigest, eventHash, GENESIS_HASH } from './hash.ts';
export {
  type AuditExportFormat,
  type AuditFilter,
  type AuditPage,
  csvCell,
  exportAudit,
  formatAuditEvent,
  listAuditEvents,
} from './query.ts';
export { auditRoutes } from './routes.ts';
export { AuditTally, TALLY_WINDOW_MS, type TallyDeps } from './tally.ts';
export {
  type AuditDetails,
  type AuditDetailValue,
  type AuditEvent,
  type AuditEventJson,
  type AuditInput,
  type AuditOutcome,
  type AuditScalar,
  type AuditEventRow,
  auditEventJson,
  EVENT_COLUMNS,
  eventFromRow,
  SYSTEM_ORG_ID,
} from './types.ts';
export {
  type AuditBreak,
  type AuditBreakReason,
  type AuditVerifyBroken,
  type AuditVerifyOk,
  type AuditVerifyResult,
  auditVerifyJson,
  type CheckpointSummary,
  type VerifyOptions,
  verifyAudit,
} from './verify.ts';
