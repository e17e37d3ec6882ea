import { randomUUID } from 'node:crypto';
import type { AuditInput } from '../audit/index.ts';
import type { Keyring } from '../crypto/index.ts';
import { BatchReader, BulkWriter, type Db, type Queryable } from '../db/index.ts';
import { scanMessage } from '../dlp/index.ts';
import { isVerifiedDomain } from '../domains/index.ts';
import { SealpostError } from '../errors/index.ts';
import type { Actor } from '../access-model/index.ts';
import { type Suppression, suppressedAmong, suppressedAmongMany } from '../suppressions/index.ts';
import { isUniqueViolation, recall, remember } from './idempotency.ts';
import { DELIVERY_CHANNEL, PRIORITY } from './delivery-queue.ts';
import {
  type MessageContent,
  type MessageRequest,
  type Priority,
  type RecipientKind,
  sealedContentBinding,
} from './types.ts';
import { domainOf, validateMessage } from './validate.ts';

// submit: the one way in. The API, the SMTP gateway, campaigns, journeys and form notifications
// all come through here; nothing else creates a message.

export interface SubmitDeps {
  db: Db;
  keyring: Keyring;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  /** Stages high-volume audit events in the action's transaction (see stageAudit). */
  stageAudit(q: Queryable, records: AuditInput | AuditInput[]): Promise<unknown>;
  maxBytes: number;
  /** Messages accepted in the sandbox are marked so: they are captured, never delivered. */
  sandbox: boolean;
  clock: () => Date;
}

export interface SubmitContext {
  orgId: string;
  actor: Actor;
  ip?: string | null;
  requestId?: string | null;
}

export interface Accepted {
  id: string;
  status: 'queued' | 'scheduled';
  rfc_message_id: string;
  recipients: { id: string; address: string; kind: RecipientKind; state: 'queued' }[];
  dlp: { phi: boolean; findings: { kind: string; count: number; where: string[] }[] };
}

/**
 * A sending domain, once verified, stays verified (verification only ever sets the status), so a
 * yes is kept a minute per organisation and domain, by the injected clock; a no is always asked again.
 */
class VerifiedDomains {
  static readonly TTL_MS = 60_000;
  static readonly SIZE = 10_000;
  readonly #until = new Map<string, number>();
  readonly #clock: () => Date;

  constructor(clock: () => Date) {
    this.#clock = clock;
  }

  async has(q: Queryable, orgId: string, domain: string): Promise<boolean> {
    const key = `${orgId}/${domain}`;
    if ((this.#until.get(key) ?? 0) > this.#clock().getTime()) return true;
    if (!(await isVerifiedDomain(q, orgId, domain))) return false;
    this.#until.delete(key);
    this.#until.set(key, this.#clock().getTime() + VerifiedDomains.TTL_MS);
    // The oldest entry goes first (a Map keeps insertion order).
    if (this.#until.size > VerifiedDomains.SIZE) this.#until.delete(this.#until.keys().next().value!);
    return true;
  }
}

/**
 * Checks what the content alone cannot tell: the sending domain and the suppression list.
 * `suppressed`: the organisation's suppressions among a superset of these recipients, when the
 * caller looked them up for many messages at once. `verified`: the submitting instance's verified
 * domains; without it (a preview) the database is asked.
 */
export async function checkSendable(
  q: Queryable,
  orgId: string,
  content: MessageContent,
  suppressed?: Suppression[],
  verified?: VerifiedDomains,
): Promise<void> {
  const fromDomain = domainOf(content.from.address);
  const isVerified = verified
    ? await verified.has(q, orgId, fromDomain)
    : await isVerifiedDomain(q, orgId, fromDomain);
  if (!isVerified)
    throw new SealpostError(
      'domain_unverified',
      `${fromDomain} is not a verified sending domain of this organisation: add it at /v1/domains and publish its records.`,
    );
  const recipients = [...content.to, ...content.cc, ...content.bcc].map((m) => m.address);
  // An unsubscribe holds back marketing mail only: a patient who unsubscribed still gets their results.
  const among = suppressed
    ? suppressed.filter((s) => recipients.includes(s.address))
    : await suppressedAmong(q, orgId, recipients);
  const refused = among.filter((s) => s.reason !== 'unsubscribe' || content.marketing === true);
  if (refused.length > 0)
    throw new SealpostError('recipients_suppressed', `${refused.length} recipient(s) are suppressed.`, {
      details: { recipients: refused.map((s) => ({ address: s.address, reason: s.reason })) },
    });
}

export function dlpOf(content: MessageContent) {
  return scanMessage({
    subject: content.subject,
    ...(content.text !== undefined ? { text: content.text } : {}),
    ...(content.html !== undefined ? { html: content.html } : {}),
    attachments: content.attachments.map((a) => ({
      filename: a.filename,
      contentType: a.content_type,
      content: Buffer.from(a.content, 'base64'),
    })),
  });
}

interface Prepared {
  request: MessageRequest;
  content: MessageContent;
  dlp: ReturnType<typeof dlpOf>;
  sealed: Buffer;
  sendAt: Date | null;
  priority: Priority;
  fromDomain: string;
  accepted: Accepted;
  phi: boolean;
  replyOf: string | null;
  /** Remembered under this idempotency key in the same transaction. */
  remember?: { scope: string; key: string; hash: Buffer };
}

/** One message to submit, with the idempotency key that makes its retry safe, if any. */
export interface Submission {
  request: MessageRequest;
  idempotency?: { scope: string; key: string; hash: Buffer };
  /** The message holds PHI whatever DLP finds (a patient's reply from the portal). */
  assumePhi?: boolean;
  /** The message this one answers (a reply written in the portal). */
  replyOf?: string;
}

export type SubmitOutcome = { status: 202; body: Accepted } | { status: number; error: SealpostError };

/** Validation, DLP and sealing: everything but the storing, which is done for many at once. */
async function prepare(
  deps: SubmitDeps,
  orgId: string,
  submission: Submission,
  content: MessageContent,
  suppressed?: Suppression[],
): Promise<Prepared> {
  const { request } = submission;
  await checkSendable(deps.db, orgId, content, suppressed, stateOf(deps).verified);
  const dlp = dlpOf(content);
  const messageId = randomUUID();
  const fromDomain = domainOf(content.from.address);
  const sendAt = request.send_at ? new Date(request.send_at) : null;
  // Sealed before the transaction: sealing reads the organisation key, and the embedded database
  // runs one transaction at a time.
  const sealed = await deps.keyring.seal(orgId, sealedContentBinding(messageId), JSON.stringify(content));
  const recipients = (['to', 'cc', 'bcc'] as const).flatMap((kind) =>
    content[kind].map((m) => ({ id: randomUUID(), address: m.address, kind, state: 'queued' as const })),
  );
  return {
    request,
    content,
    dlp,
    sealed,
    sendAt,
    priority: request.priority ?? 'transactional',
    fromDomain,
    phi: dlp.phi || submission.assumePhi === true,
    replyOf: submission.replyOf ?? null,
    ...(submission.idempotency ? { remember: submission.idempotency } : {}),
    accepted: {
      id: messageId,
      status: sendAt && sendAt > deps.clock() ? 'scheduled' : 'queued',
      rfc_message_id: `<${messageId}@${fromDomain}>`,
      recipients,
      dlp: { phi: dlp.phi || submission.assumePhi === true, findings: dlp.findings },
    },
  };
}

/**
 * Submits messages: each is checked on its own (a bad one is refused with its own problem), and
 * all that pass are stored in ONE transaction: messages, recipients, one delivery job per
 * recipient, their audit events and idempotency answers. A retried item whose key is remembered
 * gets its first answer; the same key with another body is a 409.
 */
export async function submitMessages(
  deps: SubmitDeps,
  submissions: Submission[],
  ctx: SubmitContext,
): Promise<SubmitOutcome[]> {
  const outcomes: (SubmitOutcome | Prepared)[] = [];
  const contents = submissions.map((s) => {
    try {
      return validateMessage(s.request, deps.maxBytes);
    } catch (err) {
      if (!(err instanceof SealpostError)) throw err;
      return err;
    }
  });
  // A batch asks for its suppressions once, not once per message; and concurrent requests ask
  // together, in one statement.
  const valid = contents.filter((c): c is MessageContent => !(c instanceof SealpostError));
  const addresses = [...new Set(valid.flatMap((c) => [...c.to, ...c.cc, ...c.bcc].map((m) => m.address)))];
  const suppressed =
    addresses.length > 0 ? await stateOf(deps).suppressions.get({ orgId: ctx.orgId, addresses }) : undefined;
  for (const [i, submission] of submissions.entries()) {
    try {
      const id = submission.idempotency;
      const earlier = id ? await recall(deps.db, ctx.orgId, id.scope, id.key, id.hash) : null;
      const content = contents[i]!;
      if (!earlier && content instanceof SealpostError) throw content;
      outcomes.push(
        earlier
          ? { status: 202, body: earlier.body as Accepted }
          : await prepare(deps, ctx.orgId, submission, content as MessageContent, suppressed),
      );
    } catch (err) {
      if (!(err instanceof SealpostError)) throw err;
      outcomes.push({ status: err.status, error: err });
    }
  }
  const toStore = outcomes.filter((o): o is Prepared => 'accepted' in o);
  try {
    if (toStore.length > 0) await stateOf(deps).writer.add({ ctx, items: toStore });
  } catch (err) {
    // A concurrent request with one of these idempotency keys won the race: go one by one, so
    // that item answers as the winner did and the others are stored.
    if (!isUniqueViolation(err) || submissions.length === 1) {
      if (isUniqueViolation(err)) {
        const id = submissions[0]!.idempotency!;
        const winner = await recall(deps.db, ctx.orgId, id.scope, id.key, id.hash);
        if (winner) return [{ status: 202, body: winner.body as Accepted }];
      }
      throw err;
    }
    return (await Promise.all(submissions.map((s) => submitMessages(deps, [s], ctx)))).flat();
  }
  return outcomes.map((o) => ('accepted' in o ? { status: 202 as const, body: o.accepted } : o));
}

/** One message: its answer, or its problem thrown. */
export async function submitMessage(
  deps: SubmitDeps,
  request: MessageRequest,
  ctx: SubmitContext,
  idempotency?: Submission['idempotency'],
  extra: Pick<Submission, 'assumePhi' | 'replyOf'> = {},
): Promise<Accepted> {
  const [outcome] = await submitMessages(
    deps,
    [{ request, ...extra, ...(idempotency ? { idempotency } : {}) }],
    ctx,
  );
  if ('error' in outcome!) throw outcome.error;
  return outcome!.body;
}

/** The messages of one submitMessages call, stored together with those of concurrent calls. */
interface Submitted {
  ctx: SubmitContext;
  items: Prepared[];
}

/**
 * What one submitting instance (one set of deps, so one database) shares between its calls: the
 * verified domains, suppression look-ups of concurrent submissions made together, and the group
 * commit of submissions: the messages of concurrent requests (one by one or in batches) are stored
 * by one set of statements in one transaction, committed (accepted) before any of their callers
 * answer.
 */
interface SubmitState {
  verified: VerifiedDomains;
  suppressions: BatchReader<{ orgId: string; addresses: string[] }, Suppression[]>;
  writer: BulkWriter<Submitted, void>;
}

const states = new WeakMap<SubmitDeps, SubmitState>();

function stateOf(deps: SubmitDeps): SubmitState {
  let state = states.get(deps);
  if (!state) {
    state = {
      verified: new VerifiedDomains(deps.clock),
      suppressions: new BatchReader(deps.db, suppressedAmongMany),
      writer: new BulkWriter(deps.db, async (tx, batch) => {
        await store(
          deps,
          tx,
          batch.flatMap((b) => b.items.map((item) => ({ ...item, ctx: b.ctx }))),
        );
        return batch.map(() => undefined);
      }),
    };
    states.set(deps, state);
  }
  return state;
}

async function store(
  deps: SubmitDeps,
  tx: Queryable,
  items: (Prepared & { ctx: SubmitContext })[],
): Promise<void> {
  // The sealed contents travel apart from the JSON, as one binary parameter cut by offsets: inside
  // JSON they were base64 text that PostgreSQL scanned, unescaped and decoded (its costliest step).
  let offset = 0;
  const sealedAt = items.map((p) => {
    const at = offset;
    offset += p.sealed.length;
    return at;
  });
  await tx.query(
    `INSERT INTO messages (org_id, message_id, send_at, from_address, from_domain, protection, priority,
       tags, size_bytes, dlp, phi, rfc_message_id, content_sealed, submitted_by, sandbox, reply_of)
     SELECT m.org_id, m.id, m.send_at, m.from_address, m.from_domain, m.protection, m.priority,
       ARRAY(SELECT jsonb_array_elements_text(m.tags)), m.size_bytes, m.dlp, m.phi, m.rfc_message_id,
       substring($3::bytea FROM m.sealed_at + 1 FOR m.sealed_length), m.submitted_by, $2, m.reply_of
     FROM jsonb_to_recordset($1::jsonb) AS m (org_id uuid, id uuid, send_at timestamptz, from_address text,
       from_domain text, protection text, priority text, tags jsonb, size_bytes int, dlp jsonb, phi boolean,
       rfc_message_id text, sealed_at int, sealed_length int, submitted_by jsonb, reply_of uuid)`,
    [
      JSON.stringify(
        items.map((p, i) => ({
          org_id: p.ctx.orgId,
          submitted_by: p.ctx.actor,
          id: p.accepted.id,
          send_at: p.sendAt,
          from_address: p.content.from.address,
          from_domain: p.fromDomain,
          protection: p.request.protection ?? 'auto',
          priority: p.priority,
          tags: [...new Set(p.request.tags ?? [])],
          size_bytes: p.content.size,
          dlp: p.dlp,
          phi: p.phi,
          rfc_message_id: p.accepted.rfc_message_id,
          sealed_at: sealedAt[i],
          sealed_length: p.sealed.length,
          reply_of: p.replyOf,
        })),
      ),
      deps.sandbox,
      Buffer.concat(items.map((p) => p.sealed)),
    ],
  );
  const recipients = items.flatMap((p) =>
    p.accepted.recipients.map((r, position) => ({
      ...r,
      org_id: p.ctx.orgId,
      position,
      message_id: p.accepted.id,
      send_at: p.sendAt,
      priority: PRIORITY[p.priority],
    })),
  );
  // Each recipient is its own entry in the delivery queue (due at once, or at send_at), and idle
  // workers are told on commit.
  await tx.query(
    `WITH queued AS (
       INSERT INTO message_recipients (org_id, recipient_id, message_id, position, kind, address,
         next_attempt_at, due_at, priority)
       SELECT r.org_id, r.id, r.message_id, r.position, r.kind, r.address, r.send_at, coalesce(r.send_at, now()),
         r.priority
       FROM jsonb_to_recordset($1::jsonb) AS r (org_id uuid, id uuid, message_id uuid, position int, kind text,
         address text, send_at timestamptz, priority smallint)
       RETURNING 1)
     SELECT pg_notify($2, '') WHERE EXISTS (SELECT 1 FROM queued)`,
    [JSON.stringify(recipients), DELIVERY_CHANNEL],
  );
  await deps.stageAudit(
    tx,
    items.map(({ ctx, ...p }) => ({
      orgId: ctx.orgId,
      actor: ctx.actor,
      ip: ctx.ip ?? null,
      requestId: ctx.requestId ?? null,
      action: 'message.queued',
      objectType: 'message',
      objectId: p.accepted.id,
      outcome: 'success' as const,
      details: {
        recipients: p.accepted.recipients.length,
        protection: p.request.protection ?? 'auto',
        priority: p.priority,
        phi: p.phi,
        ...(p.replyOf ? { reply_of: p.replyOf } : {}),
        dlp_kinds: p.dlp.findings.map((f) => f.kind),
        size_bytes: p.content.size,
        attachments: p.content.attachments.length,
        ...(p.sendAt ? { send_at: p.sendAt.toISOString() } : {}),
      },
    })),
  );
  for (const p of items)
    if (p.remember)
      await remember(tx, p.ctx.orgId, p.remember.scope, p.remember.key, p.remember.hash, {
        status: 202,
        body: p.accepted,
      });
}
