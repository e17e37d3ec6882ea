import type { AuditInput } from '../audit/index.ts';
import type { Keyring } from '../crypto/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import type { Logger } from '../log/index.ts';
import type { MessageContent, Method } from '../messages/index.ts';
import type { SendOutcome, SendRequest } from '../outbound/index.ts';

// What the delivery pipeline is handed: its transport, its encryptors, where keys are found.

/**
 * What a send is: a delivery of a message someone submitted, mail the portal writes about one (a
 * code, a notice again, an alert to the sender), or mail to staff about their accounts
 * (invitations, new-device notices, break-glass alerts), which only those who manage users may see.
 */
export type MailKind = 'message' | 'portal' | 'staff';

/** Which delivery a send belongs to: a transport that keeps what it sends (the sandbox) files it so. */
export interface DeliveryContext {
  orgId: string;
  messageId: string;
  recipientId: string;
  kind: MailKind;
  /**
   * The same mail, signed, with what grants access in it (an invitation's token) masked: all a
   * transport that keeps its mail may keep. Absent: the mail holds nothing of the kind.
   */
  redacted?: Buffer;
}

/** What delivers a built message: src/outbound's Outbound, or the sandbox's capture. */
export interface Transport {
  send(request: SendRequest & { context?: DeliveryContext }): Promise<SendOutcome>;
}

/** A key, and where it was found: on file for the organisation, or in the recipient's WKD. */
export interface FoundKey {
  fingerprint: string;
  key: string;
  source?: 'uploaded' | 'wkd';
}

export interface RecipientKeys {
  pgp: FoundKey[];
  smime: FoundKey[];
}

export interface Encryptors {
  pgp(raw: Buffer, keys: string[], options: { outerSubject?: string }): Promise<Buffer>;
  smime(
    raw: Buffer,
    certificates: string[],
    options: { algorithm: 'aes-256-gcm' | 'aes-256-cbc'; outerSubject?: string },
  ): Promise<Buffer>;
}

export interface SecurelineDeps {
  db: Db;
  keyring: Keyring;
  transport: Transport;
  encrypt: Encryptors;
  /** uploaded: false when the claim found no key on file for the address (the look-up is skipped). */
  findKeys(
    q: Queryable,
    orgId: string,
    address: string,
    now: Date,
    options?: { uploaded?: boolean },
  ): Promise<RecipientKeys>;
  /** Stages the attempt's audit event in its transaction (see stageAudit). */
  stageAudit(q: Queryable, record: AuditInput): Promise<unknown>;
  log: Logger;
  clock: () => Date;
  publicUrl: string;
  lifetimeHours: number;
  retryBaseSeconds: number;
  portalExpiryDays: number;
  /** This process captures instead of sending (SEALPOST_MODE=sandbox). */
  sandbox: boolean;
  /** One recipient's copy: tracked links, open pixel, unsubscribe (src/engagement). */
  personalise?(content: MessageContent, ctx: { orgId: string; recipientId: string }): Promise<MessageContent>;
  /** Called once per finished attempt, for metrics. */
  observe?(method: Method, outcome: string, seconds: number): void;
}
