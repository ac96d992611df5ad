/** Where a published port listens on the host, and a failed bind in words: shared by the drivers. */
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { UserError } from '../errors.js';
import { unmapIPv4 } from './ip.js';
import type { PortSpec } from './types.js';

/** Where the host socket of a spec listens. */
export interface ListenAddress {
  host: string;
  ipv6Only: boolean;
}

export const V4_WILDCARD = '0.0.0.0';
export const V6_WILDCARD = '::';
/** A parent IP that means every address: empty, 0.0.0.0 or ::. */
export const WILDCARDS: ReadonlySet<string> = new Set(['', V4_WILDCARD, V6_WILDCARD]);

/**
 * RootlessKit's (Go's) listen rules: plain `tcp`/`udp` on a wildcard listens on IPv4 and IPv6
 * (one dual-stack socket), `*4` only on IPv4, `*6` only on IPv6; an IPv4-mapped address is the IPv4
 * one it holds. Pure, for tests.
 */
export function listenAddress(spec: PortSpec): ListenAddress {
  const ip = unmapIPv4(spec.parentIP ?? '');
  const family = spec.proto.at(-1);
  if (!WILDCARDS.has(ip)) return { host: ip, ipv6Only: family === '6' };
  if (family === '4') return { host: '0.0.0.0', ipv6Only: false };
  return { host: '::', ipv6Only: family === '6' };
}

/**
 * Where the namespace process side connects, as RootlessKit v2.3.4's builtin child dials: the childIP if given; else the
 * parent IP itself, the same address inside the namespace (`[::1]:8080:80/tcp6` reaches a server on ::1, and
 * `[::]` one on ::1 too), except an empty parent IP, 0.0.0.0 and the host's first non-loopback IPv4 address
 * (`hostIPv4`), which go to 127.0.0.1. An IPv4-mapped address is dialled as IPv4, as Go dials it. Pure with
 * `hostIPv4` given, for tests.
 */
export function childAddress(spec: PortSpec, hostIPv4: () => string | undefined = firstHostIPv4): string {
  if (spec.childIP) return unmapIPv4(spec.childIP);
  const parentIP = unmapIPv4(spec.parentIP ?? '');
  if (parentIP === '' || parentIP === '0.0.0.0') return '127.0.0.1';
  // The interfaces are read only for a specific IPv4 parent IP: bypass asks this on every bind it checks.
  return isIPv4(parentIP) && parentIP === hostIPv4() ? '127.0.0.1' : parentIP;
}

/** The host's first non-loopback IPv4 address, in interface order (Go's net.InterfaceAddrs, which RootlessKit asks). */
function firstHostIPv4(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    const found = addrs?.find((a) => a.family === 'IPv4' && !a.internal);
    if (found) return found.address;
  }
  return undefined;
}

/** A bind error as the user should read it; `inNamespace` for a reverse port's listener, which is made inside. */
export function listenError(spec: PortSpec, err: NodeJS.ErrnoException, inNamespace = false): Error {
  const where = `${spec.parentIP || '*'}:${spec.parentPort}/${spec.proto}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return new UserError(`cannot listen on ${where}: the port is already in use ${inNamespace ? 'in the namespace' : 'on the host'}`);
    case 'EACCES':
      return spec.parentPort < 1024
        ? new UserError(
            `cannot listen on ${where}: ports below 1024 are privileged. Allow them with ` +
              '`sudo sysctl -w net.ipv4.ip_unprivileged_port_start=0` (persist it in /etc/sysctl.d), ' +
              'or give node CAP_NET_BIND_SERVICE (`sudo setcap cap_net_bind_service=ep $(readlink -f $(which node))`)',
          )
        : new UserError(`cannot listen on ${where}: permission denied`);
    case 'EADDRNOTAVAIL':
      return new UserError(`cannot listen on ${where}: ${spec.parentIP} is not an address ${inNamespace ? 'in the namespace' : 'of this host'}`);
    default:
      return new UserError(`cannot listen on ${where}: ${err.message}`);
  }
}
