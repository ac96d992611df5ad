/**
 * IP addresses as Go's net.ParseIP reads them: RootlessKit checks every spec's addresses with it, and Go's
 * listen and dial treat an IPv4-mapped IPv6 address (::ffff:127.0.0.1) as the IPv4 address it holds.
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * Whether net.ParseIP accepts `text`: IPv4 as a dotted quad without leading zeros, or IPv6 (an embedded
 * IPv4 included) without a zone id. Node's checks agree with Go's on everything but the zone (checked
 * on 200,000 generated strings against Go 1.26).
 */
export function isGoIP(text: string): boolean {
  return isIPv4(text) || (isIPv6(text) && !text.includes('%'));
}

/** 4 for IPv4 and IPv4-mapped IPv6 addresses (Go's `To4() != nil`), 6 for the other IPv6 ones. */
export function ipFamily(ip: string): 4 | 6 {
  return isIPv4(ip) || mappedIPv4(ip) !== undefined ? 4 : 6;
}

/** The IPv4 address an IPv4-mapped IPv6 address stands for, else the address as given. */
export function unmapIPv4(ip: string): string {
  return mappedIPv4(ip) ?? ip;
}

/** a.b.c.d for ::ffff:a.b.c.d in any spelling (::FFFF:7f00:1, 0:0:0:0:0:ffff:127.0.0.1), else undefined. */
function mappedIPv4(ip: string): string | undefined {
  if (!isIPv6(ip) || ip.includes('%')) return undefined;
  const groups = ipv6Groups(ip);
  if (!groups.slice(0, 5).every((group) => group === 0) || groups[5] !== 0xffff) return undefined;
  return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
}

/** The eight 16-bit groups of a valid IPv6 address. */
function ipv6Groups(ip: string): number[] {
  const parse = (side: string): number[] =>
    side === ''
      ? []
      : side.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = ip.split('::');
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}
