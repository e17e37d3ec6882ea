// CMS envelopes for S/MIME, built with asn1js: AuthEnvelopedData with AES-256-GCM (RFC 5083,
// RFC 5084), which RFC 8551 prefers and PKI.js lacks, and EnvelopedData with AES-256-CBC
// (RFC 5652) for clients that know only that. The content key goes to each recipient as a
// KeyTransRecipientInfo, RSA-OAEP with SHA-256 and MGF1-SHA-256 (RFC 8017, RFC 4055): the same
// parameters `openssl cms -keyopt rsa_oaep_md:sha256` writes, which openssl and Thunderbird read.
import { constants, createCipheriv, publicEncrypt, randomBytes, X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';

export type ContentEncryption = 'aes-256-gcm' | 'aes-256-cbc';

const OID = {
  data: '1.2.840.113549.1.7.1',
  envelopedData: '1.2.840.113549.1.7.3',
  authEnvelopedData: '1.2.840.113549.1.9.16.1.23',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  aes256Gcm: '2.16.840.1.101.3.4.1.46',
  rsaesOaep: '1.2.840.113549.1.1.7',
  mgf1: '1.2.840.113549.1.1.8',
  sha256: '2.16.840.1.101.3.4.2.1',
};

// The GCM tag length, written into the parameters (the default there is 12).
const TAG_LENGTH = 16;
const MIN_RSA_BITS = 2048;

/**
 * A DER ContentInfo holding `content` encrypted under a fresh AES-256 key, that key wrapped for
 * each certificate's RSA key. Throws when a certificate cannot be used at `date`.
 */
export function envelopeCms(
  content: Buffer,
  certificates: string[],
  algorithm: ContentEncryption,
  date: Date,
): Buffer {
  if (certificates.length === 0) throw new Error('S/MIME needs at least one recipient certificate');
  const recipients = certificates.map((pem) => recipientCertificate(pem, date));
  const cek = randomBytes(32);
  const recipientInfos = new asn1js.Set({ value: recipients.map((cert) => keyTransRecipient(cert, cek)) });

  if (algorithm === 'aes-256-gcm') {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', cek, nonce, { authTagLength: TAG_LENGTH });
    const encrypted = Buffer.concat([cipher.update(content), cipher.final()]);
    const gcmParameters = sequence(octets(nonce), new asn1js.Integer({ value: TAG_LENGTH }));
    // AuthEnvelopedData: no originatorInfo, no authAttrs (so no additional authenticated data).
    return contentInfo(
      OID.authEnvelopedData,
      sequence(
        new asn1js.Integer({ value: 0 }),
        recipientInfos,
        encryptedContentInfo(OID.aes256Gcm, gcmParameters, encrypted),
        octets(cipher.getAuthTag()),
      ),
    );
  }
  if (algorithm === 'aes-256-cbc') {
    const iv = randomBytes(16);
    const cipher = createCipheriv('aes-256-cbc', cek, iv);
    const encrypted = Buffer.concat([cipher.update(content), cipher.final()]);
    // Version 0: only issuerAndSerialNumber recipients, no originatorInfo, no attributes.
    return contentInfo(
      OID.envelopedData,
      sequence(
        new asn1js.Integer({ value: 0 }),
        recipientInfos,
        encryptedContentInfo(OID.aes256Cbc, octets(iv), encrypted),
      ),
    );
  }
  throw new Error(`unknown content encryption "${algorithm as string}"`);
}

/** A certificate whose RSA key can receive a content key at `date`, or a reason it cannot. */
function recipientCertificate(pem: string, date: Date): X509Certificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new Error(`not an X.509 certificate: ${(err as Error).message}`, { cause: err });
  }
  // Named by fingerprint: a subject can hold an address, and errors end up in logs.
  const name = `certificate ${cert.fingerprint256.replaceAll(':', '').slice(0, 16).toLowerCase()}`;
  const key = cert.publicKey;
  if (key.asymmetricKeyType !== 'rsa')
    throw new Error(`${name} has a ${key.asymmetricKeyType} key; S/MIME here needs RSA (RSA-OAEP)`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) throw new Error(`${name} has an RSA-${bits} key; at least ${MIN_RSA_BITS} bits`);
  if (date < cert.validFromDate)
    throw new Error(`${name} is not valid before ${cert.validFromDate.toISOString()}`);
  if (date > cert.validToDate) throw new Error(`${name} expired on ${cert.validToDate.toISOString()}`);
  return cert;
}

/** KeyTransRecipientInfo version 0: the recipient named by issuer and serial number. */
function keyTransRecipient(cert: X509Certificate, cek: Buffer): asn1js.Sequence {
  const encryptedKey = publicEncrypt(
    { key: cert.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    cek,
  );
  // SHA-256 with its parameters absent, as openssl writes it (RFC 4055 lets readers take both).
  const sha256 = sequence(oid(OID.sha256));
  const oaepParameters = sequence(explicit(0, sha256), explicit(1, sequence(oid(OID.mgf1), sha256)));
  return sequence(
    new asn1js.Integer({ value: 0 }),
    issuerAndSerialNumber(cert),
    sequence(oid(OID.rsaesOaep), oaepParameters),
    octets(encryptedKey),
  );
}

/** The certificate's issuer Name and serialNumber, copied as they are encoded in it. */
function issuerAndSerialNumber(cert: X509Certificate): asn1js.Sequence {
  const decoded = asn1js.fromBER(cert.raw);
  if (decoded.offset === -1) throw new Error(`certificate does not decode: ${decoded.result.error}`);
  const tbs = (decoded.result as asn1js.Sequence).valueBlock.value[0] as asn1js.Sequence;
  const fields = tbs.valueBlock.value;
  // tbsCertificate: [0] version (absent in v1 certificates), serialNumber, signature, issuer, ...
  const first = fields[0]?.idBlock.tagClass === 3 ? 1 : 0;
  const serial = fields[first];
  const issuer = fields[first + 2];
  if (!(serial instanceof asn1js.Integer) || !(issuer instanceof asn1js.Sequence))
    throw new Error('certificate has no issuer and serial number where X.509 puts them');
  return sequence(issuer, serial);
}

function encryptedContentInfo(algorithm: string, parameters: asn1js.AsnType, encrypted: Buffer) {
  return sequence(
    oid(OID.data),
    sequence(oid(algorithm), parameters),
    // encryptedContent [0] IMPLICIT OCTET STRING, in one primitive piece.
    new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: encrypted }),
  );
}

function contentInfo(contentType: string, content: asn1js.AsnType): Buffer {
  return Buffer.from(sequence(oid(contentType), explicit(0, content)).toBER());
}

const sequence = (...value: asn1js.AsnType[]) => new asn1js.Sequence({ value });
const oid = (value: string) => new asn1js.ObjectIdentifier({ value });
const octets = (data: Buffer) => new asn1js.OctetString({ valueHex: data });
const explicit = (tagNumber: number, inner: asn1js.AsnType) =>
  new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber }, value: [inner] });
