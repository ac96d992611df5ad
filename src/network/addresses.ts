import { UserError } from '../errors.js';

/** The addresses a `--cidr` network gives the child, as slirp4netns and RootlessKit lay them out. */
export interface NetworkAddresses {
  /** The network address, host bits cleared (`10.0.2.0`). */
  network: string;
  prefix: number;
  /** network + 100 */
  childIP: string;
  /** network + 2 */
  gateway: string;
  /** network + 3 */
  dns: string;
}

const CHILD_OFFSET = 100;

/** Derives the child's address, gateway and DNS from an IPv4 CIDR such as `10.0.2.0/24`. */
export function networkAddresses(cidr: string): NetworkAddresses {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = match ? match.slice(1, 5).map(Number) : [];
  const prefix = match ? Number(match[5]) : NaN;
  if (!match || octets.some((o) => o > 255) || prefix > 32) {
    throw new UserError(`invalid --cidr "${cidr}": expected an IPv4 network such as 10.0.2.0/24`);
  }
  if (2 ** (32 - prefix) <= CHILD_OFFSET + 1) {
    throw new UserError(
      `--cidr ${cidr} is too small: the child gets the network address + ${CHILD_OFFSET}, so use /25 or a shorter prefix`,
    );
  }
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  const base = (octets.reduce((n, o) => n * 256 + o, 0) & mask) >>> 0;
  return {
    network: ipv4(base),
    prefix,
    childIP: ipv4(base + CHILD_OFFSET),
    gateway: ipv4(base + 2),
    dns: ipv4(base + 3),
  };
}

function ipv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');
}
