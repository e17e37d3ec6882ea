import type { Queryable } from '../db/index.ts';
import { tokenHash } from './deliveries.ts';

// What the portal knows of one recipient's delivery, found by the link's token. Every page is
// built from this, read again on every request: a message revoked while its tab is open shows
// nothing at the next click.

export type Verification = 'email' | 'sms' | 'passphrase';
export type Access = 'open' | 'revoked' | 'expired' | 'locked';

export interface PortalRecipient {
  orgId: string;
  recipientId: string;
  messageId: string;
  address: string;
  state: string;
  verification: Verification;
  language: string;
  expiresAt: Date;
  revokedAt: Date | null;
  lockedAt: Date | null;
  failedAttempts: number;
  verifiedAt: Date | null;
  firstViewedAt: Date | null;
  orgName: string;
  brand: { color: string | null; hasLogo: boolean };
}

export async function findByToken(q: Queryable, token: string): Promise<PortalRecipient | null> {
  // Tokens are 32 random bytes in base64url; anything else is not worth a query.
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
  const { rows } = await q.query<{
    org_id: string;
    recipient_id: string;
    message_id: string;
    address: string;
    state: string;
    verification: Verification;
    language: string;
    expires_at: Date;
    revoked_at: Date | null;
    locked_at: Date | null;
    failed_attempts: number;
    verified_at: Date | null;
    first_viewed_at: Date | null;
    org_name: string;
    display_name: string | null;
    color: string | null;
    has_logo: boolean | null;
  }>(
    `SELECT d.org_id, d.recipient_id, r.message_id, r.address, r.state, d.verification, d.language, d.expires_at, d.revoked_at,
       d.locked_at, d.failed_attempts, d.verified_at, d.first_viewed_at, o.name AS org_name, b.display_name, b.color,
       b.logo IS NOT NULL AS has_logo
     FROM portal_deliveries d
     JOIN message_recipients r ON r.org_id = d.org_id AND r.recipient_id = d.recipient_id
     JOIN organizations o ON o.org_id = d.org_id
     LEFT JOIN org_branding b ON b.org_id = d.org_id
     WHERE d.token_hash = $1`,
    [tokenHash(token)],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    orgId: row.org_id,
    recipientId: row.recipient_id,
    messageId: row.message_id,
    address: row.address,
    state: row.state,
    verification: row.verification,
    language: row.language,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    lockedAt: row.locked_at,
    failedAttempts: row.failed_attempts,
    verifiedAt: row.verified_at,
    firstViewedAt: row.first_viewed_at,
    orgName: row.display_name ?? row.org_name,
    brand: { color: row.color, hasLogo: row.has_logo ?? false },
  };
}

export function accessOf(p: PortalRecipient, now: Date): Access {
  if (p.revokedAt || p.state === 'revoked') return 'revoked';
  if (p.expiresAt <= now || p.state === 'expired') return 'expired';
  if (p.lockedAt) return 'locked';
  return 'open';
}

/** A view or a download: the read receipt the sender sees on the message. */
export async function countView(q: Queryable, p: PortalRecipient, now: Date): Promise<boolean> {
  const { rows } = await q.query<{ first: boolean }>(
    `UPDATE portal_deliveries SET views = views + 1, last_viewed_at = $3,
       first_viewed_at = coalesce(first_viewed_at, $3)
     WHERE org_id = $1 AND recipient_id = $2
     RETURNING first_viewed_at = $3 AS first`,
    [p.orgId, p.recipientId, now],
  );
  return rows[0]?.first ?? false;
}

export async function countDownload(q: Queryable, p: PortalRecipient): Promise<void> {
  await q.query(
    'UPDATE portal_deliveries SET downloads = downloads + 1 WHERE org_id = $1 AND recipient_id = $2',
    [p.orgId, p.recipientId],
  );
}
