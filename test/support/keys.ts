// Recipient keys made at test time: OpenPGP key pairs that Debian's GnuPG 2.2 reads (v4 ECC or
// RSA, never the RFC 9580 curve25519 keys), S/MIME certificates issued by a throwaway CA, and
// small runners for gpg and openssl, the independent tools that prove what we produce.
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import * as openpgp from 'openpgp';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface PgpKeyPair {
  publicKey: string;
  privateKey: string;
  passphrase: string;
  fingerprint: string;
}

export interface PgpKeyOptions {
  email?: string;
  /** ecc: Ed25519 + X25519 as v4 keys (curve25519Legacy); rsa: RSA of `rsaBits`. */
  type?: 'ecc' | 'rsa';
  rsaBits?: number;
  /** Creation time of the key and its self-signatures (to make keys that have already expired). */
  date?: Date;
  /** Seconds from creation; 0 never expires. */
  keyExpirationTime?: number;
  /** A primary key with no encryption subkey. */
  signOnly?: boolean;
}

export async function pgpKeyPair(options: PgpKeyOptions = {}): Promise<PgpKeyPair> {
  const passphrase = 'test passphrase';
  const type = options.type ?? 'ecc';
  const { privateKey, publicKey } = await openpgp.generateKey({
    ...(type === 'rsa' ? { type, rsaBits: options.rsaBits ?? 3072 } : { type, curve: 'curve25519Legacy' }),
    userIDs: [{ name: 'Test Recipient', email: options.email ?? 'patient@example.net' }],
    passphrase,
    date: options.date,
    keyExpirationTime: options.keyExpirationTime ?? 0,
    subkeys: options.signOnly ? [] : undefined,
    format: 'armored',
    // RSA-1024 is made only to prove it is refused.
    config: { minRSABits: 1024 },
  });
  const fingerprint = (await openpgp.readKey({ armoredKey: publicKey })).getFingerprint();
  return { publicKey, privateKey, passphrase, fingerprint };
}

export interface SmimeIdentity {
  /** PEM. */
  certificate: string;
  /** PKCS #8 PEM, unencrypted. */
  privateKey: string;
  /** The issuing test CA's certificate, PEM. */
  caCertificate: string;
}

export interface SmimeOptions {
  email?: string;
  rsaBits?: number;
  notBefore?: Date;
  notAfter?: Date;
  /** Key usage bits; default digitalSignature and keyEncipherment. null leaves the extension out. */
  keyUsage?: number | null;
  /** Extended key usages; default emailProtection. null leaves the extension out. */
  extendedKeyUsage?: string[] | null;
  /** Put the address in the subjectAltName (default) or only in the subject's emailAddress. */
  addressIn?: 'san' | 'subject';
  /** An elliptic-curve key instead of RSA. */
  ec?: boolean;
}

const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]) };
const DAY = 86_400_000;

interface TestCa {
  cert: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
}

let testCa: Promise<TestCa> | undefined;

/** One CA per test process: it signs every certificate the tests make. */
function ca(): Promise<TestCa> {
  testCa ??= (async () => {
    const keys = await webcrypto.subtle.generateKey({ ...RSA, modulusLength: 2048 }, true, [
      'sign',
      'verify',
    ]);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=Sealpost Test CA',
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 365 * DAY),
      signingAlgorithm: RSA,
      keys: keys as webcrypto.CryptoKeyPair,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ],
    });
    return { cert, keys: keys as webcrypto.CryptoKeyPair };
  })();
  return testCa;
}

/** An end-entity S/MIME certificate: RSA-2048, rfc822Name SAN, keyEncipherment, emailProtection. */
export async function smimeIdentity(options: SmimeOptions = {}): Promise<SmimeIdentity> {
  const authority = await ca();
  const email = options.email ?? 'patient@example.net';
  const keys = (await webcrypto.subtle.generateKey(
    options.ec ? { name: 'ECDSA', namedCurve: 'P-256' } : { ...RSA, modulusLength: options.rsaBits ?? 2048 },
    true,
    ['sign', 'verify'],
  )) as webcrypto.CryptoKeyPair;
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(false, undefined, true)];
  const keyUsage =
    options.keyUsage === undefined
      ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
      : options.keyUsage;
  if (keyUsage !== null) extensions.push(new x509.KeyUsagesExtension(keyUsage, true));
  const eku =
    options.extendedKeyUsage === undefined
      ? [x509.ExtendedKeyUsage.emailProtection]
      : options.extendedKeyUsage;
  if (eku !== null) extensions.push(new x509.ExtendedKeyUsageExtension(eku));
  if ((options.addressIn ?? 'san') === 'san')
    extensions.push(new x509.SubjectAlternativeNameExtension([{ type: 'email', value: email }]));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8)))
      .toString('hex')
      .replace(/^./, '4'),
    subject: options.addressIn === 'subject' ? `CN=Test Recipient, E=${email}` : 'CN=Test Recipient',
    issuer: authority.cert.subject,
    notBefore: options.notBefore ?? new Date(Date.now() - DAY),
    notAfter: options.notAfter ?? new Date(Date.now() + 30 * DAY),
    signingAlgorithm: RSA,
    publicKey: keys.publicKey,
    signingKey: authority.keys.privateKey,
    extensions,
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    certificate: cert.toString('pem'),
    privateKey: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
    caCertificate: authority.cert.toString('pem'),
  };
}

/** The result of running a tool: it never throws, so a test can assert on a failure too. */
export interface ToolResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export function run(command: string, args: string[], input?: Buffer | string, env?: NodeJS.ProcessEnv) {
  return new Promise<ToolResult>((resolve) => {
    const child = execFile(
      command,
      args,
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr: stderr.toString() });
      },
    );
    child.stdin?.end(input);
  });
}

/** A temporary GnuPG home with the given armored keys imported; `gpg` runs in it in batch mode. */
export interface GnupgHome {
  dir: string;
  gpg(args: string[], input?: Buffer | string): Promise<ToolResult>;
  dispose(): Promise<void>;
}

export async function gnupgHome(armoredKeys: string[], passphrase = 'test passphrase'): Promise<GnupgHome> {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-gnupg-'));
  const gpg = (args: string[], input?: Buffer | string) =>
    run(
      'gpg',
      ['--homedir', dir, '--batch', '--pinentry-mode', 'loopback', '--passphrase', passphrase, ...args],
      input,
    );
  for (const key of armoredKeys) {
    const imported = await gpg(['--import'], key);
    if (imported.code !== 0) throw new Error(`gpg --import failed: ${imported.stderr}`);
  }
  return {
    dir,
    gpg,
    async dispose() {
      await run('gpgconf', ['--homedir', dir, '--kill', 'all']);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A temporary folder for files openssl reads; removed by `dispose`. */
export function scratchDir() {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-scratch-'));
  return {
    dir,
    write(name: string, content: string | Buffer) {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
