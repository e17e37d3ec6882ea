import { randomUUID } from 'node:crypto';
import type { AuditInput } from '../audit/index.ts';
import type { Queryable } from '../db/index.ts';
import { errors, SealpostError } from '../errors/index.ts';
import { chainHead, type EventType } from '../events/index.ts';
import { resolveTarget, TargetRefused } from './guard.ts';
import { generateSecret } from './signature.ts';
import { WEBHOOK_QUEUE, type WebhookDeps, type WebhookJob } from './types.ts';

// Webhook endpoints and their signing secrets. Secrets are generated here, shown once, and kept
// sealed (bound to their own row); only the worker that signs opens them.

/** Endpoints one organisation may have. */
export const MAX_ENDPOINTS = 50;

export interface EndpointRow {
  [column: string]: unknown;
  endpoint_id: string;
  url: string;
  description: string;
  event_types: string[] | null;
  include_phi: boolean;
  enabled: boolean;
  disabled_reason: string | null;
  disabled_at: Date | null;
  from_seq: string | number;
  consecutive_failures: number;
  failing_since: Date | null;
  last_success_at: Date | null;
  created_at: Date;
  updated_at: Date;
  previous_secret_expires_at: Date | null;
}

const COLUMNS = `e.endpoint_id, e.url, e.description, e.event_types, e.include_phi, e.enabled, e.disabled_reason,
  e.disabled_at, e.from_seq, e.consecutive_failures, e.failing_since, e.last_success_at, e.created_at, e.updated_at,
  (SELECT max(s.expires_at) FROM webhook_secrets s
    WHERE s.org_id = e.org_id AND s.endpoint_id = e.endpoint_id AND s.expires_at > $2) AS previous_secret_expires_at`;

export interface EndpointView {
  id: string;
  url: string;
  description: string;
  event_types: string[] | null;
  include_phi: boolean;
  enabled: boolean;
  disabled_reason: string | null;
  disabled_at: Date | null;
  consecutive_failures: number;
  failing_since: Date | null;
  last_success_at: Date | null;
  previous_secret_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export function endpointView(row: EndpointRow): EndpointView {
  return {
    id: row.endpoint_id,
    url: row.url,
    description: row.description,
    event_types: row.event_types,
    include_phi: row.include_phi,
    enabled: row.enabled,
    disabled_reason: row.disabled_reason,
    disabled_at: row.disabled_at,
    consecutive_failures: row.consecutive_failures,
    failing_since: row.failing_since,
    last_success_at: row.last_success_at,
    previous_secret_expires_at: row.previous_secret_expires_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export async function listEndpoints(q: Queryable, orgId: string, now: Date): Promise<EndpointRow[]> {
  const { rows } = await q.query<EndpointRow>(
    `SELECT ${COLUMNS} FROM webhook_endpoints e WHERE e.org_id = $1 ORDER BY e.created_at, e.endpoint_id`,
    [orgId, now],
  );
  return rows;
}

export async function getEndpoint(
  q: Queryable,
  orgId: string,
  endpointId: string,
  now: Date,
  options: { lock?: boolean } = {},
): Promise<EndpointRow> {
  const { rows } = await q.query<EndpointRow>(
    `SELECT ${COLUMNS} FROM webhook_endpoints e WHERE e.org_id = $1 AND e.endpoint_id = $3
     ${options.lock ? 'FOR NO KEY UPDATE OF e' : ''}`,
    [orgId, now, endpointId],
  );
  if (!rows[0]) throw errors.notFound('The webhook endpoint');
  return rows[0];
}

/** The URL checked now: its form, and every address its host resolves to (see guard.ts). */
export async function checkUrl(deps: Pick<WebhookDeps, 'settings' | 'resolve'>, url: string): Promise<void> {
  try {
    await resolveTarget(url, deps.settings.policy, deps.resolve);
  } catch (err) {
    if (err instanceof TargetRefused) throw new SealpostError(err.code, err.message);
    throw err;
  }
}

type Context = Omit<AuditInput, 'action' | 'objectType' | 'objectId' | 'outcome' | 'details'>;

export interface EndpointInput {
  url: string;
  description?: string;
  event_types?: EventType[] | null;
  include_phi?: boolean;
}

const types = (list: EventType[] | null | undefined) => (list?.length ? [...new Set(list)].sort() : null);

/** Creates an endpoint and its first secret; returns it with the secret (shown once). */
export async function createEndpoint(
  deps: Pick<WebhookDeps, 'db' | 'keyring' | 'audit' | 'clock' | 'settings' | 'resolve'>,
  ctx: Context,
  input: EndpointInput,
): Promise<{ endpoint: EndpointRow; secret: string }> {
  await checkUrl(deps, input.url);
  const endpointId = randomUUID();
  const secretId = randomUUID();
  const secret = generateSecret();
  // Sealed before the transaction: sealing reads the organisation's key (see STACK-NOTES).
  const sealed = await deps.keyring.seal(ctx.orgId, { table: 'webhook_secrets', row: secretId }, secret);
  const now = deps.clock();
  const endpoint = await deps.db.transaction(async (tx) => {
    // The organisation row serialises creations, so the limit holds under concurrent calls.
    await tx.query('SELECT 1 FROM organizations WHERE org_id = $1 FOR UPDATE', [ctx.orgId]);
    const { rows } = await tx.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM webhook_endpoints WHERE org_id = $1',
      [ctx.orgId],
    );
    if (rows[0]!.n >= MAX_ENDPOINTS)
      throw new SealpostError(
        'webhook_limit',
        `An organisation has at most ${MAX_ENDPOINTS} webhook endpoints.`,
      );
    // Events after the chain's head now are owed to it; the organisation's fan-out cursor starts
    // there too when this is its first endpoint.
    const head = await chainHead(tx, ctx.orgId);
    await tx.query(
      `INSERT INTO webhook_endpoints (org_id, endpoint_id, url, description, event_types, include_phi, from_seq,
         created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
      [
        ctx.orgId,
        endpointId,
        input.url,
        input.description ?? '',
        types(input.event_types),
        input.include_phi ?? false,
        head,
        now,
      ],
    );
    await tx.query(
      'INSERT INTO webhook_secrets (org_id, secret_id, endpoint_id, sealed, created_at) VALUES ($1, $2, $3, $4, $5)',
      [ctx.orgId, secretId, endpointId, sealed, now],
    );
    await tx.query(
      `INSERT INTO webhook_cursors (org_id, seq, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (org_id) DO NOTHING`,
      [ctx.orgId, head, now],
    );
    await deps.audit(tx, {
      ...ctx,
      action: 'webhook.created',
      objectType: 'webhook_endpoint',
      objectId: endpointId,
      outcome: 'success',
      details: {
        host: new URL(input.url).hostname,
        event_types: types(input.event_types) ?? 'all',
        include_phi: input.include_phi ?? false,
      },
    });
    return getEndpoint(tx, ctx.orgId, endpointId, now);
  });
  return { endpoint, secret };
}

export interface EndpointPatch extends Partial<EndpointInput> {
  enabled?: boolean;
}

export async function updateEndpoint(
  deps: Pick<WebhookDeps, 'db' | 'queue' | 'audit' | 'clock' | 'settings' | 'resolve'>,
  ctx: Context,
  endpointId: string,
  patch: EndpointPatch,
): Promise<EndpointRow> {
  if (patch.url !== undefined) await checkUrl(deps, patch.url);
  const now = deps.clock();
  return deps.db.transaction(async (tx) => {
    const before = await getEndpoint(tx, ctx.orgId, endpointId, now, { lock: true });
    const sets: string[] = [];
    const params: unknown[] = [ctx.orgId, endpointId, now];
    const set = (column: string, value: unknown) => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (patch.url !== undefined) set('url', patch.url);
    if (patch.description !== undefined) set('description', patch.description);
    if (patch.event_types !== undefined) set('event_types', types(patch.event_types));
    if (patch.include_phi !== undefined) set('include_phi', patch.include_phi);
    const enabling = patch.enabled === true && !before.enabled;
    if (patch.enabled !== undefined) set('enabled', patch.enabled);
    if (enabling)
      sets.push(
        'disabled_reason = NULL, disabled_at = NULL, consecutive_failures = 0, failing_since = NULL, wake_at = NULL',
      );
    if (patch.enabled === false && before.enabled)
      sets.push("disabled_reason = 'disabled by a user'", 'disabled_at = $3');
    await tx.query(
      `UPDATE webhook_endpoints SET ${[...sets, 'updated_at = $3'].join(', ')} WHERE org_id = $1 AND endpoint_id = $2`,
      params,
    );
    // Deliveries still owed resume at once.
    if (enabling)
      await deps.queue.send(
        WEBHOOK_QUEUE,
        { org_id: ctx.orgId, endpoint_id: endpointId } satisfies WebhookJob,
        {
          tx,
        },
      );
    await deps.audit(tx, {
      ...ctx,
      action: 'webhook.updated',
      objectType: 'webhook_endpoint',
      objectId: endpointId,
      outcome: 'success',
      details: {
        changed: Object.keys(patch).filter((k) => (patch as Record<string, unknown>)[k] !== undefined),
        ...(patch.url !== undefined ? { host: new URL(patch.url).hostname } : {}),
        ...(patch.include_phi !== undefined ? { include_phi: patch.include_phi } : {}),
        ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
      },
    });
    return getEndpoint(tx, ctx.orgId, endpointId, now);
  });
}

export async function deleteEndpoint(
  deps: Pick<WebhookDeps, 'db' | 'audit' | 'clock'>,
  ctx: Context,
  endpointId: string,
): Promise<void> {
  await deps.db.transaction(async (tx) => {
    const { rowCount } = await tx.query(
      'DELETE FROM webhook_endpoints WHERE org_id = $1 AND endpoint_id = $2',
      [ctx.orgId, endpointId],
    );
    if (rowCount === 0) throw errors.notFound('The webhook endpoint');
    await deps.audit(tx, {
      ...ctx,
      action: 'webhook.deleted',
      objectType: 'webhook_endpoint',
      objectId: endpointId,
      outcome: 'success',
    });
  });
}

/**
 * A new secret signs from now on; the ones valid now keep signing beside it for `overlapHours`
 * (0: they stop at once), so receivers can switch without refusing a request.
 */
export async function rotateSecret(
  deps: Pick<WebhookDeps, 'db' | 'keyring' | 'audit' | 'clock'>,
  ctx: Context,
  endpointId: string,
  overlapHours: number,
): Promise<{ secret: string; previous_secret_expires_at: Date | null }> {
  const secretId = randomUUID();
  const secret = generateSecret();
  const now = deps.clock();
  // Refused before sealing when the endpoint is not this organisation's.
  await getEndpoint(deps.db, ctx.orgId, endpointId, now);
  const sealed = await deps.keyring.seal(ctx.orgId, { table: 'webhook_secrets', row: secretId }, secret);
  const until = new Date(now.getTime() + overlapHours * 3_600_000);
  return deps.db.transaction(async (tx) => {
    await getEndpoint(tx, ctx.orgId, endpointId, now, { lock: true });
    await tx.query(
      'DELETE FROM webhook_secrets WHERE org_id = $1 AND endpoint_id = $2 AND expires_at <= $3',
      [ctx.orgId, endpointId, now],
    );
    const { rows } = await tx.query<{ expires_at: Date }>(
      `UPDATE webhook_secrets SET expires_at = LEAST(coalesce(expires_at, $3), $3)
       WHERE org_id = $1 AND endpoint_id = $2 RETURNING expires_at`,
      [ctx.orgId, endpointId, until],
    );
    await tx.query(
      'INSERT INTO webhook_secrets (org_id, secret_id, endpoint_id, sealed, created_at) VALUES ($1, $2, $3, $4, $5)',
      [ctx.orgId, secretId, endpointId, sealed, now],
    );
    await tx.query('UPDATE webhook_endpoints SET updated_at = $3 WHERE org_id = $1 AND endpoint_id = $2', [
      ctx.orgId,
      endpointId,
      now,
    ]);
    await deps.audit(tx, {
      ...ctx,
      action: 'webhook.secret_rotated',
      objectType: 'webhook_endpoint',
      objectId: endpointId,
      outcome: 'success',
      details: { overlap_hours: overlapHours },
    });
    const last = rows.map((r) => r.expires_at).filter((d) => d > now);
    return {
      secret,
      previous_secret_expires_at: last.length ? new Date(Math.max(...last.map((d) => d.getTime()))) : null,
    };
  });
}

/** The secrets that sign now, newest first, opened. */
export async function signingSecrets(
  deps: Pick<WebhookDeps, 'db' | 'keyring'>,
  orgId: string,
  endpointId: string,
  now: Date,
): Promise<string[]> {
  const { rows } = await deps.db.query<{ secret_id: string; sealed: Buffer }>(
    `SELECT secret_id, sealed FROM webhook_secrets
     WHERE org_id = $1 AND endpoint_id = $2 AND (expires_at IS NULL OR expires_at > $3)
     ORDER BY created_at DESC, secret_id`,
    [orgId, endpointId, now],
  );
  return Promise.all(
    rows.map((r) =>
      deps.keyring.openText(orgId, { table: 'webhook_secrets', row: r.secret_id }, Buffer.from(r.sealed)),
    ),
  );
}
