import { BulkWriter, WriteBatcher } from '../db/index.ts';
import { type DkimSigningKey, dkimSigningKeys } from '../domains/index.ts';
import {
  domainOf,
  type MessageContent,
  openContent,
  type StoredMessage,
  type StoredRecipient,
} from '../messages/index.ts';
import { brandFor, composeLetter, ensurePortalDelivery, noticeLetter, portalLink } from '../portal/index.ts';
import { type Attempt, backoffSeconds } from './attempts.ts';
import { buildMessage } from './build.ts';
import { Cache } from './cache.ts';
import { signDkim } from './dkim.ts';
import { type Choice, chooseMethod, loadPolicy, type SecurelinePolicy } from './policy.ts';
import type { MailKind, RecipientKeys, SecurelineDeps } from './types.ts';
import type { Claimed } from './queue.ts';
import { type Outcome, recordOutcomes } from './writes.ts';

// Delivery of one recipient, as a pipeline of named steps: resolve (keys, policy), choose the
// method, build, encrypt, sign, transmit, record. Each step can end the attempt with an outcome
// that is recorded for that recipient. A delivery may run twice (a worker died after sending,
// before recording): the queue is at least once, and an outcome only applies to a recipient still
// being delivered.

const ACTOR = { type: 'system' as const, id: 'secureline', label: 'secureline' };
/** The subject shown outside PGP and S/MIME when policy hides the real one. */
const NEUTRAL_SUBJECT = 'Encrypted message';

export class Secureline {
  private readonly deps: SecurelineDeps;
  private readonly policies = new Cache<SecurelinePolicy>(10_000);
  private readonly dkimKeys = new Cache<DkimSigningKey[]>(60_000);

  /** Outcomes of concurrent deliveries share commits and statements. */
  private readonly writes: WriteBatcher;
  private readonly outcomes: BulkWriter<Outcome, void>;

  constructor(deps: SecurelineDeps) {
    this.deps = deps;
    this.writes = new WriteBatcher(deps.db);
    this.outcomes = new BulkWriter(deps.db, (tx, items) => recordOutcomes(tx, deps, items));
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
    const { db, clock } = this.deps;
    const startedAt = clock();
    const { message, ...recipient } = claimed;
    const orgId = recipient.org_id;
    if (message.sandbox && !this.deps.sandbox)
      return this.failUnsent(
        message,
        recipient,
        'accepted in sandbox mode: captured only, never delivered',
        'sandbox_message',
      );
    const content = await openContent(this.deps.keyring, message);
    const policy = await this.policies.get(orgId, () => loadPolicy(db, orgId));
    let number = recipient.attempts + 1;

    // A recipient once sent to the portal stays there: their notice (and link) may already be out.
    let choice: Choice;
    let keys: RecipientKeys = { pgp: [], smime: [] };
    if (recipient.method === 'portal') {
      choice = { method: 'portal', reason: recipient.method_reason ?? 'the portal was chosen before' };
    } else {
      keys = await this.deps.findKeys(db, orgId, recipient.address, startedAt, {
        uploaded: recipient.has_uploaded_keys,
      });
      choice = chooseMethod({
        protection: message.protection,
        recipientPreference: recipient.preference,
        mayHoldPhi: message.phi || message.dlp.skipped_attachments > 0,
        pgpKeys: keys.pgp,
        smimeCertificates: keys.smime,
        policy,
      });
    }

    if (choice.method !== 'portal') {
      const attempt = await this.attemptDirect(
        message,
        content,
        recipient,
        choice,
        keys,
        policy,
        number,
        startedAt,
      );
      if (attempt.outcome !== 'tls_failed' && attempt.outcome !== 'failed') {
        await this.record(message, recipient, choice, attempt);
        return;
      }
      // Enforced TLS impossible, or the recipient's key unusable: never plaintext, the portal instead.
      await this.recordAttemptOnly(recipient, attempt);
      number += 1;
      choice = {
        method: 'portal',
        reason:
          attempt.outcome === 'tls_failed'
            ? `enforced TLS failed: ${attempt.detail}`
            : `encryption failed (${attempt.detail}); the portal instead`,
      };
    }
    const attempt = await this.attemptPortal(message, content, recipient, choice, policy, number, clock());
    await this.record(message, recipient, choice, attempt);
  }

  /** A recipient whose deliveries kept failing before any outcome was recorded: failed, unsent. */
  giveUp(claimed: Claimed, reason: string): Promise<void> {
    const { message, ...recipient } = claimed;
    return this.failUnsent(message, recipient, reason, 'no_outcome_recorded');
  }

  /**
   * Fails a recipient without an attempt: a message accepted in the sandbox that met a production
   * worker (the instance was switched; it was a trial, never sent), or one given up on.
   */
  private async failUnsent(
    message: StoredMessage,
    recipient: StoredRecipient,
    reason: string,
    code: string,
  ): Promise<void> {
    const now = this.deps.clock();
    await this.writes.run(async (tx) => {
      await tx.query(
        `UPDATE message_recipients SET state = 'failed', method_reason = $3, updated_at = $4, finished_at = $4,
           due_at = NULL, claims = 0, claimed_by = NULL
         WHERE org_id = $1 AND recipient_id = $2 AND state = 'delivering'`,
        [recipient.org_id, recipient.recipient_id, reason, now],
      );
      await this.deps.stageAudit(tx, {
        orgId: recipient.org_id,
        actor: ACTOR,
        action: 'message.failed',
        objectType: 'message',
        objectId: message.message_id,
        outcome: 'failure',
        details: { recipient_id: recipient.recipient_id, reason: code },
      });
    });
  }

  /** PGP, S/MIME or TLS: build, encrypt, sign, transmit. */
  private async attemptDirect(
    message: StoredMessage,
    content: MessageContent,
    recipient: StoredRecipient,
    choice: Choice,
    keys: RecipientKeys,
    policy: SecurelinePolicy,
    number: number,
    startedAt: Date,
  ): Promise<Attempt> {
    const base = { number, startedAt, method: choice.method };
    const copy = this.deps.personalise
      ? await this.deps.personalise(content, { orgId: message.org_id, recipientId: recipient.recipient_id })
      : content;
    let raw = await buildMessage(copy, message.rfc_message_id, message.created_at);
    try {
      const outerSubject = policy.hide_subject ? NEUTRAL_SUBJECT : undefined;
      if (choice.method === 'pgp')
        raw = await this.deps.encrypt.pgp(
          raw,
          keys.pgp.map((k) => k.key),
          { ...(outerSubject ? { outerSubject } : {}) },
        );
      else if (choice.method === 'smime')
        raw = await this.deps.encrypt.smime(
          raw,
          keys.smime.map((k) => k.key),
          { algorithm: policy.smime_algorithm, ...(outerSubject ? { outerSubject } : {}) },
        );
    } catch (err) {
      // Fail closed: a message whose encryption failed is never sent as it is.
      return { ...base, outcome: 'failed', detail: (err as Error).message.slice(0, 300) };
    }
    // End-to-end encrypted mail still asks for TLS, but does not need it verified.
    const tls = choice.method === 'tls' ? (choice.tls ?? 'enforced') : 'opportunistic';
    return this.transmit(message, recipient, raw, tls, base);
  }

  /** The portal: make sure the recipient's link exists, then send the notice (no PHI in it). */
  private async attemptPortal(
    message: StoredMessage,
    content: MessageContent,
    recipient: StoredRecipient,
    choice: Choice,
    policy: SecurelinePolicy,
    number: number,
    startedAt: Date,
  ): Promise<Attempt> {
    const { db, keyring } = this.deps;
    const days = content.portal?.expires_in_days ?? policy.portal_expiry_days ?? this.deps.portalExpiryDays;
    const delivery = await ensurePortalDelivery(db, keyring, {
      orgId: message.org_id,
      recipientId: recipient.recipient_id,
      reason: choice.reason,
      expiresAt: new Date(message.created_at.getTime() + days * 86_400_000),
      verification: content.portal?.verification ?? policy.portal_verification,
      language: content.portal?.language ?? 'en',
    });
    const link = portalLink(this.deps.publicUrl, delivery.token);
    const brand = await brandFor(db, message.org_id, link);
    // The subject only when policy allows it and DLP found nothing in it.
    const subjectIsClean = !message.dlp.findings.some((f) => f.where.includes('subject'));
    const letter = noticeLetter({
      brand,
      sender: content.from.name ?? null,
      link,
      expiresAt: delivery.expiresAt,
      language: content.portal?.language ?? 'en',
      subject: policy.notice_subject && subjectIsClean ? content.subject : null,
    });
    const raw = await composeLetter({
      letter,
      from: { name: brand.name, address: message.from_address },
      to: recipient.address,
      messageId: `<${recipient.recipient_id}.notice@${message.from_domain}>`,
      date: startedAt,
      headers: { 'X-Sealpost-Notice': 'portal' },
    });
    return this.transmit(message, recipient, raw, 'opportunistic', {
      number,
      startedAt,
      method: 'portal',
    });
  }

  /**
   * Mail Sealpost writes itself, about a delivery (a one-time code, a notice sent again, an alert
   * to the sender) or to staff about their accounts: no PHI in it, so TLS when offered.
   * DKIM-signed like everything that leaves.
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
    const { message } = input;
    const keys = await this.dkimKeys.get(`${message.org_id}/${message.from_domain}`, () =>
      dkimSigningKeys(this.deps.db, this.deps.keyring, message.org_id, message.from_domain),
    );
    const sign = (raw: Buffer) => signDkim(raw, message.from_domain, keys, this.deps.clock());
    const outcome = await this.deps.transport.send({
      domain: domainOf(input.to),
      from: `bounces+${input.recipientId}@${message.from_domain}`,
      to: [input.to],
      raw: await sign(input.raw),
      tls: 'opportunistic',
      context: {
        orgId: message.org_id,
        messageId: message.message_id,
        recipientId: input.recipientId,
        kind: input.kind,
        ...(input.redacted ? { redacted: await sign(input.redacted) } : {}),
      },
    });
    switch (outcome.status) {
      case 'delivered':
        return outcome.rejected[0]
          ? {
              status: outcome.rejected[0].code >= 500 ? 'bounced' : 'deferred',
              detail: outcome.rejected[0].response,
            }
          : { status: 'delivered' };
      case 'deferred':
        return { status: 'deferred', detail: outcome.reason };
      case 'bounced':
        return { status: 'bounced', detail: outcome.response };
      default:
        return { status: 'failed', detail: 'reason' in outcome ? String(outcome.reason) : null };
    }
  }

  private async transmit(
    message: StoredMessage,
    recipient: StoredRecipient,
    raw: Buffer,
    tls: 'enforced' | 'opportunistic',
    base: Pick<Attempt, 'number' | 'startedAt' | 'method'>,
  ): Promise<Attempt> {
    const keys = await this.dkimKeys.get(`${message.org_id}/${message.from_domain}`, () =>
      dkimSigningKeys(this.deps.db, this.deps.keyring, message.org_id, message.from_domain),
    );
    const signed = await signDkim(raw, message.from_domain, keys, this.deps.clock());
    const outcome = await this.deps.transport.send({
      domain: domainOf(recipient.address),
      // The return path names the recipient, so a bounce that arrives later finds it (VERP).
      from: `bounces+${recipient.recipient_id}@${message.from_domain}`,
      to: [recipient.address],
      raw: signed,
      tls,
      context: {
        orgId: message.org_id,
        messageId: message.message_id,
        recipientId: recipient.recipient_id,
        kind: 'message',
      },
    });
    switch (outcome.status) {
      case 'delivered': {
        const refused = outcome.rejected[0];
        if (refused)
          return {
            ...base,
            outcome: refused.code >= 500 ? 'bounced' : 'deferred',
            mx: outcome.mx,
            code: refused.code,
            response: refused.response,
            detail: refused.code >= 500 ? null : 'the server asked to try this recipient later',
          };
        return {
          ...base,
          outcome: 'delivered',
          mx: outcome.mx,
          response: outcome.response,
          tls: outcome.tls,
        };
      }
      case 'tls_failed':
        return { ...base, outcome: 'tls_failed', mx: outcome.mx, detail: outcome.reason };
      case 'deferred':
        return {
          ...base,
          outcome: 'deferred',
          mx: outcome.mx,
          code: outcome.code ?? null,
          response: outcome.response ?? null,
          detail: outcome.reason,
        };
      case 'bounced':
        return {
          ...base,
          outcome: 'bounced',
          mx: outcome.mx,
          code: outcome.code,
          response: outcome.response,
        };
    }
  }

  private async recordAttemptOnly(recipient: StoredRecipient, attempt: Attempt): Promise<void> {
    const now = this.deps.clock();
    await this.outcomes.add({ recipient, attempt, now });
    this.observe(attempt, now);
  }

  private observe(attempt: Attempt, now: Date): void {
    this.deps.observe?.(
      attempt.method,
      attempt.outcome,
      (now.getTime() - attempt.startedAt.getTime()) / 1000,
    );
  }

  /** Writes the attempt, the recipient's new state, the next try and the audit event in one transaction (shared). */
  private async record(message: StoredMessage, recipient: StoredRecipient, choice: Choice, attempt: Attempt) {
    const { clock } = this.deps;
    const now = clock();
    let state: string;
    let action: string;
    let retryAt: Date | null = null;
    let detail = attempt.detail ?? null;
    switch (attempt.outcome) {
      case 'delivered':
        state = choice.method === 'portal' ? 'portal_notified' : 'delivered';
        action = choice.method === 'portal' ? 'message.portal_notified' : 'message.delivered';
        break;
      case 'bounced':
        state = 'bounced';
        action = 'message.bounced';
        break;
      case 'failed':
      case 'tls_failed':
        state = 'failed';
        action = 'message.failed';
        break;
      case 'deferred': {
        const gaveUpAt = message.created_at.getTime() + this.deps.lifetimeHours * 3_600_000;
        const next = now.getTime() + backoffSeconds(attempt.number, this.deps.retryBaseSeconds) * 1000;
        if (next > gaveUpAt) {
          state = 'bounced';
          action = 'message.bounced';
          detail =
            `gave up after ${this.deps.lifetimeHours} hours of deferrals: ${attempt.detail ?? ''}`.trim();
        } else {
          state = 'deferred';
          action = 'message.deferred';
          retryAt = new Date(next);
        }
        break;
      }
    }
    const final = state !== 'deferred';
    await this.outcomes.add({
      recipient,
      attempt: { ...attempt, detail },
      now,
      update: {
        state,
        method: choice.method,
        reason: choice.reason,
        nextAttemptAt: retryAt,
        finishedAt: final ? now : null,
      },
      // A permanent refusal of the address itself (not a give-up after deferrals) suppresses it.
      ...(attempt.outcome === 'bounced' && attempt.code && attempt.code >= 500
        ? {
            suppress: {
              address: recipient.address,
              reason: 'hard_bounce' as const,
              detail: `${attempt.code} ${attempt.response ?? ''}`.trim().slice(0, 300),
              messageId: message.message_id,
            },
          }
        : {}),
      audit: {
        orgId: recipient.org_id,
        actor: ACTOR,
        action,
        objectType: 'message',
        objectId: message.message_id,
        outcome: state === 'delivered' || state === 'portal_notified' ? 'success' : 'failure',
        details: {
          recipient_id: recipient.recipient_id,
          method: choice.method,
          attempt: attempt.number,
          ...(attempt.mx ? { mx: attempt.mx } : {}),
          ...(attempt.code ? { smtp_code: attempt.code } : {}),
          ...(attempt.tls ? { tls_version: attempt.tls.version, tls_cipher: attempt.tls.cipher } : {}),
          ...(retryAt ? { retry_at: retryAt.toISOString() } : {}),
        },
      },
    });
    this.observe(attempt, now);
    this.deps.log.info(
      {
        org_id: recipient.org_id,
        message_id: message.message_id,
        recipient_id: recipient.recipient_id,
        method: choice.method,
        state,
        attempt: attempt.number,
      },
      'delivery attempt recorded',
    );
  }
}
