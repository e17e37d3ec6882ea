// MTA-STS (RFC 8461): a domain publishes, over HTTPS, which MX hosts may receive its mail and
// whether TLS to them is required. The TXT record at _mta-sts.<domain> carries the policy's id;
// a policy is fetched again only when that id changes or the policy outlives its max_age. The
// policy host is named by the recipient's DNS: it is reached only through the guard
// (src/net-guard), which refuses private addresses outside the operator's allowed ranges.
import type { Resolver } from 'node:dns/promises';
import type tls from 'node:tls';
import type { Logger } from '../log/index.ts';
import { type AddressPolicy, guardedGet, HostRefused, type Resolve, resolverOf } from '../net-guard/index.ts';

export interface MtaStsPolicy {
  id: string;
  mode: 'enforce' | 'testing' | 'none';
  /** MX host patterns: a name, or `*.` followed by a name (exactly one more label). */
  mx: string[];
  /** Seconds. */
  maxAge: number;
}

export interface MtaStsOptions {
  secureContext: tls.SecureContext;
  /** 443 in production. */
  port: number;
  timeoutMs: number;
  now: () => number;
  /** Where policy hosts may be. */
  policy: AddressPolicy;
  log?: Logger;
}

const MAX_POLICY_BYTES = 64 * 1024;
const MAX_AGE_LIMIT = 31_557_600; // one year, the most RFC 8461 allows

/** Parses a policy file; null when it is not a valid STSv1 policy. */
export function parsePolicy(text: string, id: string): MtaStsPolicy | null {
  const fields = new Map<string, string[]>();
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at <= 0) continue;
    const key = line.slice(0, at).trim().toLowerCase();
    fields.set(key, [...(fields.get(key) ?? []), line.slice(at + 1).trim()]);
  }
  const mode = fields.get('mode')?.[0];
  const maxAge = Number(fields.get('max_age')?.[0]);
  if (fields.get('version')?.[0] !== 'STSv1') return null;
  if (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') return null;
  if (!Number.isInteger(maxAge) || maxAge < 0) return null;
  const mx = (fields.get('mx') ?? []).map((pattern) => pattern.toLowerCase().replace(/\.$/, ''));
  if (mode !== 'none' && mx.length === 0) return null;
  return { id, mode, mx, maxAge: Math.min(maxAge, MAX_AGE_LIMIT) };
}

/** Does an MX host name match one of the policy's patterns (RFC 8461 4.1)? */
export function mxMatches(policy: MtaStsPolicy, host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  const dot = name.indexOf('.');
  return policy.mx.some((pattern) =>
    pattern.startsWith('*.') ? dot > 0 && name.slice(dot + 1) === pattern.slice(2) : name === pattern,
  );
}

interface Entry {
  policy: MtaStsPolicy | null;
  /** When the policy runs out (ms); nothing to run out for a domain without one. */
  expiresAt: number;
  /** When the TXT record was last looked at (ms). */
  checkedAt: number;
}

// The TXT record is looked at again this often; in between, the answer is kept, with or
// without a policy, so that mail to one domain does not ask DNS for it on every message.
const RECHECK_MS = 5 * 60 * 1000;
const MAX_DOMAINS = 10_000;

export class MtaSts {
  private readonly resolver: Resolver;
  private readonly resolve: Resolve;
  private readonly options: MtaStsOptions;
  private readonly cache = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<MtaStsPolicy | null>>();

  constructor(resolver: Resolver, options: MtaStsOptions) {
    this.resolver = resolver;
    this.resolve = resolverOf(resolver);
    this.options = options;
  }

  /** The domain's policy in force, or null when it has none we can use. */
  policy(domain: string): Promise<MtaStsPolicy | null> {
    const key = domain.toLowerCase();
    const entry = this.cache.get(key);
    const now = this.options.now();
    if (entry && now - entry.checkedAt < RECHECK_MS)
      return Promise.resolve(entry.expiresAt > now ? entry.policy : null);
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.refresh(key, entry).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  // A cached policy stays in force until its max_age runs out, even when DNS or the policy host
  // fails meanwhile: that is what keeps an attacker from switching it off by blocking either
  // (RFC 8461 5.1). A new id in DNS means a new policy to fetch.
  private async refresh(domain: string, entry: Entry | undefined): Promise<MtaStsPolicy | null> {
    const now = this.options.now();
    const live = entry?.policy && entry.expiresAt > now ? entry : null;
    const id = await this.lookupId(domain);
    let next: Entry = { policy: live?.policy ?? null, expiresAt: live?.expiresAt ?? 0, checkedAt: now };
    if (id !== null && live?.policy?.id !== id) {
      const policy = await this.fetch(domain, id).catch((err: Error) => {
        // A refused host is the operator's rule at work, worth a word; the rest is the domain's.
        if (err instanceof HostRefused && err.code === 'forbidden')
          this.options.log?.warn({ domain, reason: err.message }, 'MTA-STS policy host refused; no policy');
        return null;
      });
      if (policy) next = { policy, expiresAt: now + policy.maxAge * 1000, checkedAt: now };
    }
    this.cache.delete(domain);
    this.cache.set(domain, next);
    if (this.cache.size > MAX_DOMAINS) this.cache.delete(this.cache.keys().next().value!);
    return next.policy;
  }

  // The id of the STSv1 TXT record, or null if there is not exactly one (or DNS failed).
  private async lookupId(domain: string): Promise<string | null> {
    let records: string[];
    try {
      records = (await this.resolver.resolveTxt(`_mta-sts.${domain}`)).map((chunks) => chunks.join(''));
    } catch {
      return null;
    }
    const sts = records.filter((record) => /^v=STSv1(;|\s|$)/.test(record));
    if (sts.length !== 1) return null;
    return /(?:^|;)\s*id=([A-Za-z0-9]{1,32})\s*(;|$)/.exec(sts[0]!)?.[1] ?? null;
  }

  // GET https://mta-sts.<domain>/.well-known/mta-sts.txt: 200, text/plain, no redirects, a
  // certificate valid for the policy host, from the first of its checked addresses that answers.
  private async fetch(domain: string, id: string): Promise<MtaStsPolicy | null> {
    const host = `mta-sts.${domain}`;
    const { port, secureContext, timeoutMs, policy } = this.options;
    const answer = await guardedGet(new URL(`https://${host}/.well-known/mta-sts.txt`), {
      policy,
      resolve: this.resolve,
      port,
      secureContext,
      timeoutMs,
      maxBytes: MAX_POLICY_BYTES,
    });
    const type = answer.headers['content-type'] ?? '';
    if (answer.status !== 200 || !/^text\/plain\s*(;|$)/i.test(type))
      throw new Error(`policy host answered ${answer.status} ${type}`);
    return parsePolicy(answer.body.toString('utf8'), id);
  }
}
