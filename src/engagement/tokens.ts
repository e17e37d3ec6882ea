import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Keyring } from '../crypto/index.ts';
import type { Db } from '../db/index.ts';

// The links Sealpost puts in mail it tracks: a click, an open, an unsubscribe. Each names the
// organisation, the recipient and (for a click) the link's position in the message, and carries
// an HMAC under the organisation's own key, so a tampered or invented link is refused. The
// destination is not in the link: it is looked up in the sealed message at click time.

export type LinkKind = 'click' | 'open' | 'unsubscribe';
const KIND_CODE: Record<LinkKind, number> = { click: 1, open: 2, unsubscribe: 3 };
const VERSION = 1;
const MAC_BYTES = 16;
const LENGTH = 2 + 16 + 16 + 2 + MAC_BYTES;

const uuidBytes = (id: string) => Buffer.from(id.replace(/-/g, ''), 'hex');
const uuidOf = (b: Buffer) => {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

export interface LinkClaims {
  kind: LinkKind;
  orgId: string;
  recipientId: string;
  /** The link's position among the message's links (clicks); 0 otherwise. */
  position: number;
}

/** Per-organisation signing keys, made on first use and kept sealed. */
export class EngagementKeys {
  private readonly db: Db;
  private readonly keyring: Keyring;
  private readonly cache = new Map<string, Promise<Buffer>>();

  constructor(db: Db, keyring: Keyring) {
    this.db = db;
    this.keyring = keyring;
  }

  key(orgId: string): Promise<Buffer> {
    let key = this.cache.get(orgId);
    if (!key) {
      key = this.load(orgId);
      key.catch(() => this.cache.delete(orgId));
      this.cache.set(orgId, key);
    }
    return key;
  }

  private async load(orgId: string): Promise<Buffer> {
    const binding = { table: 'engagement_keys', row: orgId };
    const sealed = await this.keyring.seal(orgId, binding, randomBytes(32));
    await this.db.query(
      'INSERT INTO engagement_keys (org_id, key_sealed) VALUES ($1, $2) ON CONFLICT (org_id) DO NOTHING',
      [orgId, sealed],
    );
    // Another process may have made it first: the stored one wins.
    const { rows } = await this.db.query<{ key_sealed: Buffer }>(
      'SELECT key_sealed FROM engagement_keys WHERE org_id = $1',
      [orgId],
    );
    return this.keyring.open(orgId, binding, rows[0]!.key_sealed);
  }

  async sign(claims: LinkClaims): Promise<string> {
    const body = Buffer.alloc(LENGTH - MAC_BYTES);
    body[0] = VERSION;
    body[1] = KIND_CODE[claims.kind];
    uuidBytes(claims.orgId).copy(body, 2);
    uuidBytes(claims.recipientId).copy(body, 18);
    body.writeUInt16BE(claims.position, 34);
    const mac = createHmac('sha256', await this.key(claims.orgId))
      .update(body)
      .digest()
      .subarray(0, MAC_BYTES);
    return Buffer.concat([body, mac]).toString('base64url');
  }

  /** The claims of a link this server made for that kind; null for anything else. */
  async verify(token: string, kind: LinkKind): Promise<LinkClaims | null> {
    if (!/^[A-Za-z0-9_-]+$/.test(token)) return null;
    const raw = Buffer.from(token, 'base64url');
    if (raw.length !== LENGTH || raw[0] !== VERSION || raw[1] !== KIND_CODE[kind]) return null;
    const body = raw.subarray(0, LENGTH - MAC_BYTES);
    const orgId = uuidOf(body.subarray(2, 18));
    let key: Buffer;
    try {
      if (!this.cache.has(orgId)) {
        const { rows } = await this.db.query('SELECT 1 FROM engagement_keys WHERE org_id = $1', [orgId]);
        if (rows.length === 0) return null; // never made a link: nothing to check against
      }
      key = await this.key(orgId);
    } catch {
      return null;
    }
    const expected = createHmac('sha256', key).update(body).digest().subarray(0, MAC_BYTES);
    if (!timingSafeEqual(expected, raw.subarray(LENGTH - MAC_BYTES))) return null;
    return { kind, orgId, recipientId: uuidOf(body.subarray(18, 34)), position: body.readUInt16BE(34) };
  }
}
