// A small Internet of mail on loopback: a DNS server and SMTP receivers, each receiver on its
// own 127.0.0.x address and all of them on one shared port, so that a sender needs only a DNS
// server, a delivery port and a CA to reach every domain below.
//
//   tls.test         MX 10 mx.tls.test        127.0.0.2   STARTTLS, valid certificate
//   notls.test       MX 10 mx.notls.test      127.0.0.3   no STARTTLS
//   badcert.test     MX 10 mx.badcert.test    127.0.0.4   STARTTLS, certificate for another name
//   flaky.test       MX 10 mx.flaky.test      127.0.0.5   STARTTLS, 451 to the first transaction(s)
//   reject.test      MX 10 mx.reject.test     127.0.0.6   STARTTLS, 550 5.1.1 to every RCPT
//   backup.test      MX 10 mx1.backup.test    127.0.0.7   (nothing listens)
//                    MX 20 mx2.backup.test    127.0.0.2   (the tls receiver)
//   aonly.test       no MX, A                 127.0.0.2   (the tls receiver)
//   selfsigned.test  MX 10 mx.selfsigned.test 127.0.0.8   STARTTLS, self-signed certificate
//   expired.test     MX 10 mx.expired.test    127.0.0.9   STARTTLS, expired certificate
//   oldtls.test      MX 10 mx.oldtls.test     127.0.0.10  STARTTLS, TLS 1.1 at most
//   tls12.test       MX 10 mx.tls12.test      127.0.0.11  STARTTLS, TLS 1.2 at most
//   nullmx.test      MX 0 .                               (RFC 7505: accepts no mail)
//   servfail.test    SERVFAIL on every question
//   mail.sealpost.test                        127.0.0.1   Sealpost itself, sending from loopback:
//                                                         what SPF records here authorise
//   any other name   NXDOMAIN
//
// MTA-STS policies (setMtaSts) are served over HTTPS from 127.0.0.30 on the same port.
//
// Receivers with a certificate from the test CA issue one for whatever name the client asks
// for (SNI), so a test can point a new domain at an existing receiver. Every receiver refuses
// recipients whose local part starts with "unknown" (550 5.1.1) or "busy" (450 4.2.1), and
// senders whose local part starts with "blocked" (550 5.7.1).
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import type { OutboundOptions } from '../../src/outbound/index.ts';
import { startTestDns, type TestDns } from './dns.ts';
import { createTestCa, type KeyAndCert, type TestCa } from './test-ca.ts';

/** What a receiver offers for STARTTLS. */
export type ReceiverTls = 'valid' | 'none' | 'wrong-name' | 'self-signed' | 'expired';

export interface ReceiverOptions {
  /** Its 127.0.0.x address; by default the next free one from 127.0.0.20. */
  address?: string;
  /** Its own host name: the greeting, and the certificate a client without SNI gets. */
  hostname?: string;
  tls?: ReceiverTls;
  /** Bounds on the TLS versions it accepts (to play an old or a TLS 1.2-only server). */
  tlsVersions?: { min?: tls.SecureVersion; max?: tls.SecureVersion };
  /** Answers 550 5.1.1 to every recipient. */
  rejectAllRecipients?: boolean;
  /** Answers 451 4.3.0 to this many transactions after each reset(). */
  flaky?: number;
  /** Greets connections beyond this many with 421 and closes them. */
  maxClients?: number;
}

export interface ReceivedMessage {
  receiver: string;
  from: string;
  to: string[];
  raw: Buffer;
  /** The negotiated TLS protocol and cipher, null for a message received in clear. */
  tls: { protocol: string; cipher: string } | null;
  /** The server name the client asked for with SNI. */
  servername: string | null;
}

export interface Violation {
  receiver: string;
  marker: string;
}

export interface Receiver {
  name: string;
  address: string;
  hostname: string;
  /** Messages accepted since the last reset(). */
  messages: ReceivedMessage[];
  /** Connections accepted since the last reset(). */
  connections: number;
  openConnections: number;
  maxOpenConnections: number;
  /** MAIL FROM commands received (in clear or not) since the last reset(). */
  transactions: number;
  /** Messages whose content was received, accepted or not, since the last reset(). */
  dataTransactions: number;
  /** Answers the next `count` messages with the given reply (451 4.3.0 by default) at the end of DATA. */
  failNext(count: number, reply?: { code: number; message: string }): void;
  /** Drops every open connection without a word, as a server that restarts does. */
  dropConnections(): void;
}

export interface MtaStsSetup {
  mode: 'enforce' | 'testing' | 'none';
  mx: string[];
  /** Seconds; a day by default. */
  maxAge?: number;
  /** The policy id in DNS; a new one for every call by default. */
  id?: string;
}

export interface MailWorld {
  dns: TestDns;
  /** 127.0.0.1:port, for SEALPOST_DNS_SERVERS and OutboundOptions.dnsServers. */
  dnsServer: string;
  /** The one port every receiver listens on. */
  port: number;
  /** The test CA certificate (PEM), to add to the trusted roots. */
  caPem: string;
  ca: TestCa;
  receiver(name: string): Receiver;
  /** Starts another receiver on the shared port, and publishes <name>.test with it as MX. */
  addReceiver(name: string, options?: ReceiverOptions): Promise<Receiver>;
  /** Publishes `MX 10 mx.<domain>` with that name pointing at an existing receiver. */
  addDomain(domain: string, receiverName: string): void;
  /** Resolves with the receiver's messages once it has at least `count` of them. */
  waitForMessages(receiverName: string, count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** Any receiver handed this text in clear records a violation and refuses the message. */
  forbidInClear(marker: string): void;
  violations: Violation[];
  assertNoViolations(): void;
  /** Publishes an MTA-STS policy for a domain (TXT record and policy file); null removes both. */
  setMtaSts(domain: string, policy: MtaStsSetup | null): void;
  /** How many times the policy file of a domain was fetched. */
  mtaStsFetches(domain: string): number;
  /** The flaky receiver answers 451 4.3.0 to its next `count` transactions. */
  setFlaky(count: number): void;
  /** Writes the CA certificate to a temporary file, for SEALPOST_EXTRA_CA_FILE. */
  writeCaFile(): string;
  /** Outbound options that reach this world. */
  outboundOptions(): OutboundOptions;
  /** The settings a Sealpost instance needs to deliver into this world (writes the CA file). */
  env(): Record<string, string>;
  /** Forgets received messages, counters and violations (not the markers); the flaky receiver is flaky again. */
  reset(): void;
  close(): Promise<void>;
}

interface ReceiverState extends Receiver {
  server: SMTPServer;
  options: ReceiverOptions;
  failures: { count: number; code: number; message: string };
  /** TLS protocol of each secured session, by session id. */
  protocols: Map<string, string>;
}

/** Where this world lives: every host in it is on loopback. */
const LOOPBACK_RANGE = '127.0.0.0/8';
/** The mail hostname tests give Sealpost, and the address it sends from. */
const SENDER_HOSTNAME = 'mail.sealpost.test';
const SENDER_ADDRESS = '127.0.0.1';

const SEEDED: [string, ReceiverOptions][] = [
  ['tls', { address: '127.0.0.2' }],
  ['notls', { address: '127.0.0.3', tls: 'none' }],
  ['badcert', { address: '127.0.0.4', tls: 'wrong-name' }],
  ['flaky', { address: '127.0.0.5', flaky: 1 }],
  ['reject', { address: '127.0.0.6', rejectAllRecipients: true }],
  ['selfsigned', { address: '127.0.0.8', tls: 'self-signed' }],
  ['expired', { address: '127.0.0.9', tls: 'expired' }],
  ['oldtls', { address: '127.0.0.10', tlsVersions: { min: 'TLSv1', max: 'TLSv1.1' } }],
  ['tls12', { address: '127.0.0.11', tlsVersions: { max: 'TLSv1.2' } }],
];

const DAY = 24 * 60 * 60 * 1000;
const TRY_LATER = { code: 451, message: '4.3.0 Try again later' };
const POLICY_HOST_ADDRESS = '127.0.0.30';

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

function localPart(address: string): string {
  return address.slice(0, address.lastIndexOf('@')).toLowerCase();
}

function listen(server: SMTPServer, port: number, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.server.once('error', onError);
    server.listen(port, address, () => {
      server.server.removeListener('error', onError);
      resolve((server.server.address() as { port: number }).port);
    });
  });
}

function closeServer(server: SMTPServer | https.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function startMailWorld(): Promise<MailWorld> {
  const ca = await createTestCa();
  const dns = await startTestDns();
  const events = new EventEmitter();
  const receivers = new Map<string, ReceiverState>();
  const markers: string[] = [];
  const violations: Violation[] = [];
  const tempDirs: string[] = [];
  let nextAddress = 20;
  let port = 0;

  // Certificates are made on first use and kept: one per (kind, name).
  const certificates = new Map<string, Promise<KeyAndCert>>();
  function certificate(kind: ReceiverTls, name: string): Promise<KeyAndCert> {
    const key = `${kind} ${name}`;
    let cert = certificates.get(key);
    if (!cert) {
      const now = Date.now();
      if (kind === 'wrong-name') cert = ca.issue(['mx.elsewhere.test']);
      else if (kind === 'self-signed') cert = ca.selfSigned([name]);
      else if (kind === 'expired')
        cert = ca.issue([name], { notBefore: new Date(now - 30 * DAY), notAfter: new Date(now - DAY) });
      else cert = ca.issue([name]);
      certificates.set(key, cert);
    }
    return cert;
  }

  async function createReceiver(name: string, options: ReceiverOptions): Promise<ReceiverState> {
    const hostname = options.hostname ?? `mx.${name}.test`;
    const kind = options.tls ?? 'valid';
    const versions = {
      ...(options.tlsVersions?.min ? { minVersion: options.tlsVersions.min } : {}),
      ...(options.tlsVersions?.max ? { maxVersion: options.tlsVersions.max } : {}),
      // An old protocol needs OpenSSL's lowest security level to be offered at all.
      ...(options.tlsVersions?.max && options.tlsVersions.max < 'TLSv1.2'
        ? { ciphers: 'DEFAULT@SECLEVEL=0' }
        : {}),
    };
    const contexts = new Map<string, Promise<tls.SecureContext>>();
    const contextFor = (servername: string) => {
      let context = contexts.get(servername);
      if (!context) {
        context = certificate(kind, servername).then((pair) =>
          tls.createSecureContext({ ...pair, ...versions }),
        );
        contexts.set(servername, context);
      }
      return context;
    };
    const defaultPair = kind === 'none' ? undefined : await certificate(kind, hostname);

    const state = {
      name,
      hostname,
      address: options.address ?? `127.0.0.${nextAddress++}`,
      options,
      messages: [],
      connections: 0,
      openConnections: 0,
      maxOpenConnections: 0,
      transactions: 0,
      dataTransactions: 0,
      failures: { count: options.flaky ?? 0, ...TRY_LATER },
      protocols: new Map(),
      failNext(count: number, reply = TRY_LATER) {
        state.failures = { count, ...reply };
      },
      dropConnections() {
        for (const connection of state.server.connections) connection._socket.destroy();
      },
    } as unknown as ReceiverState;

    const tlsOf = (session: SMTPServerSession) =>
      session.secure && session.tlsOptions
        ? { protocol: state.protocols.get(session.id) ?? '', cipher: session.tlsOptions.name }
        : null;

    state.server = new SMTPServer({
      name: hostname,
      logger: false,
      disableReverseLookup: true,
      authOptional: true,
      disabledCommands: kind === 'none' ? ['AUTH', 'STARTTLS'] : ['AUTH'],
      closeTimeout: 200,
      ...(options.maxClients ? { maxClients: options.maxClients } : {}),
      ...(defaultPair ? { ...defaultPair, ...versions } : {}),
      ...(kind === 'none'
        ? {}
        : {
            SNICallback: (servername: string, done: (err: Error | null, ctx?: tls.SecureContext) => void) => {
              contextFor(servername).then(
                (ctx) => done(null, ctx),
                (err: Error) => done(err),
              );
            },
          }),
      onConnect(_session, callback) {
        state.connections++;
        state.openConnections++;
        state.maxOpenConnections = Math.max(state.maxOpenConnections, state.openConnections);
        callback();
      },
      onClose(session) {
        state.openConnections--;
        state.protocols.delete(session.id);
      },
      onSecure(socket, session, callback) {
        state.protocols.set(session.id, (socket as tls.TLSSocket).getProtocol() ?? '');
        callback();
      },
      onMailFrom(address, _session, callback) {
        state.transactions++;
        if (localPart(address.address).startsWith('blocked'))
          return callback(smtpError(550, '5.7.1 Sender refused'));
        callback();
      },
      onRcptTo(address, _session, callback) {
        const local = localPart(address.address);
        if (options.rejectAllRecipients || local.startsWith('unknown'))
          return callback(smtpError(550, '5.1.1 No such user here'));
        if (local.startsWith('busy')) return callback(smtpError(450, '4.2.1 Mailbox busy, try again later'));
        callback();
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          state.dataTransactions++;
          const raw = Buffer.concat(chunks);
          const secure = tlsOf(session);
          if (!secure) {
            const found = markers.filter((marker) => raw.includes(marker));
            for (const marker of found) violations.push({ receiver: name, marker });
            if (found.length) return callback(smtpError(554, '5.7.0 Protected content received in clear'));
          }
          if (state.failures.count > 0) {
            state.failures.count--;
            return callback(smtpError(state.failures.code, state.failures.message));
          }
          const envelope = session.envelope;
          state.messages.push({
            receiver: name,
            from: envelope.mailFrom ? envelope.mailFrom.address : '',
            to: envelope.rcptTo.map((rcpt) => rcpt.address),
            raw,
            tls: secure,
            servername: session.servername || null,
          });
          events.emit('message', name);
          callback(null, '2.0.0 Queued');
        });
      },
    });
    state.server.on('error', () => {
      // A client going away mid-session is routine here; the tests look at what was recorded.
    });
    return state;
  }

  // The MTA-STS policy host: https://mta-sts.<domain>/.well-known/mta-sts.txt for every domain
  // given a policy, with a certificate for whichever mta-sts name is asked for.
  const policies = new Map<string, string>();
  const fetches = new Map<string, number>();
  const policyContexts = new Map<string, Promise<tls.SecureContext>>();
  const policyHost = https.createServer(
    {
      SNICallback: (servername, done) => {
        let context = policyContexts.get(servername);
        if (!context) {
          context = certificate('valid', servername).then((pair) => tls.createSecureContext(pair));
          policyContexts.set(servername, context);
        }
        context.then(
          (ctx) => done(null, ctx),
          (err: Error) => done(err),
        );
      },
    },
    (request, response) => {
      const domain = (request.headers.host ?? '').replace(/:\d+$/, '').replace(/^mta-sts\./, '');
      const policy = policies.get(domain);
      if (request.url !== '/.well-known/mta-sts.txt' || policy === undefined) {
        response.writeHead(404).end();
        return;
      }
      fetches.set(domain, (fetches.get(domain) ?? 0) + 1);
      response.writeHead(200, { 'content-type': 'text/plain' }).end(policy);
    },
  );

  // Everything shares a port the system picks for the first receiver; if another process holds
  // that port on one of the other addresses, start over with a new one.
  for (let attempt = 0; ; attempt++) {
    const started: ReceiverState[] = [];
    try {
      for (const [name, options] of SEEDED) {
        const receiver = await createReceiver(name, options);
        started.push(receiver);
        port = await listen(receiver.server, port, receiver.address);
      }
      await new Promise<void>((resolve, reject) => {
        policyHost.once('error', reject);
        policyHost.listen(port, POLICY_HOST_ADDRESS, () => {
          policyHost.removeListener('error', reject);
          resolve();
        });
      });
      for (const receiver of started) receivers.set(receiver.name, receiver);
      break;
    } catch (err) {
      await Promise.all(started.map((r) => closeServer(r.server)));
      port = 0;
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 10) throw err;
    }
  }
  let policyIds = 0;

  // A receiver named mx.<domain> is the mail exchanger of <domain>.
  function publish(r: ReceiverState): void {
    dns.setA(r.hostname, [r.address]);
    if (r.hostname.startsWith('mx.'))
      dns.setMx(r.hostname.slice(3), [{ exchange: r.hostname, priority: 10 }]);
  }
  for (const r of receivers.values()) publish(r);
  const tlsAddress = receivers.get('tls')!.address;
  dns.setMx('backup.test', [
    { exchange: 'mx1.backup.test', priority: 10 },
    { exchange: 'mx2.backup.test', priority: 20 },
  ]);
  dns.setA('mx1.backup.test', ['127.0.0.7']);
  dns.setA('mx2.backup.test', [tlsAddress]);
  dns.setA('aonly.test', [tlsAddress]);
  dns.setNullMx('nullmx.test');
  dns.setA(SENDER_HOSTNAME, [SENDER_ADDRESS]);
  dns.setFailure('servfail.test', 'servfail');

  function receiver(name: string): ReceiverState {
    const found = receivers.get(name);
    if (!found) throw new Error(`no receiver named ${name}`);
    return found;
  }

  function writeCaFile(): string {
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-ca-'));
    tempDirs.push(dir);
    const file = join(dir, 'test-ca.pem');
    writeFileSync(file, ca.certPem);
    return file;
  }

  function resetReceiver(r: ReceiverState): void {
    r.messages = [];
    r.connections = 0;
    r.maxOpenConnections = r.openConnections;
    r.transactions = 0;
    r.dataTransactions = 0;
    r.failures = { count: r.options.flaky ?? 0, ...TRY_LATER };
  }

  return {
    dns,
    dnsServer: dns.server,
    port,
    caPem: ca.certPem,
    ca,
    receiver,
    async addReceiver(name, options = {}) {
      if (receivers.has(name)) throw new Error(`a receiver named ${name} exists already`);
      const r = await createReceiver(name, options);
      await listen(r.server, port, r.address);
      receivers.set(name, r);
      publish(r);
      return r;
    },
    addDomain(domain, receiverName) {
      dns.setMx(domain, [{ exchange: `mx.${domain}`, priority: 10 }]);
      dns.setA(`mx.${domain}`, [receiver(receiverName).address]);
    },
    waitForMessages(receiverName, count, timeoutMs = 5000) {
      const r = receiver(receiverName);
      if (r.messages.length >= count) return Promise.resolve(r.messages);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          events.removeListener('message', onMessage);
          reject(new Error(`${receiverName} received ${r.messages.length} of ${count} messages`));
        }, timeoutMs);
        const onMessage = (name: string) => {
          if (name !== receiverName || r.messages.length < count) return;
          clearTimeout(timer);
          events.removeListener('message', onMessage);
          resolve(r.messages);
        };
        events.on('message', onMessage);
      });
    },
    forbidInClear(marker) {
      markers.push(marker);
    },
    violations,
    assertNoViolations() {
      if (violations.length)
        throw new Error(
          `protected content received in clear: ${violations.map((v) => `${v.marker} at ${v.receiver}`).join(', ')}`,
        );
    },
    setMtaSts(domain, policy) {
      if (!policy) {
        policies.delete(domain);
        dns.setTxt(`_mta-sts.${domain}`, []);
        dns.setA(`mta-sts.${domain}`, []);
        return;
      }
      const lines = ['version: STSv1', `mode: ${policy.mode}`, ...policy.mx.map((mx) => `mx: ${mx}`)];
      policies.set(domain, [...lines, `max_age: ${policy.maxAge ?? 86400}`, ''].join('\r\n'));
      dns.setTxt(`_mta-sts.${domain}`, [`v=STSv1; id=${policy.id ?? `policy${++policyIds}`}`]);
      dns.setA(`mta-sts.${domain}`, [POLICY_HOST_ADDRESS]);
    },
    mtaStsFetches(domain) {
      return fetches.get(domain) ?? 0;
    },
    setFlaky(count) {
      receiver('flaky').failNext(count);
    },
    writeCaFile,
    outboundOptions() {
      return {
        dnsServers: [dns.server],
        port,
        httpsPort: port,
        extraCa: ca.certPem,
        heloName: 'sender.sealpost.test',
        // Policy hosts here are on loopback, which Sealpost reaches only where it is allowed.
        privateRanges: [LOOPBACK_RANGE],
      };
    },
    env() {
      return {
        SEALPOST_DNS_SERVERS: dns.server,
        SEALPOST_DELIVERY_PORT: String(port),
        SEALPOST_EXTRA_CA_FILE: writeCaFile(),
        SEALPOST_FETCH_PRIVATE_RANGES: LOOPBACK_RANGE,
        // Whatever its mail hostname, Sealpost reaches this world from loopback.
        SEALPOST_OUTBOUND_ADDRESSES: SENDER_ADDRESS,
      };
    },
    reset() {
      for (const r of receivers.values()) resetReceiver(r);
      violations.length = 0;
      fetches.clear();
    },
    async close() {
      policyHost.closeAllConnections();
      await Promise.all(
        [...receivers.values()].map((r) => closeServer(r.server)).concat(closeServer(policyHost)),
      );
      await dns.close();
      for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}
