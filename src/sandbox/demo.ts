import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import * as openpgp from 'openpgp';
import type { App } from '../app/index.ts';
import { addDomain, prepareDomain, verifyForSandbox } from '../domains/index.ts';
import type { Actor } from '../access-model/index.ts';
import { addRecipientKey, parseRecipientKey } from '../recipient-keys/index.ts';

// The first run in sandbox mode: a sending domain that needs no DNS, and two demo recipients whose
// keys are on file (one OpenPGP, one S/MIME), their private halves written to the data folder so
// the person trying Sealpost can open what was "sent" to them with their own gpg and openssl.

export const DEMO_DOMAIN = 'demo.sealpost.test';
export const DEMO_FROM = `care@${DEMO_DOMAIN}`;
export const DEMO_RECIPIENTS = {
  tls: 'patient@tls.example.test',
  notls: 'patient@notls.example.test',
  badcert: 'patient@badcert.example.test',
  pgp: 'pgp-patient@tls.example.test',
  smime: 'smime-patient@tls.example.test',
} as const;

export interface DemoSetup {
  domain: string;
  /** Where the demo recipients' private keys are (mode 0600). */
  folder: string;
}

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]) };
const YEAR = 365 * 86_400_000;

/** A throwaway CA and an S/MIME certificate from it, for the demo recipient. */
async function demoCertificate(address: string) {
  const caKeys = (await webcrypto.subtle.generateKey({ ...RSA, modulusLength: 2048 }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Sealpost Sandbox Demo CA',
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + YEAR),
    signingAlgorithm: RSA,
    keys: caKeys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const keys = (await webcrypto.subtle.generateKey({ ...RSA, modulusLength: 2048 }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=Demo Patient',
    issuer: ca.subject,
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + YEAR),
    signingAlgorithm: RSA,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.emailProtection]),
      new x509.SubjectAlternativeNameExtension([{ type: 'email', value: address }]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certificate: cert.toString('pem'), privateKey: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

export async function setUpDemo(app: App, orgId: string, actor: Actor): Promise<DemoSetup> {
  const now = app.clock();
  const folder = join(app.config.dataDir, 'demo');
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const secret = (name: string, content: string) => {
    writeFileSync(join(folder, name), content, { mode: 0o600 });
    chmodSync(join(folder, name), 0o600);
  };

  // v4 ECC keys: the new v6 curve25519 keys are unreadable to GnuPG 2.2, which many people run.
  const pgp = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: 'Demo Patient', email: DEMO_RECIPIENTS.pgp }],
    format: 'armored',
  });
  secret('pgp-patient.private.asc', pgp.privateKey);
  const smime = await demoCertificate(DEMO_RECIPIENTS.smime);
  secret('smime-patient.cert.pem', smime.certificate);
  secret('smime-patient.key.pem', smime.privateKey);

  const prepared = await prepareDomain(app.keyring, orgId, DEMO_DOMAIN);
  const keys = await Promise.all([
    parseRecipientKey(pgp.publicKey, DEMO_RECIPIENTS.pgp, now),
    parseRecipientKey(smime.certificate, DEMO_RECIPIENTS.smime, now),
  ]);
  await app.db.transaction(async (tx) => {
    await addDomain(tx, orgId, prepared);
    await verifyForSandbox(tx, orgId, DEMO_DOMAIN, now);
    await addRecipientKey(tx, orgId, {
      address: DEMO_RECIPIENTS.pgp,
      parsed: keys[0],
      createdBy: actor,
      now,
    });
    await addRecipientKey(tx, orgId, {
      address: DEMO_RECIPIENTS.smime,
      parsed: keys[1],
      createdBy: actor,
      now,
    });
    await app.audit(tx, {
      orgId,
      actor,
      action: 'sandbox.demo_created',
      objectType: 'domain',
      objectId: DEMO_DOMAIN,
      outcome: 'success',
      details: { recipient_keys: 2 },
    });
  });
  return { domain: DEMO_DOMAIN, folder };
}

/** The three commands that show a trial every method, and where to look. */
export function demoCommands(url: string, apiKey: string, folder: string): string[] {
  const auth = `-H "Authorization: Bearer ${apiKey}"`;
  const message = JSON.stringify({
    from: { name: 'Demo Clinic', address: DEMO_FROM },
    to: Object.values(DEMO_RECIPIENTS),
    subject: 'Your lab results',
    text: 'Dear patient, your results are ready. MRN: 5551234, DOB: 04/12/1961.',
  });
  return [
    `curl -s ${auth} -H "Content-Type: application/json" -d '${message}' ${url}/v1/messages`,
    `curl -s ${auth} "${url}/v1/messages?limit=1"`,
    `curl -s ${auth} ${url}/v1/sandbox/messages`,
    `# then: gpg --import ${join(folder, 'pgp-patient.private.asc')} and decrypt the pgp capture's raw source;`,
    `#       openssl cms -decrypt -inkey ${join(folder, 'smime-patient.key.pem')} -recip ${join(folder, 'smime-patient.cert.pem')} for the S/MIME one`,
  ];
}
