// The keys SecureLine may encrypt to for a recipient: the organisation's uploaded keys, and when
// it has none for the address, the key the recipient's domain publishes in its Web Key Directory.
// Directory answers are cached, and a lookup is bounded by a short timeout: a directory that is
// slow, down or broken costs a delivery that timeout at most once in a while, and its answer is
// "no key" (the recipient then gets TLS or the portal), never an error that holds the mail.
// Directories are reached only through the guard (src/net-guard), and never in sandbox mode.
import { readFileSync } from 'node:fs';
import tls, { type SecureContext } from 'node:tls';
import type { Queryable } from '../db/index.ts';
import type { Logger } from '../log/index.ts';
import { type AddressPolicy, HostRefused, makeResolver, type Resolve } from '../net-guard/index.ts';
import { findRecipientKeys } from './store.ts';
import { readWkdCache, type WkdAnswer, writeWkdCache } from './wkd-cache.ts';
import { lookupWkd, WkdKeyRefused } from './wkd.ts';

export interface FoundKey {
  fingerprint: string;
  /** Armored OpenPGP public key, or PEM certificate. */
  key: string;
  expiresAt: Date | null;
  source: 'uploaded' | 'wkd';
}

export interface FoundKeys {
  pgp: FoundKey[];
  smime: FoundKey[];
}

export interface RecipientKeyFinderOptions {
  /** 'ip:port' servers that resolve directory host names; the system's when absent. */
  dnsServers?: string[];
  /** A PEM file of certificate authorities trusted besides the system's roots. */
  extraCaFile?: string;
  /** The HTTPS port of every directory: 443, except in tests. */
  port?: number;
  /** Bound on one whole lookup, DNS and HTTPS together. */
  timeoutMs?: number;
  /** Where directories may be; public addresses only by default. */
  policy?: AddressPolicy;
  /** Sandbox mode: nothing leaves the machine, so no directory is asked. */
  sandbox?: boolean;
  log?: Logger;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * How long each kind of answer is kept. A failure is kept a little too, so that a batch to one
 * dead directory waits out its timeout once, not once per message.
 */
export const WKD_CACHE_TTL: Record<WkdAnswer['outcome'], number> = {
  key: 24 * HOUR,
  none: HOUR,
  error: 5 * MINUTE,
};

/** Resolver answers that mean the host does not exist, rather than DNS failing. */
const NO_HOST = new Set(['ENOTFOUND', 'ENODATA']);

const PUBLIC_ONLY: AddressPolicy = { allowPrivate: false };

export class RecipientKeyFinder {
  /** The HTTPS port directories are asked on; a test sets it to its own server's. */
  port: number;
  private readonly timeoutMs: number;
  private readonly resolve: Resolve;
  private readonly policy: AddressPolicy;
  private readonly sandbox: boolean;
  private readonly extraCaFile: string | undefined;
  private readonly log: Logger | undefined;
  /** Made on first use: it reads the CA file, and costs CPU to build (docs/benchmarks.md). */
  private secureContext: SecureContext | null = null;
  /** Lookups under way, by address: deliveries to one address at once ask the directory once. */
  private readonly pending = new Map<string, Promise<WkdAnswer>>();
  /**
   * Domains found to have no directory host at all, until when: every address there would get the
   * same answer, so a bulk send to such a domain asks once, not once per address.
   */
  private readonly noDirectory = new Map<string, number>();

  constructor(options: RecipientKeyFinderOptions = {}) {
    this.port = options.port ?? 443;
    this.timeoutMs = options.timeoutMs ?? 3000;
    this.resolve = makeResolver(options.dnsServers, Math.min(1000, this.timeoutMs));
    this.policy = options.policy ?? PUBLIC_ONLY;
    this.sandbox = options.sandbox ?? false;
    this.extraCaFile = options.extraCaFile;
    this.log = options.log;
  }

  /**
   * The valid keys for a recipient at `now`, newest first: uploaded ones, else a WKD key.
   * uploaded: false when the caller knows there is no key on file (the look-up is skipped).
   */
  async find(
    q: Queryable,
    orgId: string,
    address: string,
    now: Date,
    options: { uploaded?: boolean } = {},
  ): Promise<FoundKeys> {
    const uploaded =
      options.uploaded === false ? { pgp: [], smime: [] } : await findRecipientKeys(q, orgId, address, now);
    if (uploaded.pgp.length > 0 || uploaded.smime.length > 0) {
      const found = (k: (typeof uploaded.pgp)[number]): FoundKey => ({
        fingerprint: k.fingerprint,
        key: k.key,
        expiresAt: k.expiresAt,
        source: 'uploaded',
      });
      return { pgp: uploaded.pgp.map(found), smime: uploaded.smime.map(found) };
    }
    const published = await this.wkdKey(q, orgId, address, now);
    return { pgp: published ? [published] : [], smime: [] };
  }

  /** The key the address's Web Key Directory publishes, from the cache while fresh; null for none. */
  async wkdKey(q: Queryable, orgId: string, address: string, now: Date): Promise<FoundKey | null> {
    if (this.sandbox) return null;
    const normalized = address.trim().toLowerCase();
    const domain = normalized.slice(normalized.lastIndexOf('@') + 1);
    if ((this.noDirectory.get(domain) ?? 0) > now.getTime()) return null;
    // Callers for one address at once share one answer, cache read and write included.
    const key = `${orgId}/${normalized}`;
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.answer(q, orgId, normalized, domain, now).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    const answer = await pending;
    if (answer.outcome !== 'key') return null;
    return { fingerprint: answer.fingerprint, key: answer.key, expiresAt: answer.expiresAt, source: 'wkd' };
  }

  private async answer(q: Queryable, orgId: string, address: string, domain: string, now: Date) {
    const cached = await readWkdCache(q, orgId, address, now);
    // A kept key may have expired since it was fetched: then the directory is asked again.
    if (cached && !(cached.outcome === 'key' && cached.expiresAt && cached.expiresAt <= now)) return cached;
    const answer = await this.lookup(address, now);
    // No directory host, or one the guard refuses: every address at the domain gets that answer.
    if (answer.outcome === 'none' && (answer.reason === NO_DIRECTORY || answer.reason.startsWith(REFUSED)))
      this.noDirectory.set(domain, now.getTime() + WKD_CACHE_TTL.none);
    await writeWkdCache(q, orgId, address, answer, now, WKD_CACHE_TTL[answer.outcome]);
    return answer;
  }

  /** Asks the directory; never throws: a failure is an answer too. */
  private async lookup(address: string, now: Date): Promise<WkdAnswer> {
    const domain = address.slice(address.lastIndexOf('@') + 1);
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let answer: WkdAnswer;
    try {
      const lookup = lookupWkd(address, {
        resolve: this.resolve,
        policy: this.policy,
        port: this.port,
        secureContext: this.context(),
        timeoutMs: this.timeoutMs,
        now,
      });
      // The HTTPS request has its own timeout, but DNS retries do not share it: this bounds all.
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the lookup took longer than ${this.timeoutMs} ms`)),
          this.timeoutMs,
        );
      });
      lookup.catch(() => {}); // once the deadline has won, how the lookup ends no longer matters
      const found = await Promise.race([lookup, deadline]);
      answer = found
        ? {
            outcome: 'key',
            fingerprint: found.key.fingerprint,
            key: found.key.normalized,
            expiresAt: found.key.expiresAt,
          }
        : { outcome: 'none', reason: 'the Web Key Directory has no key for the address' };
    } catch (err) {
      answer = failure(err as NodeJS.ErrnoException);
    } finally {
      clearTimeout(timer);
    }
    const ms = Math.round(performance.now() - started);
    if (answer.outcome === 'error')
      this.log?.warn(
        { domain, reason: answer.reason, ms },
        'Web Key Directory lookup failed; no key for now',
      );
    else if (answer.outcome === 'none' && answer.reason.startsWith(REFUSED))
      this.log?.warn({ domain, reason: answer.reason, ms }, 'Web Key Directory host refused; no key');
    else this.log?.debug({ domain, outcome: answer.outcome, ms }, 'Web Key Directory lookup');
    return answer;
  }

  private context(): SecureContext {
    this.secureContext ??= tls.createSecureContext({
      ca: [
        ...tls.getCACertificates('default'),
        ...(this.extraCaFile ? [readFileSync(this.extraCaFile, 'utf8')] : []),
      ],
    });
    return this.secureContext;
  }
}

/**
 * A directory that answered with nothing usable, a domain with no directory host, or a directory
 * host the guard refuses (kept as long as "no key": an answer, not a passing failure) is "no key";
 * anything else (DNS failing, refused connections, certificates, HTTP errors, timeouts) is a
 * failure, kept only briefly.
 */
const NO_DIRECTORY = 'the domain has no Web Key Directory host';
const REFUSED = 'refused: ';

function failure(err: NodeJS.ErrnoException): WkdAnswer {
  if (err instanceof WkdKeyRefused) return { outcome: 'none', reason: err.message };
  if (err instanceof HostRefused && err.code === 'forbidden')
    return { outcome: 'none', reason: `${REFUSED}${err.message}` };
  if (err instanceof HostRefused && NO_HOST.has(err.dnsCode ?? ''))
    return { outcome: 'none', reason: NO_DIRECTORY };
  return { outcome: 'error', reason: err.message };
}
