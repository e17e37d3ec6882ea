import { promises as dns } from 'node:dns';
import { BlockList, isIP } from 'node:net';

// Webhooks reach only where they should. A webhook URL is the customer's, but the request leaves
// from inside the operator's network: without care it could reach the database, a cloud
// metadata service (169.254.169.254) or an admin console on loopback (SSRF). So: https unless
// the operator allows http; the host resolved here, every address it has checked, and the request
// made to the address checked (no second lookup that DNS could answer differently); redirects
// never followed (see send.ts).

export interface TargetPolicy {
  /** http:// URLs allowed (development). */
  allowHttp: boolean;
  /** Loopback, private, link-local, CGNAT and unique-local addresses allowed (development, tests). */
  allowPrivate: boolean;
}

export type Resolve = (hostname: string) => Promise<string[]>;

export interface Target {
  url: URL;
  /** The host as written (the TLS server name and the Host header), without IPv6 brackets. */
  hostname: string;
  port: number;
  /** The address to connect to: checked, and the only one used. */
  address: string;
  family: 4 | 6;
}

/** Why a URL or its addresses are refused; the message is safe to show the customer. */
export class TargetRefused extends Error {
  readonly code: 'webhook_url_invalid' | 'webhook_url_forbidden' | 'webhook_url_unresolvable';
  constructor(code: TargetRefused['code'], message: string) {
    super(message);
    this.name = 'TargetRefused';
    this.code = code;
  }
}

/** Never reachable, whatever the settings: nothing, everyone, documentation and reserved ranges. */
const RESERVED = new BlockList();
/** Inside a network: refused unless the operator allows private addresses. */
const PRIVATE = new BlockList();

for (const [net, bits] of [
  ['0.0.0.0', 8], // "this network", the unspecified address
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and 255.255.255.255 broadcast
] as const)
  RESERVED.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128], // unspecified
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001::', 23], // IETF protocol assignments (Teredo among them)
  ['2001:db8::', 32], // documentation
  ['ff00::', 8], // multicast
] as const)
  RESERVED.addSubnet(net, bits, 'ipv6');

for (const [net, bits] of [
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::1', 128], // loopback
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv6');

/** The 16 bytes of an IPv6 address (any textual form Node accepts). */
function ipv6Bytes(address: string): Buffer {
  let text = address.toLowerCase().split('%')[0]!;
  // A trailing dotted IPv4 becomes two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((g, i) => bytes.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return bytes;
}

const v4 = (b: Buffer, at: number) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

/**
 * What an address is: 'public', 'private' (allowed by allowPrivate) or 'reserved' (never). IPv6
 * forms that carry an IPv4 address (mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64
 * 64:ff9b::/96, 6to4 2002::/16) are judged by that IPv4 address.
 */
export function classifyAddress(address: string): 'public' | 'private' | 'reserved' {
  const family = isIP(address);
  if (family === 4) {
    if (RESERVED.check(address, 'ipv4')) return 'reserved';
    return PRIVATE.check(address, 'ipv4') ? 'private' : 'public';
  }
  if (family !== 6) return 'reserved';
  const b = ipv6Bytes(address);
  const zeros = (from: number, to: number) => b.subarray(from, to).every((x) => x === 0);
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return classifyAddress(v4(b, 12)); // ::ffff:a.b.c.d
  if (zeros(0, 12) && !zeros(12, 16) && !(zeros(12, 15) && b[15] === 1)) return classifyAddress(v4(b, 12)); // ::a.b.c.d
  if (b.readUInt32BE(0) === 0x0064ff9b && zeros(4, 12)) return classifyAddress(v4(b, 12)); // NAT64
  if (b.readUInt16BE(0) === 0x2002) return classifyAddress(v4(b, 2)); // 6to4
  const canonical = b.toString('hex').match(/.{4}/g)!.join(':');
  if (zeros(0, 1) && !(zeros(0, 15) && b[15] === 1)) return 'reserved'; // the rest of ::/8
  if (RESERVED.check(canonical, 'ipv6')) return 'reserved';
  return PRIVATE.check(canonical, 'ipv6') ? 'private' : 'public';
}

export function addressAllowed(address: string, policy: TargetPolicy): boolean {
  const kind = classifyAddress(address);
  return kind === 'public' || (kind === 'private' && policy.allowPrivate);
}

/** Checks a URL's form: https (or http when allowed), a host, no user name or password. */
export function parseWebhookUrl(raw: string, policy: TargetPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefused('webhook_url_invalid', 'The URL is not valid.');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp))
    throw new TargetRefused(
      'webhook_url_invalid',
      policy.allowHttp ? 'The URL must be https:// or http://.' : 'The URL must be https://.',
    );
  if (url.username || url.password)
    throw new TargetRefused('webhook_url_invalid', 'The URL must not hold a user name or password.');
  if (!url.hostname) throw new TargetRefused('webhook_url_invalid', 'The URL has no host.');
  url.hash = '';
  return url;
}

/** Resolves with the configured DNS servers, or the system resolver (which reads /etc/hosts). */
export function makeResolver(servers?: readonly string[]): Resolve {
  if (!servers?.length)
    return async (hostname) =>
      (await dns.lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);
  const resolver = new dns.Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers(servers);
  return async (hostname) => {
    const answers = await Promise.allSettled([resolver.resolve4(hostname), resolver.resolve6(hostname)]);
    const found = answers.flatMap((a) => (a.status === 'fulfilled' ? a.value : []));
    if (found.length > 0) return found;
    const failed = answers.find((a) => a.status === 'rejected');
    throw failed ? (failed as PromiseRejectedResult).reason : new Error(`${hostname} has no address`);
  };
}

/**
 * The address a request to this URL goes to, after checking the URL and every address its host
 * resolves to: one forbidden address refuses the whole host (a name that mixes public and
 * private answers is how rebinding attacks start).
 */
export async function resolveTarget(raw: string, policy: TargetPolicy, resolve: Resolve): Promise<Target> {
  const url = parseWebhookUrl(raw, policy);
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  let addresses: string[];
  if (isIP(hostname)) addresses = [hostname];
  else {
    try {
      addresses = await resolve(hostname);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new TargetRefused(
        'webhook_url_unresolvable',
        `The host ${hostname} does not resolve${code ? ` (${code})` : ''}.`,
      );
    }
    if (addresses.length === 0)
      throw new TargetRefused('webhook_url_unresolvable', `The host ${hostname} has no address.`);
  }
  const refused = addresses.find((a) => !addressAllowed(a, policy));
  if (refused !== undefined)
    throw new TargetRefused(
      'webhook_url_forbidden',
      `The host resolves to ${refused}, a ${classifyAddress(refused)} address that webhooks may not reach.`,
    );
  const address = addresses[0]!;
  return { url, hostname, port, address, family: isIP(address) === 6 ? 6 : 4 };
}
