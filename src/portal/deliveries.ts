import { createHash, randomBytes } from 'node:crypto';
import type { Keyring } from '../crypto/index.ts';
import type { Db } from '../db/index.ts';
import type { Verification } from './store.ts';

// A recipient who reads in the portal holds one unguessable link. Its token is stored twice: hashed,
// so a visit finds the delivery without opening seals, and sealed, so a notice can be sent again.

export const tokenHash = (token: string) => createHash('sha256').update(token).digest();
const binding = (recipientId: string) => ({ table: 'portal_deliveries', row: recipientId });

export const openToken = (keyring: Keyring, orgId: string, recipientId: string, sealed: Buffer) =>
  keyring.openText(orgId, binding(recipientId), sealed);

export interface PortalDelivery {
  token: string;
  expiresAt: Date;
}

/** The recipient's portal delivery, created on first call; later calls return the same token. */
export async function ensurePortalDelivery(
  db: Db,
  keyring: Keyring,
  input: {
    orgId: string;
    recipientId: string;
    reason: string;
    expiresAt: Date;
    verification: Verification;
    language: string;
  },
): Promise<PortalDelivery> {
  const existing = await find(db, keyring, input.orgId, input.recipientId);
  if (existing) return existing;
  const token = randomBytes(32).toString('base64url');
  const sealed = await keyring.seal(input.orgId, binding(input.recipientId), token);
  await db.query(
    `INSERT INTO portal_deliveries (org_id, recipient_id, token_hash, token_sealed, reason, expires_at, verification,
       language)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org_id, recipient_id) DO NOTHING`,
    [
      input.orgId,
      input.recipientId,
      tokenHash(token),
      sealed,
      input.reason,
      input.expiresAt,
      input.verification,
      input.language,
    ],
  );
  // Another worker may have created it first: the stored one wins.
  return (await find(db, keyring, input.orgId, input.recipientId))!;
}

async function find(db: Db, keyring: Keyring, orgId: string, recipientId: string) {
  const { rows } = await db.query<{ token_sealed: Buffer; expires_at: Date }>(
    'SELECT token_sealed, expires_at FROM portal_deliveries WHERE org_id = $1 AND recipient_id = $2',
    [orgId, recipientId],
  );
  if (!rows[0]) return null;
  return {
    token: await openToken(keyring, orgId, recipientId, rows[0].token_sealed),
    expiresAt: rows[0].expires_at,
  };
}

export const portalLink = (publicUrl: string, token: string) => `${publicUrl}/secure/${token}`;
