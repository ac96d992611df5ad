/** Where a published port listens on the host, and a failed bind in words: shared by the drivers. */
import { UserError } from '../errors.js';
import { unmapIPv4 } from './ip.js';
import type { PortSpec } from './types.js';

/** Where the host socket of a spec listens. */
export interface ListenAddress {
  host: string;
  ipv6Only: boolean;
}

const WILDCARDS = new Set(['', '0.0.0.0', '::']);

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

/** Where the child side connects: childIP (an IPv4-mapped one as IPv4, as Go dials it), else loopback inside the namespace. */
export function childAddress(spec: PortSpec): string {
  return unmapIPv4(spec.childIP ?? '127.0.0.1');
}

/** A bind error as the user should read it. */
export function listenError(spec: PortSpec, err: NodeJS.ErrnoException): Error {
  const where = `${spec.parentIP || '*'}:${spec.parentPort}/${spec.proto}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return new UserError(`cannot listen on ${where}: the port is already in use on the host`);
    case 'EACCES':
      return spec.parentPort < 1024
        ? new UserError(
            `cannot listen on ${where}: ports below 1024 are privileged. Allow them with ` +
              '`sudo sysctl -w net.ipv4.ip_unprivileged_port_start=0` (persist it in /etc/sysctl.d), ' +
              'or give node CAP_NET_BIND_SERVICE (`sudo setcap cap_net_bind_service=ep $(readlink -f $(which node))`)',
          )
        : new UserError(`cannot listen on ${where}: permission denied`);
    case 'EADDRNOTAVAIL':
      return new UserError(`cannot listen on ${where}: ${spec.parentIP} is not an address of this host`);
    default:
      return new UserError(`cannot listen on ${where}: ${err.message}`);
  }
}
