import { promises as dns } from 'node:dns';

/** A host name's addresses; throws the resolver's error (its `code`, e.g. ENOTFOUND) when it has none. */
export type Resolve = (hostname: string) => Promise<string[]>;

/** Resolves with the configured DNS servers, or the system resolver (which reads /etc/hosts). */
export function makeResolver(servers?: readonly string[], timeoutMs = 2000): Resolve {
  if (!servers?.length)
    return async (hostname) =>
      (await dns.lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);
  const resolver = new dns.Resolver({ timeout: timeoutMs, tries: 2 });
  resolver.setServers(servers);
  return resolverOf(resolver);
}

/** The IPv4 and IPv6 addresses of a name through a resolver already set up (the one DNS of a caller). */
export function resolverOf(resolver: dns.Resolver): Resolve {
  return async (hostname) => {
    const answers = await Promise.allSettled([resolver.resolve4(hostname), resolver.resolve6(hostname)]);
    const found = answers.flatMap((a) => (a.status === 'fulfilled' ? a.value : []));
    if (found.length > 0) return found;
    const failed = answers.find((a) => a.status === 'rejected');
    throw failed
      ? (failed as PromiseRejectedResult).reason
      : Object.assign(new Error(`${hostname} has no address`), { code: 'ENODATA' });
  };
}
