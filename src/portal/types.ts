import type { AuditInput } from '../audit/index.ts';
import type { Keyring } from '../crypto/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import type { Logger } from '../log/index.ts';
import type { SubmitDeps } from '../messages/index.ts';
import type { JobQueue } from '../queue/index.ts';

export interface PortalSettings {
  publicUrl: string;
  idleMinutes: number;
  sessionMinutes: number;
  codeMinutes: number;
  maxFailures: number;
  uploadMaxBytes: number;
}

export interface PortalDeps {
  db: Db;
  keyring: Keyring;
  queue: JobQueue;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  stageAudit(q: Queryable, records: AuditInput | AuditInput[]): Promise<unknown>;
  /** For refusals anyone can repeat at will (an invalid link): one event per source and window. */
  tallyAudit(record: AuditInput): void;
  /** Replies go in through the one way in, like every other message. */
  submit: SubmitDeps;
  clock(): Date;
  log: Logger;
  settings: PortalSettings;
}

/** Mail and texts the portal sends: codes, notices sent again, alerts to senders. */
export const PORTAL_MAIL_QUEUE = 'portal.mail';

export interface PortalMailJob {
  org_id: string;
  recipient_id: string;
  kind: 'code' | 'notice' | 'locked';
  code_id?: string;
}

export const recipientActor = (recipientId: string) => ({
  type: 'recipient' as const,
  id: recipientId,
  label: 'portal recipient',
});
