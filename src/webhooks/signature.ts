import { createHmac, randomBytes } from 'node:crypto';

// Standard Webhooks (https://www.standardwebhooks.com): each request carries webhook-id,
// webhook-timestamp (Unix seconds) and webhook-signature, a space-separated list of
// "v1,<base64 HMAC-SHA256 of `${id}.${timestamp}.${body}`>", one per valid secret. A secret is
// "whsec_" + base64 of its bytes; the HMAC key is the decoded bytes.

const PREFIX = 'whsec_';
const SECRET_BYTES = 32;

/** A new signing secret: whsec_ + base64 of 32 random bytes. */
export function generateSecret(): string {
  return PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** The HMAC key of a secret (the decoded bytes after the prefix). */
export function secretKey(secret: string): Buffer {
  if (!secret.startsWith(PREFIX)) throw new Error('a webhook secret starts with whsec_');
  const key = Buffer.from(secret.slice(PREFIX.length), 'base64');
  if (key.length < 24) throw new Error('a webhook secret holds at least 24 bytes');
  return key;
}

/** One signature: "v1," + base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`)). */
export function sign(key: Buffer, id: string, timestamp: number, body: string | Buffer): string {
  const hmac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body);
  return `v1,${hmac.digest('base64')}`;
}

/** The three headers of one attempt, signed with every key given (newest first). */
export function signedHeaders(
  keys: readonly Buffer[],
  id: string,
  timestamp: number,
  body: string | Buffer,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  if (keys.length === 0) throw new Error('no signing secret');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': keys.map((key) => sign(key, id, timestamp, body)).join(' '),
  };
}
