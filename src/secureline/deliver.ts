import { BulkWriter, WriteBatcher } from '../db/index.ts';
import { type DkimSigningKey, dkimSigningKeys } from '../domains/index.ts';
import type { StoredMessage } from '../messages/index.ts';
import { Cache } from './cache.ts';
import { loadPolicy, type SecurelinePolicy } from './policy.ts';
import type { Claimed } from './queue.ts';
import { failUnsent, record, type RecordEnv, recordHandover } from './record.ts';
import {
  build,
  choose,
  encrypt,
  type Ending,
  portalInstead,
  resolve,
  runSteps,
  send,
  sign,
  type Step,
  type StepEnv,
  startDelivery,
  toPortal,
  transmit,
} from './steps.ts';
import type { MailKind, SecurelineDeps } from './types.ts';
import { recordOutcomes } from './writes.ts';

// Delivery of one recipient, as an ordered list of named steps over one Delivery (steps.ts):
// resolve (content, policy, keys), choose the method, build, encrypt, sign, transmit, and record
// (record.ts) the outcome the delivery stopped with. Mail Sealpost writes itself goes through the
// same sign and transmit.

/** Every delivery's steps, in order. Transmit always stops the delivery with its attempt. */
const STEPS: readonly Step[] = [resolve, choose, build, encrypt, sign, transmit];
/** A delivery handed over to the portal starts again from its build. */
const FROM_BUILD = STEPS.slice(STEPS.indexOf(build));

export class Secureline {
  private readonly deps: SecurelineDeps;
  private readonly policies = new Cache<SecurelinePolicy>(10_000);
  private readonly dkimKeys = new Cache<DkimSigningKey[]>(60_000);
  private readonly steps: StepEnv;
  /** Outcomes of concurrent deliveries share commits and statements. */
  private readonly recording: RecordEnv;

  constructor(deps: SecurelineDeps) {
    this.deps = deps;
    this.steps = {
      deps,
      policyOf: (orgId) => this.policies.get(orgId, () => loadPolicy(deps.db, orgId)),
      dkimKeysOf: (orgId, domain) =>
        this.dkimKeys.get(`${orgId}/${domain}`, () => dkimSigningKeys(deps.db, deps.keyring, orgId, domain)),
    };
    this.recording = {
      deps,
      writes: new WriteBatcher(deps.db),
      outcomes: new BulkWriter(deps.db, (tx, items) => recordOutcomes(tx, deps, items)),
    };
  }

  /** Drops the cached policy of an organisation (after it changed). */
  policyChanged(orgId: string): void {
    this.policies.forget(orgId);
  }

  /**
   * Delivers one claimed recipient (see queue.ts). Throws only when it could not record what
   * happened; the worker then hands the claim back.
   */
  async deliver(claimed: Claimed): Promise<void> {
    const d = startDelivery(claimed, this.deps.clock());
    let stop = await runSteps(this.steps, d, STEPS);
    const handover = portalInstead(d, stop);
    if (handover) {
      await recordHandover(this.recording, d, handover.after);
      toPortal(d, handover.choice, this.deps.clock(), handover.after);
      stop = await runSteps(this.steps, d, FROM_BUILD);
    }
    await record(this.recording, d, stop);
  }

  /** A recipient whose deliveries kept failing before any outcome was recorded: failed, unsent. */
  giveUp(claimed: Claimed, reason: string): Promise<void> {
    const { message, ...recipient } = claimed;
    return failUnsent(this.recording, message, recipient, reason, 'no_outcome_recorded');
  }

  /**
   * Mail Sealpost writes itself, about a delivery (a one-time code, a notice sent again, an alert
   * to the sender) or to staff about their accounts: no PHI in it, so TLS when offered. Signed
   * and sent by the steps every delivery takes.
   */
  async sendSystemMail(input: {
    /** The organisation, an id for the capture, and the domain that signs (DKIM) and sends. */
    message: Pick<StoredMessage, 'org_id' | 'message_id' | 'from_domain'>;
    recipientId: string;
    to: string;
    raw: Buffer;
    kind: Exclude<MailKind, 'message'>;
    /** The same mail with what grants access in it masked (see DeliveryContext). */
    redacted?: Buffer;
  }): Promise<{ status: 'delivered' | 'deferred' | 'bounced' | 'failed'; detail?: string | null }> {
    const mail = {
      message: input.message,
      recipient: { recipient_id: input.recipientId, address: input.to },
      kind: input.kind,
      raw: input.raw,
      ...(input.redacted ? { redacted: input.redacted } : {}),
      tls: 'opportunistic' as const,
    };
    await sign(this.steps, mail);
    return statusOf(await send(this.steps, mail));
  }
}

/** A system mail's ending, as its senders read it. */
function statusOf(ending: Ending): {
  status: 'delivered' | 'deferred' | 'bounced' | 'failed';
  detail?: string | null;
} {
  switch (ending.outcome) {
    case 'delivered':
      return { status: 'delivered' };
    case 'deferred':
    case 'bounced':
      return { status: ending.outcome, detail: ending.response ?? ending.detail ?? null };
    default:
      return { status: 'failed', detail: ending.detail ?? null };
  }
}
