// S/MIME 4.0 (RFC 8551): the whole MIME entity inside a CMS envelope, sent as
// application/pkcs7-mime, with the outer header keeping only what mail transport needs.
import { splitMessage } from '../mime/index.ts';
import { type ContentEncryption, envelopeCms } from './cms.ts';
import { base64Lines, type EnvelopeOptions, envelope } from './envelope.ts';

export interface SmimeOptions extends EnvelopeOptions {
  /** aes-256-gcm: AuthEnvelopedData, what RFC 8551 prefers; aes-256-cbc: EnvelopedData, for older clients. */
  algorithm: ContentEncryption;
  /** When the certificates must be valid; now by default. */
  date?: Date;
}

const CRLF = '\r\n';

export async function encryptSmime(
  raw: Buffer,
  certificates: string[],
  options: SmimeOptions,
): Promise<Buffer> {
  const smimeType = options.algorithm === 'aes-256-gcm' ? 'authEnveloped-data' : 'enveloped-data';
  const { inner, head } = envelope(
    splitMessage(raw),
    [
      `Content-Type: application/pkcs7-mime; smime-type=${smimeType};${CRLF} name=smime.p7m`,
      'Content-Transfer-Encoding: base64',
      'Content-Disposition: attachment; filename=smime.p7m',
      'Content-Description: S/MIME Encrypted Message',
    ],
    options,
  );
  const der = envelopeCms(inner, certificates, options.algorithm, options.date ?? new Date());
  return Buffer.concat([head, Buffer.from(base64Lines(der), 'ascii')]);
}
