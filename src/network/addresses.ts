/** The addresses a `--cidr` network gives the namespace process, as slirp4netns and RootlessKit lay them out. */
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

/**
 * Derives the namespace process' address, gateway and DNS from an IPv4 CIDR such as `10.0.2.0/24`,
 * already validated by the --cidr flag (IPv4, prefix 8-25, no host bits).
 */
export function networkAddresses(cidr: string): NetworkAddresses {
  const [address, prefixText] = cidr.split('/') as [string, string];
  const prefix = Number(prefixText);
  const base = ipv4ToNumber(address);
  return {
    network: ipv4(base),
    prefix,
    childIP: ipv4(base + CHILD_OFFSET),
    gateway: ipv4(base + 2),
    dns: ipv4(base + 3),
  };
}

/** A dotted-quad IPv4 address as a number (0 to 2^32 - 1). */
export function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** The dotted quad of an IPv4 address given as a number. */
export function ipv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');
}
