// Where mail for a domain goes: its MX hosts in the order to try them (RFC 5321 5.1), each with
// its addresses, all looked up through one resolver.
import type { Resolver } from 'node:dns/promises';
import type { MxHost } from './types.ts';

/** No mail route: permanent (the domain does not exist, or refuses mail) or not (DNS failed). */
export class RouteError extends Error {
  readonly permanent: boolean;
  /** The reply a bounce records, written as a server would have answered. */
  readonly code: number;
  readonly response: string;

  constructor(message: string, permanent: boolean, code = permanent ? 550 : 451) {
    super(message);
    this.name = 'RouteError';
    this.permanent = permanent;
    this.code = code;
    this.response = `${code} ${message}`;
  }
}

const MAX_DOMAINS = 10_000;

// No such name, or no record of that type at it: an answer, not a failure.
const NO_ANSWER = new Set(['ENOTFOUND', 'ENODATA']);

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/**
 * Sorts MX records by preference, shuffling the ones of equal preference so that load spreads
 * over them as RFC 5321 5.1 asks.
 */
export function orderMx<T extends { priority: number }>(
  records: T[],
  random: () => number = Math.random,
): T[] {
  const shuffled = records.slice();
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  // Array.prototype.sort is stable: equal preferences keep their shuffled order.
  return shuffled.sort((a, b) => a.priority - b.priority);
}

/**
 * The IPv4 then IPv6 addresses of a host, or why there are none; `failed` when that is DNS not
 * answering rather than the host having no address.
 */
export async function resolveAddresses(
  resolver: Resolver,
  host: string,
): Promise<{ addresses: string[]; error?: string; failed?: boolean }> {
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
  const addresses: string[] = [];
  const failures: string[] = [];
  for (const result of [v4, v6]) {
    if (result.status === 'fulfilled') addresses.push(...result.value);
    else if (!NO_ANSWER.has(errorCode(result.reason))) failures.push(errorCode(result.reason));
  }
  if (addresses.length > 0) return { addresses };
  if (failures.length) return { addresses, error: `address lookup failed (${failures[0]})`, failed: true };
  return { addresses, error: 'no address' };
}

/**
 * The MX hosts of a domain in the order to try them. Throws a RouteError when there is no route:
 * permanent for a domain that does not exist or publishes a null MX (RFC 7505), temporary when
 * DNS did not answer.
 */
export async function findMxHosts(
  resolver: Resolver,
  domain: string,
  random: () => number = Math.random,
): Promise<MxHost[]> {
  let records: { exchange: string; priority: number }[];
  try {
    records = await resolver.resolveMx(domain);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOTFOUND') throw new RouteError(`5.1.2 ${domain} does not exist (NXDOMAIN)`, true, 550);
    if (code !== 'ENODATA') throw new RouteError(`MX lookup for ${domain} failed (${code})`, false);
    records = [];
  }

  // RFC 7505: a single "0 ." record says the domain accepts no mail. A null MX next to other
  // records is a mistake of the domain's; it still says the same.
  if (records.some((mx) => mx.exchange === '' || mx.exchange === '.'))
    throw new RouteError(`5.1.10 ${domain} accepts no mail (null MX)`, true, 556);

  // No MX at all: the domain itself is the mail host, if it has an address (RFC 5321 5.1).
  if (records.length === 0) {
    const { addresses, error, failed } = await resolveAddresses(resolver, domain);
    if (failed) throw new RouteError(`${domain} has no MX, and its ${error}`, false);
    if (addresses.length === 0) throw new RouteError(`5.1.2 ${domain} has no MX and no address`, true, 550);
    return [{ exchange: domain, priority: 0, addresses }];
  }

  return Promise.all(
    orderMx(records, random).map(async ({ exchange, priority }) => {
      const name = exchange.replace(/\.$/, '').toLowerCase();
      const { addresses, error } = await resolveAddresses(resolver, name);
      return error
        ? { exchange: name, priority, addresses, lookupError: error }
        : { exchange: name, priority, addresses };
    }),
  );
}

/**
 * Remembers the MX hosts of each domain for a while, and shares one lookup among the sends that
 * ask at the same time: a burst of mail to one domain would otherwise be a burst of DNS
 * questions (three per message), which resolvers answer by dropping some. Only complete answers
 * are kept; equal preferences are shuffled again on every use.
 */
export class RouteCache {
  private readonly lookup: (domain: string) => Promise<MxHost[]>;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly kept = new Map<string, { hosts: MxHost[]; until: number }>();
  private readonly pending = new Map<string, Promise<MxHost[]>>();

  constructor(
    lookup: (domain: string) => Promise<MxHost[]>,
    options: { ttlMs: number; now: () => number; random: () => number },
  ) {
    this.lookup = lookup;
    this.ttlMs = options.ttlMs;
    this.now = options.now;
    this.random = options.random;
  }

  async get(domain: string): Promise<MxHost[]> {
    const key = domain.toLowerCase();
    const kept = this.kept.get(key);
    if (kept && kept.until > this.now()) return orderMx(kept.hosts, this.random);
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.lookup(key).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
      if (this.ttlMs > 0)
        void pending.then(
          (hosts) => this.keep(key, hosts),
          () => {},
        );
    }
    return orderMx(await pending, this.random);
  }

  private keep(domain: string, hosts: MxHost[]): void {
    if (hosts.some((host) => host.addresses.length === 0)) return;
    this.kept.delete(domain);
    this.kept.set(domain, { hosts, until: this.now() + this.ttlMs });
    if (this.kept.size > MAX_DOMAINS) this.kept.delete(this.kept.keys().next().value!);
  }
}
