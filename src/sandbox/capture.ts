import { randomUUID } from 'node:crypto';
import type { Keyring } from '../crypto/index.ts';
import type { Db } from '../db/index.ts';
import type { SendOutcome, SendRequest } from '../outbound/index.ts';
import type { DeliveryContext, Transport } from '../secureline/index.ts';

// The sandbox's transport: every message has been through the whole pipeline (DLP, policy,
// encryption, DKIM) when it arrives here, exactly as it would have left; it is kept instead of
// sent. A few reserved test domains play servers with and without working TLS, so a trial sees
// every method, the portal fallback included. Nothing here opens a network connection. Each capture
// records what kind of mail it is; of mail that carries secrets (an invitation's link), only the
// copy with them masked is kept.

const TLS = { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' };

/** How a simulated recipient domain answers; any other domain acts as one with good TLS. */
export function simulatedServer(domain: string): 'tls' | 'notls' | 'badcert' {
  if (domain === 'notls.example.test' || domain.endsWith('.notls.example.test')) return 'notls';
  if (domain === 'badcert.example.test' || domain.endsWith('.badcert.example.test')) return 'badcert';
  return 'tls';
}

export const captureBinding = (captureId: string) => ({ table: 'sandbox_captures', row: captureId });

export class CaptureTransport implements Transport {
  private readonly db: Db;
  private readonly keyring: Keyring;

  constructor(db: Db, keyring: Keyring) {
    this.db = db;
    this.keyring = keyring;
  }

  async send(request: SendRequest & { context?: DeliveryContext }): Promise<SendOutcome> {
    const mx = `mx.${request.domain}`;
    const server = simulatedServer(request.domain);
    if (request.tls === 'enforced' && server === 'notls')
      return { status: 'tls_failed', mx, reason: `${mx} offers no STARTTLS (sandbox)` };
    if (request.tls === 'enforced' && server === 'badcert')
      return {
        status: 'tls_failed',
        mx,
        reason: `certificate for ${mx} is not valid: Hostname/IP does not match certificate's altnames (sandbox)`,
      };
    const context = request.context;
    if (!context) throw new Error('the sandbox files each capture under its delivery: context is required');
    const captureId = randomUUID();
    const tls = server === 'notls' ? null : TLS;
    const kept = context.redacted ?? request.raw;
    const sealed = await this.keyring.seal(context.orgId, captureBinding(captureId), kept);
    await this.db.query(
      `INSERT INTO sandbox_captures (org_id, capture_id, message_id, recipient_id, recipient, envelope_from, tls,
           outcome, size_bytes, raw_sealed, kind)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'delivered', $8, $9, $10)`,
      [
        context.orgId,
        captureId,
        context.messageId,
        context.recipientId,
        request.to.join(', '),
        request.from,
        tls ? tls.version : 'none',
        kept.length,
        sealed,
        context.kind,
      ],
    );
    return {
      status: 'delivered',
      mx,
      response: '250 2.0.0 captured by the Sealpost sandbox',
      tls,
      rejected: [],
    };
  }

  async close(): Promise<void> {}
}
