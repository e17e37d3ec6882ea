import { BlockList, isIP } from 'node:net';

// What an address is, and whether a request may go there. Every request Sealpost makes to a host
// named by someone else (a customer's webhook URL, a recipient domain's Web Key Directory or
// MTA-STS policy host) leaves from inside the operator's network: without care it could reach the
// database, a cloud metadata service (169.254.169.254) or an admin console on loopback (SSRF).

/** Where requests may go, beyond public addresses. */
export interface AddressPolicy {
  /** Private addresses allowed: all of them (development), those in the ranges, or none (false). */
  allowPrivate: boolean | AddressRanges;
  /** Only this machine's loopback addresses (sandbox mode, where nothing leaves the machine). */
  loopbackOnly?: boolean;
}

/** Never reachable, whatever the settings: nothing, everyone, documentation and reserved ranges. */
const RESERVED = new BlockList();
/** Inside a network: refused unless the operator allows them. */
const PRIVATE = new BlockList();
/** This machine. */
const LOOPBACK = new BlockList();

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

LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

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

const IPV6_LOOPBACK = '0000:0000:0000:0000:0000:0000:0000:0001';

const v4 = (b: Buffer, at: number) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

/**
 * The address as it is judged: an IPv6 form that carries an IPv4 address (mapped ::ffff:a.b.c.d,
 * IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) is that IPv4 address; any other
 * IPv6 address in full lower-case form; null for what is not an address.
 */
function judged(address: string): { address: string; family: 'ipv4' | 'ipv6' } | null {
  const family = isIP(address);
  if (family === 4) return { address, family: 'ipv4' };
  if (family !== 6) return null;
  const b = ipv6Bytes(address);
  const zeros = (from: number, to: number) => b.subarray(from, to).every((x) => x === 0);
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return { address: v4(b, 12), family: 'ipv4' };
  if (zeros(0, 12) && !zeros(12, 16) && !(zeros(12, 15) && b[15] === 1))
    return { address: v4(b, 12), family: 'ipv4' }; // ::a.b.c.d
  if (b.readUInt32BE(0) === 0x0064ff9b && zeros(4, 12)) return { address: v4(b, 12), family: 'ipv4' };
  if (b.readUInt16BE(0) === 0x2002) return { address: v4(b, 2), family: 'ipv4' };
  return { address: b.toString('hex').match(/.{4}/g)!.join(':'), family: 'ipv6' };
}

/** What an address is: 'public', 'private' (allowed only when the policy says so) or 'reserved' (never). */
export function classifyAddress(address: string): 'public' | 'private' | 'reserved' {
  const a = judged(address);
  if (!a) return 'reserved';
  if (a.family === 'ipv6' && a.address.startsWith('00') && a.address !== IPV6_LOOPBACK) return 'reserved'; // the rest of ::/8
  if (RESERVED.check(a.address, a.family)) return 'reserved';
  return PRIVATE.check(a.address, a.family) ? 'private' : 'public';
}

/** Private ranges an operator allows (a partner network; loopback in tests). */
export class AddressRanges {
  private readonly list = new BlockList();
  /** As written, for messages. */
  readonly ranges: readonly string[];

  private constructor(ranges: readonly string[]) {
    this.ranges = ranges;
  }

  /** Ranges in CIDR form (10.20.0.0/16, fd00::/8) or single addresses; throws on anything else. */
  static parse(ranges: readonly string[]): AddressRanges {
    const parsed = new AddressRanges(ranges);
    for (const range of ranges) {
      const [net = '', bits, extra] = range.trim().split('/');
      const family = isIP(net);
      const max = family === 6 ? 128 : 32;
      const prefix = bits === undefined ? max : Number(bits);
      if (!family || extra !== undefined || !/^\d*$/.test(bits ?? '') || !(prefix >= 0 && prefix <= max))
        throw new Error(`"${range}" is not an address range such as 10.20.0.0/16 or fd00::/8`);
      parsed.list.addSubnet(net, prefix, family === 6 ? 'ipv6' : 'ipv4');
    }
    return parsed;
  }

  has(address: string): boolean {
    const a = judged(address);
    return a !== null && this.list.check(a.address, a.family);
  }
}

/** Whether an address is this machine's loopback (127/8, ::1, or an IPv6 form of 127/8). */
export function isLoopbackAddress(address: string): boolean {
  const a = judged(address);
  return a !== null && LOOPBACK.check(a.address, a.family);
}

/** Why a request may not go to this address, or null when it may. The words fit "resolves to X, ...". */
export function addressRefusal(address: string, policy: AddressPolicy): string | null {
  const kind = classifyAddress(address);
  if (kind === 'reserved') return 'a reserved address, never reached';
  if (policy.loopbackOnly && !isLoopbackAddress(address))
    return 'not this machine, and in sandbox mode nothing leaves it';
  if (kind === 'public') return null;
  const { allowPrivate } = policy;
  if (allowPrivate === true || (allowPrivate instanceof AddressRanges && allowPrivate.has(address)))
    return null;
  return 'a private address that may not be reached';
}
