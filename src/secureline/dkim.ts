import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import type { DkimSigningKey } from '../domains/index.ts';

// Every message leaves with two DKIM signatures for its From domain: RSA-SHA256 for every
// receiver, Ed25519-SHA256 (RFC 8463) for those that know it. mailauth signs both (nodemailer
// would silently skip the Ed25519 one).

const SIGNED_HEADERS = [
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

export async function signDkim(
  raw: Buffer,
  domain: string,
  keys: DkimSigningKey[],
  now: Date,
): Promise<Buffer> {
  if (keys.length === 0) throw new Error(`no active DKIM key for ${domain}`);
  const result = await dkimSign(raw, {
    signingDomain: domain,
    selector: keys[0]!.selector,
    privateKey: keys[0]!.privateKeyPem,
    canonicalization: 'relaxed/relaxed',
    signTime: now,
    headerList: SIGNED_HEADERS,
    signatureData: keys.map((k) => ({
      signingDomain: domain,
      selector: k.selector,
      privateKey: k.privateKeyPem,
      algorithm: k.algorithm,
      canonicalization: 'relaxed/relaxed',
      headerList: SIGNED_HEADERS,
    })),
  });
  if (result.errors?.length) throw new Error(`DKIM signing failed: ${JSON.stringify(result.errors)}`);
  return Buffer.concat([Buffer.from(result.signatures), raw]);
}
