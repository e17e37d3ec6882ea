// Delivery of one message to one recipient domain: find its MX hosts, try them in order over
// pooled SMTP sessions, and say what happened in a way the pipeline can act on.
import { Resolver } from 'node:dns/promises';
import tls from 'node:tls';
import type { SMTPError } from 'nodemailer/lib/smtp-connection';
import type { Logger } from '../log/index.ts';
import { AddressRanges } from '../net-guard/index.ts';
import { MtaSts, mxMatches, type MtaStsPolicy } from './mta-sts.ts';
import { Pool } from './pool.ts';
import { findMxHosts, RouteCache, RouteError } from './route.ts';
import { Session, SessionError, type SessionTls } from './session.ts';
import type { MxHost, OutboundOptions, Rejection, SendOutcome, SendRequest, TlsPolicy } from './types.ts';

export interface OutboundDeps {
  resolver?: Resolver;
  /** Picks among MX hosts of equal preference. */
  random?: () => number;
  /** Milliseconds, for the DNS and MTA-STS caches. */
  now?: () => number;
  log?: Logger;
}

/** Why one MX host did not take the message, when that is not the end of it. */
interface HostFailure {
  mx: string;
  /** tls: enforced TLS impossible; connect: unreachable or broke off; refused: a 4xx reply. */
  kind: 'tls' | 'connect' | 'refused';
  reason: string;
  code?: number;
  response?: string;
  rejected?: Rejection[];
}

const DEFAULTS = {
  connectTimeoutMs: 30_000,
  greetingTimeoutMs: 60_000,
  socketTimeoutMs: 5 * 60_000,
  dnsTimeoutMs: 5_000,
  maxConnectionsPerHost: 5,
  idleTimeoutMs: 10_000,
  maxMessagesPerConnection: 100,
  routeCacheMs: 60_000,
  httpsPort: 443,
};

function rejections(errors: SMTPError[] | undefined): Rejection[] {
  return (errors ?? []).map((err) => ({
    address: err.recipient ?? '',
    code: err.responseCode ?? 0,
    response: err.response ?? err.message,
  }));
}

export class Outbound {
  private readonly options: OutboundOptions & typeof DEFAULTS;
  private readonly resolver: Resolver;
  private readonly routes: RouteCache;
  private readonly secureContext: tls.SecureContext;
  private readonly mtaSts: MtaSts | null;
  private readonly pools = new Map<string, Pool>();
  private closed = false;

  constructor(options: OutboundOptions, deps: OutboundDeps = {}) {
    this.options = { ...DEFAULTS, ...options };
    const random = deps.random ?? Math.random;
    const now = deps.now ?? Date.now;
    if (deps.resolver) {
      this.resolver = deps.resolver;
    } else {
      this.resolver = new Resolver({ timeout: this.options.dnsTimeoutMs, tries: 2 });
      if (options.dnsServers?.length) this.resolver.setServers(options.dnsServers);
    }
    this.routes = new RouteCache((domain) => findMxHosts(this.resolver, domain, random), {
      ttlMs: this.options.routeCacheMs,
      now,
      random,
    });
    // One context for every verified connection: building one per connection would parse the
    // whole root store each time.
    this.secureContext = tls.createSecureContext({
      ca: [...tls.getCACertificates('default'), ...(options.extraCa ? [options.extraCa] : [])],
      minVersion: 'TLSv1.2',
    });
    this.mtaSts =
      options.mtaSts === false
        ? null
        : new MtaSts(this.resolver, {
            secureContext: this.secureContext,
            port: this.options.httpsPort,
            timeoutMs: this.options.connectTimeoutMs,
            now,
            policy: { allowPrivate: AddressRanges.parse(options.privateRanges ?? []) },
            ...(deps.log ? { log: deps.log } : {}),
          });
  }

  /** The domain's MX hosts in the order to try them; throws a RouteError when there is no route. */
  resolveMx(domain: string): Promise<MxHost[]> {
    return this.routes.get(domain);
  }

  async send(request: SendRequest): Promise<SendOutcome> {
    if (this.closed) throw new Error('outbound is closed');
    let hosts: MxHost[];
    let policy: MtaStsPolicy | null;
    try {
      [hosts, policy] = await Promise.all([
        this.resolveMx(request.domain),
        this.mtaSts?.policy(request.domain) ?? null,
      ]);
    } catch (err) {
      if (!(err instanceof RouteError)) throw err;
      return err.permanent
        ? { status: 'bounced', mx: request.domain, code: err.code, response: err.response }
        : { status: 'deferred', mx: null, reason: err.message };
    }

    // A domain that enforces MTA-STS gets verified TLS to the hosts it names, and nothing else,
    // whatever the message asked for.
    let tlsPolicy: TlsPolicy = request.tls;
    if (policy?.mode === 'enforce') {
      tlsPolicy = 'enforced';
      const allowed = hosts.filter((host) => mxMatches(policy, host.exchange));
      if (allowed.length === 0)
        return {
          status: 'tls_failed',
          mx: hosts[0]!.exchange,
          reason: `no MX host of ${request.domain} matches its MTA-STS policy`,
        };
      hosts = allowed;
    }

    const failures: HostFailure[] = [];
    for (const host of hosts) {
      const result = await this.tryHost(host, request, tlsPolicy);
      if ('status' in result) return result;
      failures.push(result);
    }
    return this.giveUp(failures);
  }

  /** Closes every pooled connection; sends after this are refused. */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.close()));
  }

  private async tryHost(
    host: MxHost,
    request: SendRequest,
    tlsPolicy: TlsPolicy,
  ): Promise<SendOutcome | HostFailure> {
    const mx = host.exchange;
    if (host.addresses.length === 0)
      return { mx, kind: 'connect', reason: `${mx}: ${host.lookupError ?? 'no address'}` };

    // A pooled session can have been closed by the server while it sat idle; a send that breaks
    // on one is tried once more on a fresh session.
    for (let attempt = 0; ; attempt++) {
      const pool = this.pool(mx, tlsPolicy);
      let lease;
      try {
        lease = await pool.acquire(host.addresses);
      } catch (err) {
        if (!(err instanceof SessionError)) throw err;
        return { mx, kind: err.kind, reason: err.message, code: err.code, response: err.response };
      }
      const { session, reused } = lease;
      try {
        const info = await session.send(request.from, request.to, request.raw);
        pool.release(session, true);
        return {
          status: 'delivered',
          mx,
          response: info.response,
          tls: session.tls,
          rejected: rejections(info.rejectedErrors),
        };
      } catch (error) {
        const err = error as SMTPError;
        if (!err.responseCode && err.command !== 'API' && err.code !== 'EMESSAGE') {
          pool.release(session, false);
          if (reused && attempt === 0) continue;
          return { mx, kind: 'connect', reason: `${mx}: ${err.message}` };
        }
        pool.release(session, await session.reset());
        return this.refusal(mx, err);
      }
    }
  }

  // The server answered the transaction with an error (or nodemailer refused it before sending).
  private refusal(mx: string, err: SMTPError): SendOutcome | HostFailure {
    if (!err.responseCode) {
      // Nothing went out: the message is larger than the server's SIZE, or an address is malformed.
      const response =
        err.code === 'EMESSAGE'
          ? '552 5.3.4 Message size exceeds the limit the server announced'
          : '553 5.1.3 Malformed envelope address';
      return { status: 'bounced', mx, code: Number(response.slice(0, 3)), response };
    }
    const code = err.responseCode;
    const response = err.response ?? err.message;
    if (err.command === 'RCPT TO' && err.rejectedErrors?.length) {
      const rejected = rejections(err.rejectedErrors);
      const first = rejected.find((r) => r.code >= 500);
      if (first && rejected.every((r) => r.code >= 500 && r.code !== 503))
        return { status: 'bounced', mx, code: first.code, response: first.response, rejected };
      return {
        mx,
        kind: 'refused',
        reason: `${mx} refused every recipient: ${response}`,
        code,
        response,
        rejected,
      };
    }
    if (err.permanent && (err.command === 'MAIL FROM' || err.command === 'DATA'))
      return { status: 'bounced', mx, code, response };
    return { mx, kind: 'refused', reason: `${mx} answered ${response}`, code, response };
  }

  // Every MX host failed. Only if each of them failed for TLS is enforced TLS impossible; if any
  // was merely unreachable or busy, it may yet work later.
  private giveUp(failures: HostFailure[]): SendOutcome {
    const reason = failures.map((f) => f.reason).join('; ');
    if (failures.every((f) => f.kind === 'tls')) return { status: 'tls_failed', mx: failures[0]!.mx, reason };
    const replied =
      failures.findLast((f) => f.kind === 'refused') ?? failures.findLast((f) => f.kind !== 'tls')!;
    return {
      status: 'deferred',
      mx: replied.mx,
      reason,
      ...(replied.code ? { code: replied.code, response: replied.response } : {}),
      ...(replied.rejected ? { rejected: replied.rejected } : {}),
    };
  }

  private pool(mx: string, tlsPolicy: TlsPolicy): Pool {
    if (this.closed) throw new Error('outbound is closed');
    const key = `${tlsPolicy} ${mx}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool((addresses) => this.openSession(mx, addresses, tlsPolicy), {
        max: this.options.maxConnectionsPerHost,
        idleTimeoutMs: this.options.idleTimeoutMs,
        maxMessages: this.options.maxMessagesPerConnection,
        onEmpty: () => {
          if (this.pools.get(key) === pool) this.pools.delete(key);
        },
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  // A session with the first address of the host that gives one. Opportunistic TLS whose
  // handshake fails tries that address once more in clear.
  private async openSession(mx: string, addresses: string[], tlsPolicy: TlsPolicy): Promise<Session> {
    const failures: SessionError[] = [];
    for (const address of addresses) {
      const modes: SessionTls[] = tlsPolicy === 'enforced' ? ['enforced'] : ['opportunistic', 'none'];
      for (const mode of modes) {
        try {
          return await Session.open({
            mx,
            address,
            port: this.options.port,
            heloName: this.options.heloName,
            tls: mode,
            secureContext: this.secureContext,
            connectTimeoutMs: this.options.connectTimeoutMs,
            greetingTimeoutMs: this.options.greetingTimeoutMs,
            socketTimeoutMs: this.options.socketTimeoutMs,
          });
        } catch (err) {
          if (!(err instanceof SessionError)) throw err;
          failures.push(err);
          if (err.kind !== 'tls') break;
        }
      }
    }
    // Several addresses: a TLS failure only if TLS is what failed at every one of them.
    throw failures.find((f) => f.kind !== 'tls') ?? failures[0]!;
  }
}
