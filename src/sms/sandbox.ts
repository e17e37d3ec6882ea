import { randomUUID } from 'node:crypto';
import type { Keyring } from '../crypto/index.ts';
import type { Queryable } from '../db/index.ts';
import { checkMessage } from './message.ts';
import type { SmsMessage, SmsResult, SmsSender } from './types.ts';

// The sandbox's SMS sender: a text is checked as any sender checks it, then kept instead of sent.
// The number and the body are sealed, each bound to its row (and the number apart from the body,
// so neither opens in the other's place); only the number's last two digits stay in clear, for
// telling captures apart in a list.

export const smsBodyBinding = (id: string) => ({ table: 'sandbox_sms', row: id });
export const smsToBinding = (id: string) => ({ table: 'sandbox_sms', row: `${id}/to` });

export interface SandboxSms {
  id: string;
  /** E.164. */
  to: string;
  body: string;
  purpose: string;
  captured_at: Date;
}

export class SandboxSmsSender implements SmsSender {
  private readonly db: Queryable;
  private readonly keyring: Keyring;

  constructor(db: Queryable, keyring: Keyring) {
    this.db = db;
    this.keyring = keyring;
  }

  async send(message: SmsMessage): Promise<SmsResult> {
    const { to, body, context } = checkMessage(message);
    const id = randomUUID();
    const toSealed = await this.keyring.seal(context.orgId, smsToBinding(id), to);
    const bodySealed = await this.keyring.seal(context.orgId, smsBodyBinding(id), body);
    await this.db.query(
      `INSERT INTO sandbox_sms (org_id, sms_id, purpose, to_last2, to_sealed, body_sealed)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [context.orgId, id, context.purpose, to.slice(-2), toSealed, bodySealed],
    );
    return { providerId: id };
  }
}

/** The organisation's captured texts, opened, newest first. */
export async function listSandboxSms(
  db: Queryable,
  keyring: Keyring,
  orgId: string,
  options: { limit?: number } = {},
): Promise<SandboxSms[]> {
  const limit = Math.min(Math.max(Math.trunc(options.limit ?? 50), 1), 1000);
  const { rows } = await db.query<{
    id: string;
    purpose: string;
    captured_at: Date;
    to_sealed: Buffer;
    body_sealed: Buffer;
  }>(
    `SELECT sms_id AS id, purpose, captured_at, to_sealed, body_sealed FROM sandbox_sms
     WHERE org_id = $1 ORDER BY captured_at DESC, sms_id DESC LIMIT $2`,
    [orgId, limit],
  );
  return Promise.all(
    rows.map(async (row) => ({
      id: row.id,
      to: await keyring.openText(orgId, smsToBinding(row.id), row.to_sealed),
      body: await keyring.openText(orgId, smsBodyBinding(row.id), row.body_sealed),
      purpose: row.purpose,
      captured_at: row.captured_at,
    })),
  );
}
