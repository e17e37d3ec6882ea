import type { DkimSigningKey } from '../domains/index.ts';
import {
  domainOf,
  type MessageContent,
  openContent,
  type StoredMessage,
  type StoredRecipient,
} from '../messages/index.ts';
import type { SendOutcome } from '../outbound/index.ts';
import { brandFor, composeLetter, ensurePortalDelivery, noticeLetter, portalLink } from '../portal/index.ts';
import type { Attempt } from './attempts.ts';
import { buildMessage } from './build.ts';
import { signDkim } from './dkim.ts';
import { type Choice, chooseMethod, type SecurelinePolicy } from './policy.ts';
import type { Claimed } from './queue.ts';
import type { MailKind, RecipientKeys, SecurelineDeps } from './types.ts';

// The steps of one delivery, in order: resolve, choose, build, encrypt, sign, transmit (record is
// in record.ts). Each reads and fills one Delivery; a step that ends the delivery returns a Stop,
// the outcome that record then writes. Sign and transmit also carry the mail Sealpost writes
// itself (see Secureline.sendSystemMail).

/** One recipient's delivery as it goes through the steps; each fills in what it found. */
export interface Delivery {
  readonly message: StoredMessage;
  readonly recipient: Omit<Claimed, 'message'>;
  readonly kind: 'message';
  /** The attempt's number and start. */
  number: number;
  startedAt: Date;
  /** resolve: the opened content, the organisation's policy, the recipient's keys. */
  content?: MessageContent;
  policy?: SecurelinePolicy;
  keys: RecipientKeys;
  /** choose. */
  choice?: Choice;
  /** build, then encrypt and sign in place. */
  raw?: Buffer;
  /** The TLS the transmission asks for (choose). */
  tls: 'enforced' | 'opportunistic';
}

/** How a step ends the delivery: an attempt that ended, or a recipient failed with none made. */
export type Stop = { attempt: Attempt } | { unsent: { reason: string; code: string } };

/** What the steps use beyond the delivery: SecureLine's dependencies and its caches. */
export interface StepEnv {
  deps: SecurelineDeps;
  policyOf(orgId: string): Promise<SecurelinePolicy>;
  dkimKeysOf(orgId: string, domain: string): Promise<DkimSigningKey[]>;
}

export type Step = (env: StepEnv, d: Delivery) => Promise<Stop | undefined>;

/** The subject shown outside PGP and S/MIME when policy hides the real one. */
const NEUTRAL_SUBJECT = 'Encrypted message';

export function startDelivery(claimed: Claimed, now: Date): Delivery {
  const { message, ...recipient } = claimed;
  return {
    message,
    recipient,
    kind: 'message',
    number: recipient.attempts + 1,
    startedAt: now,
    keys: { pgp: [], smime: [] },
    tls: 'opportunistic',
  };
}

/** Runs steps in order until one stops the delivery. */
export async function runSteps(env: StepEnv, d: Delivery, steps: readonly Step[]): Promise<Stop> {
  for (const step of steps) {
    const stop = await step(env, d);
    if (stop) return stop;
  }
  throw new Error('no step ended the delivery');
}

/**
 * The content, the policy and the recipient's keys. A message accepted in the sandbox that meets
 * a production worker (the instance was switched) was a trial: it stops here, never sent. A
 * recipient once sent to the portal needs no keys: they stay there.
 */
export const resolve: Step = async ({ deps, policyOf }, d) => {
  const { message, recipient } = d;
  if (message.sandbox && !deps.sandbox)
    return {
      unsent: { reason: 'accepted in sandbox mode: captured only, never delivered', code: 'sandbox_message' },
    };
  d.content = await openContent(deps.keyring, message);
  d.policy = await policyOf(recipient.org_id);
  if (recipient.method !== 'portal')
    d.keys = await deps.findKeys(deps.db, recipient.org_id, recipient.address, d.startedAt, {
      uploaded: recipient.has_uploaded_keys,
    });
  return undefined;
};

/**
 * The method (policy.ts), and the TLS it asks for. A recipient once sent to the portal stays
 * there: their notice (and link) may already be out.
 */
export const choose: Step = async ({ deps }, d) => {
  const { message, recipient } = d;
  d.choice =
    recipient.method === 'portal'
      ? { method: 'portal', reason: recipient.method_reason ?? 'the portal was chosen before' }
      : chooseMethod({
          protection: message.protection,
          recipientPreference: recipient.preference,
          mayHoldPhi: message.phi || message.dlp.skipped_attachments > 0,
          pgpKeys: d.keys.pgp,
          smimeCertificates: d.keys.smime,
          policy: d.policy!,
        });
  if (d.choice.method === 'portal') toPortal(d, d.choice, deps.clock());
  // End-to-end encrypted mail still asks for TLS, but does not need it verified.
  else d.tls = d.choice.method === 'tls' ? (d.choice.tls ?? 'enforced') : 'opportunistic';
  return undefined;
};

/**
 * The portal, for a direct attempt that could not go out safely: enforced TLS impossible, or the
 * recipient's key unusable. Never plaintext.
 */
export function portalInstead(d: Delivery, stop: Stop): { choice: Choice; after: Attempt } | undefined {
  if (!('attempt' in stop) || d.choice!.method === 'portal') return undefined;
  const after = stop.attempt;
  if (after.outcome === 'tls_failed')
    return { choice: { method: 'portal', reason: `enforced TLS failed: ${after.detail}` }, after };
  if (after.outcome === 'failed')
    return {
      choice: { method: 'portal', reason: `encryption failed (${after.detail}); the portal instead` },
      after,
    };
  return undefined;
}

/**
 * Hands the delivery to the portal, as a new attempt from `now` when one already ended.
 */
export function toPortal(d: Delivery, choice: Choice, now: Date, after?: Attempt): void {
  d.choice = choice;
  d.tls = 'opportunistic';
  d.startedAt = now;
  if (after) d.number = after.number + 1;
}

/**
 * The message: the recipient's own copy (personalised) as RFC 5322, or for the portal the notice
 * (no PHI in it) with the recipient's link, made first.
 */
export const build: Step = async ({ deps }, d) => {
  const { message, recipient } = d;
  const content = d.content!;
  if (d.choice!.method !== 'portal') {
    const copy = deps.personalise
      ? await deps.personalise(content, { orgId: message.org_id, recipientId: recipient.recipient_id })
      : content;
    d.raw = await buildMessage(copy, message.rfc_message_id, message.created_at);
    return undefined;
  }
  const policy = d.policy!;
  const days = content.portal?.expires_in_days ?? policy.portal_expiry_days ?? deps.portalExpiryDays;
  const delivery = await ensurePortalDelivery(deps.db, deps.keyring, {
    orgId: message.org_id,
    recipientId: recipient.recipient_id,
    reason: d.choice!.reason,
    expiresAt: new Date(message.created_at.getTime() + days * 86_400_000),
    verification: content.portal?.verification ?? policy.portal_verification,
    language: content.portal?.language ?? 'en',
  });
  const link = portalLink(deps.publicUrl, delivery.token);
  const brand = await brandFor(deps.db, message.org_id, link);
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
  d.raw = await composeLetter({
    letter,
    from: { name: brand.name, address: message.from_address },
    to: recipient.address,
    messageId: `<${recipient.recipient_id}.notice@${message.from_domain}>`,
    date: d.startedAt,
    headers: { 'X-Sealpost-Notice': 'portal' },
  });
  return undefined;
};

/**
 * PGP/MIME to the recipient's keys or S/MIME to their certificates; TLS and the portal are sent
 * as built. Fails closed: a message whose encryption failed stops here, never sent as it is.
 */
export const encrypt: Step = async ({ deps }, d) => {
  const method = d.choice!.method;
  if (method !== 'pgp' && method !== 'smime') return undefined;
  const policy = d.policy!;
  const outerSubject = policy.hide_subject ? { outerSubject: NEUTRAL_SUBJECT } : {};
  try {
    d.raw =
      method === 'pgp'
        ? await deps.encrypt.pgp(
            d.raw!,
            d.keys.pgp.map((k) => k.key),
            outerSubject,
          )
        : await deps.encrypt.smime(
            d.raw!,
            d.keys.smime.map((k) => k.key),
            { algorithm: policy.smime_algorithm, ...outerSubject },
          );
    return undefined;
  } catch (err) {
    return {
      attempt: { ...attemptBase(d), outcome: 'failed', detail: (err as Error).message.slice(0, 300) },
    };
  }
};

/** What sign and transmit need: a delivery, or mail Sealpost writes itself. */
export interface Sending {
  message: Pick<StoredMessage, 'org_id' | 'message_id' | 'from_domain'>;
  recipient: Pick<StoredRecipient, 'recipient_id' | 'address'>;
  kind: MailKind;
  raw?: Buffer;
  /** The same mail with what grants access in it masked (see DeliveryContext). */
  redacted?: Buffer;
  tls: 'enforced' | 'opportunistic';
}

/** DKIM, with the From domain's keys (RSA and Ed25519), like everything that leaves. */
export async function sign({ deps, dkimKeysOf }: StepEnv, s: Sending): Promise<undefined> {
  const { org_id: orgId, from_domain: domain } = s.message;
  const keys = await dkimKeysOf(orgId, domain);
  s.raw = await signDkim(s.raw!, domain, keys, deps.clock());
  if (s.redacted) s.redacted = await signDkim(s.redacted, domain, keys, deps.clock());
  return undefined;
}

/** Hands the signed message to the transport; every delivery stops here, with its attempt. */
export const transmit: Step = async (env, d) => ({
  attempt: { ...attemptBase(d), ...(await send(env, d)) },
});

/** How a send ended, as an attempt records it. */
export type Ending = Omit<Attempt, 'number' | 'startedAt' | 'method'>;

/** Sends one signed mail to its one recipient and says how it ended. */
export async function send({ deps }: StepEnv, s: Sending): Promise<Ending> {
  const { message, recipient } = s;
  const sent = await deps.transport.send({
    domain: domainOf(recipient.address),
    // The return path names the recipient, so a bounce that arrives later finds it (VERP).
    from: `bounces+${recipient.recipient_id}@${message.from_domain}`,
    to: [recipient.address],
    raw: s.raw!,
    tls: s.tls,
    context: {
      orgId: message.org_id,
      messageId: message.message_id,
      recipientId: recipient.recipient_id,
      kind: s.kind,
      ...(s.redacted ? { redacted: s.redacted } : {}),
    },
  });
  return endingOf(sent);
}

/** The transport's outcome as an attempt's: a refusal of the one recipient is a bounce (5xx) or a deferral. */
export function endingOf(sent: SendOutcome): Ending {
  switch (sent.status) {
    case 'delivered': {
      const refused = sent.rejected[0];
      if (refused)
        return {
          outcome: refused.code >= 500 ? 'bounced' : 'deferred',
          mx: sent.mx,
          code: refused.code,
          response: refused.response,
          detail: refused.code >= 500 ? null : 'the server asked to try this recipient later',
        };
      return { outcome: 'delivered', mx: sent.mx, response: sent.response, tls: sent.tls };
    }
    case 'tls_failed':
      return { outcome: 'tls_failed', mx: sent.mx, detail: sent.reason };
    case 'deferred':
      return {
        outcome: 'deferred',
        mx: sent.mx,
        code: sent.code ?? null,
        response: sent.response ?? null,
        detail: sent.reason,
      };
    case 'bounced':
      return { outcome: 'bounced', mx: sent.mx, code: sent.code, response: sent.response };
  }
}

function attemptBase(d: Delivery): Pick<Attempt, 'number' | 'startedAt' | 'method'> {
  return { number: d.number, startedAt: d.startedAt, method: d.choice!.method };
}
