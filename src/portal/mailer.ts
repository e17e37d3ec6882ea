import type { Keyring } from '../crypto/index.ts';
import type { Db } from '../db/index.ts';
import type { Logger } from '../log/index.ts';
import { loadMessage, openContent, type StoredMessage } from '../messages/index.ts';
import { type SmsSender, SmsError } from '../sms/index.ts';
import { brandFor } from './branding.ts';
import { portalLink } from './deliveries.ts';
import { codeLetter, codeText, composeLetter, lockedAlertLetter, noticeLetter } from './letters.ts';
import { openToken } from './deliveries.ts';
import { codeBinding } from './verification.ts';
import type { PortalMailJob } from './types.ts';

// Sends what the portal's jobs ask for: a one-time code (email or SMS), a notice sent again, an
// alert to the sender. The transport (DKIM, TLS when offered) is SecureLine's; a failure the
// server may recover from throws, so the queue tries again.

export interface SystemMailOutcome {
  status: 'delivered' | 'deferred' | 'bounced' | 'failed';
  detail?: string | null;
}

export interface PortalMailerDeps {
  db: Db;
  keyring: Keyring;
  sms: SmsSender;
  log: Logger;
  clock(): Date;
  publicUrl: string;
  codeMinutes: number;
  sendMail(input: {
    message: StoredMessage;
    recipientId: string;
    to: string;
    raw: Buffer;
    /** The portal's mail about a delivery, never staff mail (see SecureLine's MailKind). */
    kind: 'portal';
  }): Promise<SystemMailOutcome>;
}

export class PortalMailer {
  private readonly deps: PortalMailerDeps;

  constructor(deps: PortalMailerDeps) {
    this.deps = deps;
  }

  async handle(job: PortalMailJob): Promise<void> {
    const { db, keyring } = this.deps;
    const { rows } = await db.query<{
      message_id: string;
      address: string;
      token_sealed: Buffer;
      expires_at: Date;
      failed_attempts: number;
    }>(
      `SELECT r.message_id, r.address, d.token_sealed, d.expires_at, d.failed_attempts
       FROM portal_deliveries d JOIN message_recipients r ON r.org_id = d.org_id AND r.recipient_id = d.recipient_id
       WHERE d.org_id = $1 AND d.recipient_id = $2`,
      [job.org_id, job.recipient_id],
    );
    const delivery = rows[0];
    if (!delivery) return;
    const message = await loadMessage(db, job.org_id, delivery.message_id);
    const content = await openContent(keyring, message);
    const language = content.portal?.language ?? 'en';
    const token = await openToken(keyring, job.org_id, job.recipient_id, delivery.token_sealed);
    const link = portalLink(this.deps.publicUrl, token);
    const brand = await brandFor(db, job.org_id, link);
    const from = { name: brand.name, address: message.from_address };
    const now = this.deps.clock();
    const mail = async (to: string, letter: ReturnType<typeof noticeLetter>, id: string) => {
      const raw = await composeLetter({
        letter,
        from,
        to,
        messageId: `<${id}@${message.from_domain}>`,
        date: now,
      });
      const outcome = await this.deps.sendMail({
        message,
        recipientId: job.recipient_id,
        to,
        raw,
        kind: 'portal',
      });
      if (outcome.status === 'deferred')
        // The server's reply can quote the address: it stays out of the job's stored error.
        throw new Error(`portal ${job.kind} mail deferred`);
      if (outcome.status !== 'delivered')
        this.deps.log.warn(
          { org_id: job.org_id, recipient_id: job.recipient_id, kind: job.kind, status: outcome.status },
          'portal mail not delivered',
        );
    };

    switch (job.kind) {
      case 'notice': {
        const letter = noticeLetter({
          brand,
          sender: content.from.name ?? null,
          link,
          expiresAt: delivery.expires_at,
          language,
        });
        return mail(delivery.address, letter, `${job.recipient_id}.notice.${now.getTime()}`);
      }
      case 'locked': {
        const letter = lockedAlertLetter({
          brand,
          messageId: message.message_id,
          recipientId: job.recipient_id,
          failures: delivery.failed_attempts,
        });
        return mail(message.from_address, letter, `${job.recipient_id}.locked.${now.getTime()}`);
      }
      case 'code': {
        const { rows: codes } = await db.query<{
          channel: 'email' | 'sms';
          code_sealed: Buffer;
          used_at: Date | null;
          expires_at: Date;
        }>(
          'SELECT channel, code_sealed, used_at, expires_at FROM portal_codes WHERE org_id = $1 AND code_id = $2',
          [job.org_id, job.code_id],
        );
        const code = codes[0];
        // A code used or expired before its job ran is not worth sending.
        if (!code || code.used_at || code.expires_at <= now) return;
        const value = await keyring.openText(job.org_id, codeBinding(job.code_id!), code.code_sealed);
        const minutes = this.deps.codeMinutes;
        if (code.channel === 'email')
          return mail(
            delivery.address,
            codeLetter({ brand, code: value, minutes, language }),
            `${job.code_id}.code`,
          );
        const phone = content.portal?.phones?.[delivery.address];
        if (!phone) throw new Error('no phone number for this recipient');
        try {
          await this.deps.sms.send({
            to: phone,
            body: codeText({ brand, code: value, minutes, language }),
            context: { orgId: job.org_id, purpose: 'portal-code' },
          });
        } catch (err) {
          if (err instanceof SmsError && !err.retryable) {
            this.deps.log.warn(
              { org_id: job.org_id, recipient_id: job.recipient_id, err: err.message },
              'portal code SMS refused',
            );
            return;
          }
          throw err;
        }
      }
    }
  }
}
