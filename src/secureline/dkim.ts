import { createHash, createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { DkimSigner, type SignatureData } from 'mailauth/lib/dkim/dkim-signer.js';
import { buildSignatureOpts } from 'mailauth/lib/dkim/header/signature-opts.js';
import {
  formatRelaxedLine,
  formatSignatureHeaderLine,
  getSigningHeaderLines,
  stripSignatureValue,
  writeToStream,
} from 'mailauth/lib/tools.js';
import type { DkimSigningKey } from '../domains/index.ts';

// Every message leaves with two DKIM signatures for its From domain: RSA-SHA256 for every
// receiver, Ed25519-SHA256 (RFC 8463) for those that know it. mailauth parses the message,
// hashes the body and canonicalizes the headers (nodemailer would silently skip the Ed25519
// signature). mailauth's own finalize() parses the PEM key for every signature, and OpenSSL then
// sets up each fresh RSA key again on its first use, a cost paid by every message
// (docs/benchmarks.md). So the last step, the signature itself, is made here with a KeyObject
// parsed once per key. mailauth's internal modules promise nothing: package.json pins one
// version, and test/secureline/mailauth-contract.test.ts names what this file relies on.

export const SIGNED_HEADERS = [
  'From',
  'Sender',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'Content-Disposition',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
];
const CANONICALIZATION = 'relaxed/relaxed';

/** Parsed keys, for as long as their DkimSigningKey (cached by the caller) lives. */
const parsed = new WeakMap<DkimSigningKey, KeyObject>();

function keyObject(key: DkimSigningKey): KeyObject {
  let object = parsed.get(key);
  if (!object) {
    object = createPrivateKey(key.privateKeyPem);
    const expected = key.algorithm === 'rsa-sha256' ? 'rsa' : 'ed25519';
    if (object.asymmetricKeyType !== expected)
      throw new Error(`DKIM key ${key.selector} is ${object.asymmetricKeyType}, not ${expected}`);
    parsed.set(key, object);
  }
  return object;
}

/**
 * mailauth's signer, with the last step done here: the signed header lines are canonicalized
 * once for both signatures (mailauth's relaxedHeaders does it again for each), and the signature
 * is made with the parsed key. What is hashed is exactly what relaxedHeaders builds: the lines,
 * then the DKIM-Signature line with an empty b=.
 */
class ParsedKeySigner extends DkimSigner {
  override async finalize(): Promise<void> {
    const first = this.signatureData[0];
    if (!first) return;
    // Every signature here signs the same fields (SIGNED_HEADERS), so one canonical copy serves all.
    const lines = getSigningHeaderLines(this.headers?.parsed ?? [], this.getFieldNames(first));
    // RFC 6376 5.4: From must be signed; MailComposer always writes one.
    if (!lines.headers.some((h) => h.key === 'from')) throw new Error('the message has no From header');
    const canonicalLines = Buffer.concat(lines.headers.map((h) => formatRelaxedLine(h.line, '\r\n')));
    const bodyHash = this.bodyHashes.get('relaxed:sha256:')?.hash;
    if (!bodyHash) throw new Error('no body hash');
    const { timestamp } = this.getTimestamps();
    for (const data of this.signatureData) {
      const { opts, signatureHeaderLine } = buildSignatureOpts('DKIM', lines, {
        signingDomain: data.signingDomain,
        selector: data.selector,
        algorithm: data.algorithm,
        canonicalization: CANONICALIZATION,
        bodyHash,
        timestamp,
        expiration: false,
      });
      const canonicalizedHeader = Buffer.concat([
        canonicalLines,
        stripSignatureValue(formatRelaxedLine(signatureHeaderLine)),
      ]);
      const key = data.privateKey as KeyObject;
      opts.b = (
        data.algorithm === 'rsa-sha256'
          ? sign('sha256', canonicalizedHeader, key)
          : // RFC 8463: Ed25519 signs the SHA-256 hash of the canonicalized header.
            sign(null, createHash('sha256').update(canonicalizedHeader).digest(), key)
      ).toString('base64');
      this.signatureHeaders.push(formatSignatureHeaderLine('DKIM', opts, true));
    }
  }
}

export async function signDkim(
  raw: Buffer,
  domain: string,
  keys: DkimSigningKey[],
  now: Date,
): Promise<Buffer> {
  if (keys.length === 0) throw new Error(`no active DKIM key for ${domain}`);
  const signatureData: SignatureData[] = keys.map((k) => ({
    signingDomain: domain,
    selector: k.selector,
    privateKey: keyObject(k),
    algorithm: k.algorithm,
    canonicalization: CANONICALIZATION,
    headerList: SIGNED_HEADERS,
  }));
  const signer = new ParsedKeySigner({
    canonicalization: CANONICALIZATION,
    signTime: now,
    headerList: SIGNED_HEADERS,
    signatureData,
  });
  await writeToStream(signer, raw);
  if (signer.signatureHeaders.length !== keys.length)
    throw new Error(`DKIM signing failed: ${JSON.stringify(signer.errors)}`);
  return Buffer.concat([Buffer.from(`${signer.signatureHeaders.join('\r\n')}\r\n`), raw]);
}
