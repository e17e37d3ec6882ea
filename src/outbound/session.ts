// One SMTP session with one address of an MX host, set up with the TLS a policy asks for.
//
// Enforced TLS is nodemailer's requireTLS: STARTTLS is sent whatever the server advertises and
// a failed upgrade ends the session before any MAIL FROM. The certificate is checked against the
// MX host name (we connect to an address, the name is what DNS vouched for), and the session is
// checked once more after the handshake, so a mistake in the options cannot let a cleartext or
// unverified session through.
import tls from 'node:tls';
import SMTPConnection, { type SentMessageInfo, type SMTPError } from 'nodemailer/lib/smtp-connection';
import type { TlsInfo } from './types.ts';

/** 'none' is only ever used for an opportunistic retry after a failed handshake. */
export type SessionTls = 'enforced' | 'opportunistic' | 'none';

export interface SessionOptions {
  mx: string;
  address: string;
  port: number;
  heloName: string;
  tls: SessionTls;
  /** Trusted roots and the TLS 1.2 minimum, for enforced TLS. */
  secureContext: tls.SecureContext;
  connectTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
}

/** A session could not be set up: for a TLS reason (`kind: 'tls'`), or any other. */
export class SessionError extends Error {
  readonly kind: 'tls' | 'connect';
  readonly code?: number;
  readonly response?: string;

  constructor(kind: 'tls' | 'connect', message: string, code?: number, response?: string) {
    super(message);
    this.name = 'SessionError';
    this.kind = kind;
    this.code = code;
    this.response = response;
  }
}

// OpenSSL's certificate verification codes, and Node's own for a name mismatch.
const CERTIFICATE_ERROR =
  /^(UNABLE_TO_|CERT_|ERROR_IN_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|INVALID_CA|PATH_LENGTH_EXCEEDED|INVALID_PURPOSE|HOSTNAME_MISMATCH|ERR_TLS_CERT_ALTNAME_INVALID)/;
const PROTOCOL_VERSION_ERROR = /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE/;
const MODERN_TLS = new Set(['TLSv1.2', 'TLSv1.3']);

function describeFailure(err: SMTPError, options: SessionOptions, upgrading: boolean): SessionError {
  const { mx, address } = options;
  const code = err.originalCode ?? err.code ?? '';
  // Node's hint about --use-system-ca means nothing to whoever reads the outcome.
  const message = err.message
    .replace(/^Error initiating TLS - /, '')
    .replace(/; if the root CA is installed.*$/s, '');
  // OpenSSL's own words ("tlsv1 alert protocol version"), without its error-queue dump.
  const openssl = (err as { reason?: string }).reason ?? message;

  if (upgrading || err.code === 'ETLS') {
    if (err.command === 'STARTTLS' && err.response) {
      return (err.responseCode ?? 0) >= 500
        ? new SessionError('tls', `${mx} offers no STARTTLS`, err.responseCode, err.response)
        : new SessionError('tls', `${mx} refused STARTTLS: ${err.response}`, err.responseCode, err.response);
    }
    if (CERTIFICATE_ERROR.test(code))
      return new SessionError('tls', `certificate for ${mx} is not valid: ${message}`);
    if (err.timeoutType === 'UPGRADE_TIMEOUT')
      return new SessionError('tls', `TLS handshake with ${mx} timed out`);
    if (PROTOCOL_VERSION_ERROR.test(code) || PROTOCOL_VERSION_ERROR.test(message))
      return new SessionError('tls', `${mx} offers no TLS 1.2 or newer (${openssl})`);
    return new SessionError('tls', `TLS handshake with ${mx} failed: ${openssl}`);
  }
  // A server that refuses EHLO speaks no ESMTP, so it has no STARTTLS either.
  if (options.tls === 'enforced' && err.command === 'EHLO' && (err.responseCode ?? 0) >= 500)
    return new SessionError('tls', `${mx} offers no STARTTLS (no ESMTP)`, err.responseCode, err.response);

  if (err.response)
    return new SessionError('connect', `${mx} answered ${err.response}`, err.responseCode, err.response);
  if (code === 'ECONNREFUSED')
    return new SessionError('connect', `${mx} [${address}] refused the connection`);
  return new SessionError('connect', `${mx} [${address}]: ${message}`);
}

function tlsInfo(conn: SMTPConnection): TlsInfo | null {
  const socket = conn._socket;
  if (!conn.secure || !(socket instanceof tls.TLSSocket)) return null;
  return { version: socket.getProtocol() ?? 'unknown', cipher: socket.getCipher().name };
}

// The session after connect() has to be what enforced TLS promised; throws if it is not.
function checkEnforced(conn: SMTPConnection, mx: string): void {
  const socket = conn._socket;
  if (!conn.secure || !(socket instanceof tls.TLSSocket))
    throw new SessionError('tls', `${mx} did not start TLS`);
  if (!socket.authorized)
    throw new SessionError(
      'tls',
      `certificate for ${mx} is not valid: ${socket.authorizationError?.message}`,
    );
  const version = socket.getProtocol() ?? 'unknown';
  if (!MODERN_TLS.has(version))
    throw new SessionError('tls', `${mx} offers no TLS 1.2 or newer (${version})`);
}

export class Session {
  readonly mx: string;
  readonly tls: TlsInfo | null;
  /** Messages sent over this session. */
  sent = 0;
  private readonly conn: SMTPConnection;

  private constructor(mx: string, conn: SMTPConnection) {
    this.mx = mx;
    this.conn = conn;
    this.tls = tlsInfo(conn);
  }

  /** Connects, says EHLO and sets TLS up; throws a SessionError saying why it could not. */
  static async open(options: SessionOptions): Promise<Session> {
    const { mx } = options;
    const tlsOptions: tls.ConnectionOptions =
      options.tls === 'enforced'
        ? {
            secureContext: options.secureContext,
            servername: mx,
            rejectUnauthorized: true,
            checkServerIdentity: (_host, cert) => tls.checkServerIdentity(mx, cert),
          }
        : // Opportunistic TLS takes any certificate: it is better than clear text, nothing more.
          { servername: mx, rejectUnauthorized: false };
    const conn = new SMTPConnection({
      host: options.address,
      port: options.port,
      servername: mx,
      name: options.heloName,
      requireTLS: options.tls === 'enforced',
      opportunisticTLS: options.tls === 'opportunistic',
      ignoreTLS: options.tls === 'none',
      tls: tlsOptions,
      connectionTimeout: options.connectTimeoutMs,
      greetingTimeout: options.greetingTimeoutMs,
      socketTimeout: options.socketTimeoutMs,
      socketCloseTimeout: 1000,
      logger: false,
    });
    // Errors reach us through the callbacks; without a listener an 'error' event would throw.
    conn.on('error', () => {});

    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: SMTPError) => reject(describeFailure(err, options, conn.upgrading === true));
        const onEnd = () =>
          reject(new SessionError('connect', `${mx} [${options.address}] closed the connection`));
        conn.once('error', onError);
        conn.once('end', onEnd);
        conn.connect((err) => {
          conn.removeListener('error', onError);
          conn.removeListener('end', onEnd);
          if (err) reject(describeFailure(err, options, conn.upgrading === true));
          else resolve();
        });
      });
      if (options.tls === 'enforced') checkEnforced(conn, mx);
    } catch (err) {
      conn.close();
      throw err;
    }
    return new Session(mx, conn);
  }

  /** False once the server or the network ended the session. */
  get usable(): boolean {
    const socket = this.conn._socket;
    return !this.conn.destroyed && !!socket && !socket.destroyed && socket.writable;
  }

  /** Runs one transaction; rejects with nodemailer's error, which carries the server's reply. */
  send(from: string, to: string[], raw: Buffer): Promise<SentMessageInfo> {
    this.sent++;
    return new Promise((resolve, reject) => {
      this.conn.send({ from, to, size: raw.length, use8BitMime: true }, raw, (err, info) =>
        err ? reject(err) : resolve(info),
      );
    });
  }

  /** RSET after a refused transaction, so the session can carry the next one. */
  reset(): Promise<boolean> {
    if (!this.usable) return Promise.resolve(false);
    return new Promise((resolve) => this.conn.reset((err) => resolve(!err)));
  }

  onEnd(listener: () => void): void {
    this.conn.once('end', listener);
  }

  /** QUIT, or just close if the session is unusable; resolves once it is closed. */
  close(): Promise<void> {
    if (this.conn.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      // A server that never answers QUIT does not get to hold the connection open.
      const timer = setTimeout(() => this.conn.close(), 1000);
      this.conn.once('end', () => {
        clearTimeout(timer);
        resolve();
      });
      if (this.usable) this.conn.quit();
      else this.conn.close();
    });
  }
}
