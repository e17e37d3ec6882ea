// S/MIME certificates: valid now, for the address, with an RSA key allowed to encrypt mail.
// There is no chain to a trust anchor here: the organisation vouches for what it uploads.
import 'reflect-metadata';
import { createHash, X509Certificate as NodeCertificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { errors } from '../errors/index.ts';
import { MIN_RSA_BITS, type ParsedRecipientKey } from './types.ts';

const EMAIL_ADDRESS = '1.2.840.113549.1.9.1';
const EMAIL_PROTECTION = '1.3.6.1.5.5.7.3.4';

export function parseCertificate(der: Buffer, address: string, now: Date): ParsedRecipientKey {
  let cert: x509.X509Certificate;
  let node: NodeCertificate;
  try {
    cert = new x509.X509Certificate(der);
    node = new NodeCertificate(der);
  } catch {
    throw errors.validation('The text is not an X.509 certificate.');
  }

  if (now < node.validFromDate)
    throw errors.validation(`The certificate is not valid before ${node.validFromDate.toISOString()}.`);
  if (now > node.validToDate)
    throw errors.validation(`The certificate expired on ${node.validToDate.toISOString()}.`);

  const key = node.publicKey;
  if (key.asymmetricKeyType !== 'rsa')
    throw errors.validation(
      `The certificate has a ${key.asymmetricKeyType} key; S/MIME here encrypts with RSA-OAEP, so it needs an RSA key.`,
    );
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS)
    throw errors.validation(
      `The certificate has an RSA-${bits} key; at least ${MIN_RSA_BITS} bits are required.`,
    );

  if (cert.getExtension(x509.BasicConstraintsExtension)?.ca)
    throw errors.validation("This is a CA certificate; upload the recipient's own certificate.");
  const keyUsage = cert.getExtension(x509.KeyUsagesExtension);
  if (keyUsage && !(keyUsage.usages & x509.KeyUsageFlags.keyEncipherment))
    throw errors.validation("The certificate's key usage does not allow keyEncipherment.");
  const extendedKeyUsage = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (extendedKeyUsage && !extendedKeyUsage.usages.map(String).includes(EMAIL_PROTECTION))
    throw errors.validation("The certificate's extended key usage does not include emailProtection.");

  if (!certificateAddresses(cert).includes(address))
    throw errors.validation(
      'The certificate is not for the recipient address: no rfc822Name or emailAddress matches it.',
    );

  return {
    kind: 'smime',
    fingerprint: createHash('sha256').update(der).digest('hex'),
    expiresAt: node.validToDate,
    algorithm: `rsa-${bits}`,
    normalized: cert.toString('pem'),
  };
}

/** The rfc822Name entries of the subjectAltName and the subject's emailAddress, lower case. */
function certificateAddresses(cert: x509.X509Certificate): string[] {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san ? san.names.items.filter((n) => n.type === 'email').map((n) => n.value) : [];
  return [...names, ...cert.subjectName.getField(EMAIL_ADDRESS)].map((a) => a.toLowerCase());
}
