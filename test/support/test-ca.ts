// A certificate authority made at test time, issuing server certificates for whatever names a
// test needs. ECDSA P-256 keeps it fast: a CA and a dozen certificates take milliseconds.
// @peculiar/x509 finds Node's WebCrypto (globalThis.crypto) by itself.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 24 * 60 * 60 * 1000;

export interface KeyAndCert {
  /** PKCS#8 private key, PEM. */
  key: string;
  /** The certificate, PEM. */
  cert: string;
}

export interface IssueOptions {
  notBefore?: Date;
  notAfter?: Date;
}

export interface TestCa {
  /** The CA certificate, PEM: what a client adds to its trusted roots. */
  certPem: string;
  /** A server certificate for the given DNS names (the first one is also the subject CN). */
  issue(names: string[], options?: IssueOptions): Promise<KeyAndCert>;
  /** A certificate for the given names signed by its own key, which no one trusts. */
  selfSigned(names: string[]): Promise<KeyAndCert>;
}

async function keyPair(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function serverExtensions(names: string[]): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value }))),
  ];
}

export async function createTestCa(name = 'Sealpost Test CA'): Promise<TestCa> {
  const caKeys = await keyPair();
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`,
    keys: caKeys,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 30 * DAY),
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  return {
    certPem: ca.toString('pem'),
    async issue(names, options = {}) {
      const keys = await keyPair();
      const cert = await x509.X509CertificateGenerator.create({
        subject: `CN=${names[0]}`,
        issuer: ca.subject,
        publicKey: keys.publicKey,
        signingKey: caKeys.privateKey,
        notBefore: options.notBefore ?? new Date(now - DAY),
        notAfter: options.notAfter ?? new Date(now + 30 * DAY),
        signingAlgorithm: ALGORITHM,
        extensions: [
          ...serverExtensions(names),
          await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
        ],
      });
      return { key: await privateKeyPem(keys.privateKey), cert: cert.toString('pem') };
    },
    async selfSigned(names) {
      const keys = await keyPair();
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        name: `CN=${names[0]}`,
        keys,
        notBefore: new Date(now - DAY),
        notAfter: new Date(now + 30 * DAY),
        signingAlgorithm: ALGORITHM,
        extensions: serverExtensions(names),
      });
      return { key: await privateKeyPem(keys.privateKey), cert: cert.toString('pem') };
    },
  };
}
