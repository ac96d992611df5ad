/**
 * Which `connect()` destinations are outside, and so get a host socket (`--bypass-outgoing`). Pure, for tests,
 * but for the /proc reads at the end.
 *
 * Outside is what both nsgate's network namespace and the caller's send out by their default route: not
 * loopback, "this network" (0.0.0.0/8, ::), link-local, multicast or 240.0.0.0/4, not in a subnet of either
 * namespace (any route but the default one: the interfaces' subnets, docker0, user-defined bridges), not the
 * network's gateway and DNS, and not in the user's `--bypass-ignore` list. A namespace without a default route
 * for the family (--net=none, IPv6 without --ipv6, a container with --network none) reaches no outside, and so
 * gets none through bypass either.
 */
import { readFileSync } from 'node:fs';
import { encodeSockaddr } from '../../../sys/socket.js';

export interface Cidr {
  /** 4 or 16 bytes, host bits cleared. */
  bytes: Buffer;
  prefix: number;
}

/** A route of a namespace: where to, and whether it rejects (unreachable, prohibit, blackhole) rather than routes. */
export interface Route extends Cidr {
  reject: boolean;
}

/** RTF_REJECT in the flags of /proc/net/route and ipv6_route. */
const RTF_REJECT = 0x200;

/** Never outside, whatever the routes say: these mean the namespace itself, or no single host (224.0.0.0/3: multicast and 240.0.0.0/4). */
const NEVER = ['127.0.0.0/8', '0.0.0.0/8', '169.254.0.0/16', '224.0.0.0/3', '::/128', '::1/128', 'fe80::/10', 'ff00::/8'];

/** The 4 (IPv4) or 16 (IPv6) bytes of an address; an IPv4-mapped IPv6 address gives its IPv4 bytes. */
export function addressBytes(ip: string): Buffer {
  const sa = encodeSockaddr(ip, 0);
  if (sa.length === 16) return sa.subarray(4, 8);
  const v6 = sa.subarray(8, 24);
  const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6.readUInt16BE(10) === 0xffff;
  return mapped ? v6.subarray(12, 16) : v6;
}

function cidr(bytes: Buffer, prefix: number): Cidr {
  const masked = Buffer.from(bytes);
  for (let i = 0; i < masked.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    masked[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return { bytes: masked, prefix };
}

/** `ADDRESS/PREFIX` or a bare address (one host), IPv4 or IPv6; throws an Error saying what is wrong. */
export function parseCidr(text: string): Cidr {
  const [address = '', prefixText, extra] = text.split('/');
  let bytes: Buffer;
  try {
    if (extra !== undefined) throw new Error();
    bytes = rawBytes(address);
  } catch {
    throw new Error(`${JSON.stringify(text)} is not an IP address or network (expected e.g. 192.0.2.0/24, 2001:db8::/32 or 192.0.2.7)`);
  }
  const max = bytes.length * 8;
  if (prefixText === undefined) return cidr(bytes, max);
  const prefix = /^[0-9]{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) throw new Error(`${JSON.stringify(text)}: the prefix length must be 0-${max}, got ${JSON.stringify(prefixText)}`);
  return cidr(bytes, prefix);
}

/** An IPv6 address's own 16 bytes (a mapped IPv4 address stays IPv6 in a CIDR). */
function rawBytes(ip: string): Buffer {
  const sa = encodeSockaddr(ip, 0);
  return sa.length === 16 ? sa.subarray(4, 8) : sa.subarray(8, 24);
}

export function inCidr(ip: Buffer, net: Cidr): boolean {
  return ip.length === net.bytes.length && cidr(ip, net.prefix).bytes.equals(net.bytes);
}

export const NEVER_OUTSIDE: readonly Cidr[] = NEVER.map(parseCidr);

/** The routes of /proc/PID/net/route (IPv4, main table): hex in host (little-endian) byte order. */
export function parseIPv4Routes(text: string): Route[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && /^[0-9A-Fa-f]{8}$/.test(f[1]!) && /^[0-9A-Fa-f]{8}$/.test(f[7]!))
    .map((f) => {
      const le = (hex: string) => Buffer.from(hex, 'hex').reverse();
      const mask = le(f[7]!);
      const prefix = [...mask].reduce((bits, b) => bits + popcount(b), 0);
      return { ...cidr(le(f[1]!), prefix), reject: (Number.parseInt(f[3]!, 16) & RTF_REJECT) !== 0 };
    });
}

/** The routes of /proc/PID/net/ipv6_route (every table): destination and prefix length first, flags ninth, in hex. */
export function parseIPv6Routes(text: string): Route[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 9 && /^[0-9a-f]{32}$/.test(f[0]!) && /^[0-9a-f]{2}$/.test(f[1]!))
    .map((f) => ({ ...cidr(Buffer.from(f[0]!, 'hex'), Number.parseInt(f[1]!, 16)), reject: (Number.parseInt(f[8]!, 16) & RTF_REJECT) !== 0 }));
}

/** Whether a namespace with these routes sends `ip` out by its default route: it has one, and no other route covers `ip`. */
export function routedByDefault(ip: Buffer, routes: readonly Route[]): boolean {
  return routes.some((r) => r.prefix === 0 && !r.reject) && !routes.some((r) => r.prefix > 0 && inCidr(ip, r));
}

function popcount(b: number): number {
  let n = 0;
  for (let v = b; v; v &= v - 1) n++;
  return n;
}

/** Whether `ip` (4 or 16 bytes) is in none of the lists. */
export function isOutside(ip: Buffer, ...lists: readonly (readonly Cidr[])[]): boolean {
  return !lists.some((list) => list.some((net) => inCidr(ip, net)));
}

/** The routes of the network namespace process `pid` is in, for an address of `ip.length` bytes. */
export function namespaceRoutes(pid: number, ip: Buffer): Route[] {
  return ip.length === 4
    ? parseIPv4Routes(readFileSync(`/proc/${pid}/net/route`, 'utf8'))
    : parseIPv6Routes(readFileSync(`/proc/${pid}/net/ipv6_route`, 'utf8'));
}
