import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { AuditInput } from '../audit/index.ts';
import type { Keyring } from '../crypto/index.ts';
import type { Db, Queryable } from '../db/index.ts';
import { errors, SealpostError } from '../errors/index.ts';
import type { RequestAuth } from '../access-model/index.ts';
import type { JobQueue } from '../queue/index.ts';
import {
  breakGlassLetter,
  queueStaffMail,
  type SealedMail,
  sealStaffMail,
  staffMailDomain,
} from './lifecycle-mail.ts';
import { ROLES } from './permissions.ts';
import { type ClientInfo, userActor } from './staff-auth.ts';

// Break-glass emergency access (HIPAA 164.312(a)(2)(ii)). Owners designate, in advance, the users
// who may use it. In an emergency such a user, signed in, proves who they are again with a second
// factor and gives a reason; their session (that one only) then holds an owner's permissions for
// a limited time. Every owner is mailed at once; activation, every request made while elevated
// (the actor's label says break-glass), and the end (deactivation, expiry, the session ending)
// are chained audit events. An owner reviews each use afterwards.

export const DEFAULT_MINUTES = 60;
export const DEFAULT_MAX_MINUTES = 60;

/**
 * Emergency access cannot make itself permanent: these run with the user's own permissions, not
 * the elevated ones (a role, a custom role, an API key, break-glass settings).
 */
const NEVER_ELEVATED = [
  /^PUT \/v1\/users\/:id\/role$/,
  /^(POST|PATCH|PUT|DELETE) \/v1\/roles/,
  /^POST \/v1\/api-keys$/,
  /^(POST|PUT|DELETE) \/v1\/break-glass\//,
];

export interface BreakGlassDeps {
  db: Db;
  audit(q: Queryable, record: AuditInput): Promise<unknown>;
  clock?: () => Date;
}

const reasonBinding = (id: string) => ({ table: 'break_glass_activations', row: id });
const reviewBinding = (id: string) => ({ table: 'break_glass_activations.review', row: id });

const system = { type: 'system' as const, id: 'break-glass', label: 'break-glass' };

export class BreakGlass {
  private readonly deps: BreakGlassDeps;
  readonly clock: () => Date;

  constructor(deps: BreakGlassDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? (() => new Date());
  }

  /**
   * Called for every request a session authenticates: when the session holds an open activation,
   * the request is elevated and recorded (before it runs: no record, no action); when the
   * activation's time is up, it ends here and now.
   */
  async elevate(request: FastifyRequest, auth: RequestAuth): Promise<RequestAuth> {
    const session = auth.session;
    if (!session) return auth;
    const now = this.clock();
    const { rows } = await this.deps.db.query<{ activation_id: string; expires_at: Date }>(
      `SELECT activation_id, expires_at FROM break_glass_activations
       WHERE org_id = $1 AND session_id = $2 AND ended_at IS NULL`,
      [auth.orgId, session.id],
    );
    const open = rows[0];
    if (!open) return auth;
    if (open.expires_at <= now) {
      await this.end(auth.orgId, open.activation_id, 'expired', now);
      return auth;
    }
    const route = `${request.method} ${request.routeOptions.url ?? ''}`;
    if (NEVER_ELEVATED.some((pattern) => pattern.test(route))) return auth;
    const actor = { ...auth.actor, label: `break-glass:${open.activation_id}` };
    await this.deps.db.transaction(async (tx) => {
      await tx.query(
        'UPDATE break_glass_activations SET actions = actions + 1 WHERE org_id = $1 AND activation_id = $2',
        [auth.orgId, open.activation_id],
      );
      await this.deps.audit(tx, {
        orgId: auth.orgId,
        actor,
        action: 'break_glass.action',
        objectType: 'break_glass_activation',
        objectId: open.activation_id,
        outcome: 'success',
        ip: request.ip,
        requestId: request.id,
        // The route's pattern, not the URL: ids in a path are fine, a query string might not be.
        details: {
          method: request.method,
          route: request.routeOptions.url ?? null,
          params: paramsOf(request),
        },
      });
    });
    return {
      ...auth,
      actor,
      scopes: ROLES.owner!,
      breakGlass: { activationId: open.activation_id, expiresAt: open.expires_at },
    };
  }

  /** Ends an open activation and records why; false when it had already ended. */
  async end(
    orgId: string,
    activationId: string,
    reason: 'deactivated' | 'expired' | 'session_ended',
    now: Date,
    by?: { actor: AuditInput['actor']; client: ClientInfo },
  ): Promise<boolean> {
    return this.deps.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ user_id: string; actions: number; expires_at: Date }>(
        `UPDATE break_glass_activations SET ended_at = $3, ended_reason = $4
         WHERE org_id = $1 AND activation_id = $2 AND ended_at IS NULL RETURNING user_id, actions, expires_at`,
        [orgId, activationId, now, reason],
      );
      const row = rows[0];
      if (!row) return false;
      await this.deps.audit(tx, {
        orgId,
        actor: by?.actor ?? system,
        action: reason === 'deactivated' ? 'break_glass.deactivated' : 'break_glass.expired',
        objectType: 'break_glass_activation',
        objectId: activationId,
        outcome: 'success',
        ip: by?.client.ip ?? null,
        requestId: by?.client.requestId ?? null,
        details: {
          reason,
          user_id: row.user_id,
          actions: row.actions,
          expires_at: row.expires_at.toISOString(),
        },
      });
      return true;
    });
  }

  /**
   * Ends every activation whose time is up or whose session ended (signed out, revoked, timed
   * out); the worker runs it every minute, so the record says when elevation ended even if no
   * request came after.
   */
  async expireDue(): Promise<number> {
    const now = this.clock();
    const { rows } = await this.deps.db.query<{ org_id: string; activation_id: string; expired: boolean }>(
      `SELECT a.org_id, a.activation_id, a.expires_at <= $1 AS expired
       FROM break_glass_activations a
       JOIN staff_sessions s ON s.org_id = a.org_id AND s.session_id = a.session_id
       WHERE a.ended_at IS NULL AND (a.expires_at <= $1 OR s.ended_at IS NOT NULL OR s.expires_at <= $1)`,
      [now],
    );
    let ended = 0;
    for (const row of rows)
      if (await this.end(row.org_id, row.activation_id, row.expired ? 'expired' : 'session_ended', now))
        ended++;
    return ended;
  }
}

function paramsOf(request: FastifyRequest): Record<string, string> {
  const params = (request.params ?? {}) as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(params)
      .filter(([, v]) => typeof v === 'string')
      .map(([k, v]) => [k, (v as string).slice(0, 100)]),
  );
}

// --- Set-up and use (the routes call these) --------------------------------------------------

export async function maxMinutes(q: Queryable, orgId: string): Promise<number> {
  const { rows } = await q.query<{ max_minutes: number }>(
    'SELECT max_minutes FROM break_glass_policies WHERE org_id = $1',
    [orgId],
  );
  return rows[0]?.max_minutes ?? DEFAULT_MAX_MINUTES;
}

export async function isEligible(q: Queryable, orgId: string, userId: string): Promise<boolean> {
  const { rows } = await q.query(
    `SELECT 1 FROM break_glass_accounts b JOIN users u ON u.org_id = b.org_id AND u.user_id = b.user_id
     WHERE b.org_id = $1 AND b.user_id = $2 AND u.status = 'active'`,
    [orgId, userId],
  );
  return rows.length > 0;
}

export interface ActivationInput {
  orgId: string;
  userId: string;
  sessionId: string;
  reason: string;
  minutes: number;
  client: ClientInfo;
}

export interface Activation {
  id: string;
  user_id: string;
  session_id: string;
  reason: string;
  activated_at: Date;
  expires_at: Date;
  ended_at: Date | null;
  ended_reason: string | null;
  actions: number;
  owners_alerted: number;
  reviewed_at: Date | null;
  reviewed_by: string | null;
  review_note: string | null;
}

/** Records the activation and queues the alert to every active owner, in one transaction. */
export async function activate(
  deps: BreakGlassDeps & { keyring: Keyring; queue: JobQueue; publicUrl: string },
  input: ActivationInput,
): Promise<{ id: string; expiresAt: Date; ownersAlerted: number }> {
  const now = deps.clock?.() ?? new Date();
  const id = randomUUID();
  const expiresAt = new Date(now.getTime() + input.minutes * 60_000);
  // Sealing reads the keyring's tables: done before the transaction (PGlite runs one at a time).
  const reasonSealed = await deps.keyring.seal(input.orgId, reasonBinding(id), input.reason);
  const { rows: owners } = await deps.db.query<{ email: string }>(
    `SELECT email FROM users WHERE org_id = $1 AND role = 'owner' AND status = 'active' ORDER BY created_at`,
    [input.orgId],
  );
  const { rows: who } = await deps.db.query<{ email: string; display_name: string | null; org: string }>(
    `SELECT u.email, u.display_name, o.name AS org FROM users u JOIN organizations o ON o.org_id = u.org_id
     WHERE u.org_id = $1 AND u.user_id = $2`,
    [input.orgId, input.userId],
  );
  const domain = await staffMailDomain(deps.db, input.orgId);
  const mails: SealedMail[] = [];
  if (domain) {
    const letter = breakGlassLetter({
      org: who[0]!.org,
      who: who[0]!.display_name ? `${who[0]!.display_name} <${who[0]!.email}>` : who[0]!.email,
      activatedAt: now,
      expiresAt,
      reviewUrl: `${deps.publicUrl.replace(/\/+$/, '')}/v1/break-glass/activations/${id}`,
    });
    for (const owner of owners)
      mails.push(await sealStaffMail(deps.keyring, input.orgId, owner.email, letter));
  }
  await deps.db.transaction(async (tx) => {
    const open = await tx.query(
      'SELECT 1 FROM break_glass_activations WHERE org_id = $1 AND session_id = $2 AND ended_at IS NULL',
      [input.orgId, input.sessionId],
    );
    if (open.rows.length > 0)
      throw errors.conflict('break_glass_active', 'Emergency access is already active in this session.');
    await tx.query(
      `INSERT INTO break_glass_activations (org_id, activation_id, user_id, session_id, reason_sealed, activated_at,
         expires_at, owners_alerted)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [input.orgId, id, input.userId, input.sessionId, reasonSealed, now, expiresAt, mails.length],
    );
    if (mails.length > 0) await queueStaffMail(tx, deps.queue, input.orgId, 'break_glass_alert', mails, now);
    await deps.audit(tx, {
      orgId: input.orgId,
      actor: { ...userActor(input.userId), label: `break-glass:${id}` },
      action: 'break_glass.activated',
      objectType: 'break_glass_activation',
      objectId: id,
      outcome: 'success',
      ip: input.client.ip,
      requestId: input.client.requestId,
      details: {
        user_id: input.userId,
        session_id: input.sessionId,
        minutes: input.minutes,
        expires_at: expiresAt.toISOString(),
        owners_alerted: mails.length,
        ...(domain ? {} : { alert: 'no_verified_sending_domain' }),
      },
    });
  });
  return { id, expiresAt, ownersAlerted: mails.length };
}

interface ActivationRow {
  [k: string]: unknown;
  id: string;
  user_id: string;
  session_id: string;
  reason_sealed: Buffer;
  activated_at: Date;
  expires_at: Date;
  ended_at: Date | null;
  ended_reason: string | null;
  actions: number;
  owners_alerted: number;
  reviewed_at: Date | null;
  reviewed_by: string | null;
  review_sealed: Buffer | null;
}

export async function listActivations(
  q: Queryable,
  keyring: Keyring,
  orgId: string,
  id?: string,
): Promise<Activation[]> {
  const { rows } = await q.query<ActivationRow>(
    `SELECT activation_id AS id, user_id, session_id, reason_sealed, activated_at, expires_at, ended_at, ended_reason,
       actions, owners_alerted, reviewed_at, reviewed_by, review_sealed
     FROM break_glass_activations WHERE org_id = $1 AND ($2::uuid IS NULL OR activation_id = $2::uuid)
     ORDER BY activated_at DESC LIMIT 500`,
    [orgId, id ?? null],
  );
  const out: Activation[] = [];
  for (const { reason_sealed, review_sealed, ...row } of rows)
    out.push({
      ...row,
      reason: await keyring.openText(orgId, reasonBinding(row.id), Buffer.from(reason_sealed)),
      review_note: review_sealed
        ? await keyring.openText(orgId, reviewBinding(row.id), Buffer.from(review_sealed))
        : null,
    });
  return out;
}

/** An owner's review of a finished activation (not their own). */
export async function review(
  deps: BreakGlassDeps & { keyring: Keyring },
  input: { orgId: string; activationId: string; reviewerId: string; note: string; client: ClientInfo },
): Promise<void> {
  const now = deps.clock?.() ?? new Date();
  const sealed = await deps.keyring.seal(input.orgId, reviewBinding(input.activationId), input.note);
  await deps.db.transaction(async (tx) => {
    const { rows } = await tx.query<{ user_id: string; ended_at: Date | null; reviewed_at: Date | null }>(
      `SELECT user_id, ended_at, reviewed_at FROM break_glass_activations
       WHERE org_id = $1 AND activation_id = $2 FOR UPDATE`,
      [input.orgId, input.activationId],
    );
    const row = rows[0];
    if (!row) throw errors.notFound('The activation');
    if (row.user_id === input.reviewerId)
      throw errors.conflict('own_activation', 'Another owner must review your own use of emergency access.');
    if (!row.ended_at)
      throw errors.conflict(
        'break_glass_active',
        'This emergency access is still active: review it once it has ended.',
      );
    if (row.reviewed_at)
      throw errors.conflict('already_reviewed', 'This activation has been reviewed already.');
    await tx.query(
      `UPDATE break_glass_activations SET reviewed_at = $3, reviewed_by = $4, review_sealed = $5
       WHERE org_id = $1 AND activation_id = $2`,
      [input.orgId, input.activationId, now, input.reviewerId, sealed],
    );
    await deps.audit(tx, {
      orgId: input.orgId,
      actor: userActor(input.reviewerId),
      action: 'break_glass.reviewed',
      objectType: 'break_glass_activation',
      objectId: input.activationId,
      outcome: 'success',
      ip: input.client.ip,
      requestId: input.client.requestId,
      details: { user_id: row.user_id },
    });
  });
}

export const notEligible = () =>
  new SealpostError(
    'break_glass_not_eligible',
    'You are not designated for emergency access in this organisation: ask an owner.',
  );
