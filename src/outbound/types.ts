export interface OutboundOptions {
  /** DNS servers, 'ip' or 'ip:port'; unset means the system resolver. */
  dnsServers?: string[];
  /** Destination port: 25 in production, a high port in tests. */
  port: number;
  /** Extra trusted CA certificates (PEM), added to Node's default roots. */
  extraCa?: string;
  /** Our EHLO name. */
  heloName: string;
  connectTimeoutMs?: number;
  /** Time for the greeting and, after it, for the STARTTLS handshake. */
  greetingTimeoutMs?: number;
  /** Inactivity allowed in the middle of a session. */
  socketTimeoutMs?: number;
  /** Per-lookup DNS timeout (each lookup is tried twice). */
  dnsTimeoutMs?: number;
  /** How long a domain's MX hosts and their addresses are remembered; 0 asks DNS for every message. */
  routeCacheMs?: number;
  /** At most this many connections at once to one MX host in one TLS mode (pooled, reused). */
  maxConnectionsPerHost?: number;
  /** A pooled connection unused this long is closed. */
  idleTimeoutMs?: number;
  /** A pooled connection is closed after carrying this many messages. */
  maxMessagesPerConnection?: number;
  /** Honour MTA-STS policies (RFC 8461). On by default. */
  mtaSts?: boolean;
  /** Port MTA-STS policies are fetched from: 443, but for tests. */
  httpsPort?: number;
  /** Private ranges (CIDR) MTA-STS policy hosts may be on; none by default (SEALPOST_FETCH_PRIVATE_RANGES). */
  privateRanges?: string[];
}

export interface MxHost {
  exchange: string;
  priority: number;
  addresses: string[];
  /** Why `addresses` is empty, when it is. */
  lookupError?: string;
}

export interface TlsInfo {
  version: string;
  cipher: string;
}

export interface Rejection {
  address: string;
  code: number;
  response: string;
}

export type TlsPolicy = 'enforced' | 'opportunistic';

export interface SendRequest {
  domain: string;
  from: string;
  to: string[];
  /** The message as it goes on the wire: built, encrypted and signed already. */
  raw: Buffer;
  tls: TlsPolicy;
}

export type SendOutcome =
  | {
      status: 'delivered';
      mx: string;
      response: string;
      tls: TlsInfo | null;
      /** Recipients the server refused while taking the others; a 4xx code means "try later". */
      rejected: Rejection[];
    }
  /** Enforced TLS was impossible with every MX host: nothing was sent. */
  | { status: 'tls_failed'; mx: string; reason: string }
  /** Try again later. `rejected` lists per-recipient refusals when every recipient was refused. */
  | {
      status: 'deferred';
      mx: string | null;
      code?: number;
      response?: string;
      reason: string;
      rejected?: Rejection[];
    }
  /**
   * Permanent refusal. `mx` is the host that refused, or the domain itself when DNS alone
   * decided (a null MX, a domain that does not exist); `response` is then written the way a
   * server would have answered.
   */
  | { status: 'bounced'; mx: string; code: number; response: string; rejected?: Rejection[] };
