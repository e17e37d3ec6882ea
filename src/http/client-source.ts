import { isIP } from 'node:net';

// What rate limits and aggregated refusals count by: the client's address, where an IPv6 client
// counts as its whole /64. One subscriber, host or cloud instance is usually given a /64 and can
// pick any address in it at will, so counting single IPv6 addresses would give it 2^64 budgets.

/** The client's IPv4 address (an IPv4-mapped IPv6 one included), or its IPv6 /64 as `a:b:c:d::/64`. */
export function clientSource(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIP(ip) !== 6) return ip;
  return `${ipv6Groups(ip).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, in short hex (a zone id dropped). */
function ipv6Groups(ip: string): string[] {
  const address = ip.split('%')[0]!.toLowerCase();
  const [head = '', tail] = address.split('::');
  const split = (part: string) => (part === '' ? [] : part.split(':'));
  const left = split(head);
  const right = tail === undefined ? [] : split(tail);
  // An embedded IPv4 address at the end (::a.b.c.d forms) is the last two groups.
  const last = right.length > 0 ? right : left;
  if (last.at(-1)?.includes('.')) {
    const [a, b, c, d] = last.pop()!.split('.').map(Number);
    last.push(((a! << 8) | b!).toString(16), ((c! << 8) | d!).toString(16));
  }
  const zeros = Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16).toString(16));
}
