/**
 * Which `bind()` in the namespace gets a host socket, and where that socket binds on the host. Pure, for tests.
 *
 * A bind matches a published spec when a relay driver would have delivered the spec's connections to it:
 * same port as the spec's childPort, a socket of the spec's kind (stream for tcp*, datagram for udp*), bound
 * to an address that a connection to the spec's child address (childIP, else 127.0.0.1) reaches, and able to
 * serve the spec's host family (tcp4 needs a socket that takes IPv4, tcp6 one that takes IPv6).
 */
import { isIPv4 } from 'node:net';
import { encodeSockaddr } from '../../../sys/socket.js';
import { unmapIPv4 } from '../../ip.js';
import { childAddress, V4_WILDCARD, V6_WILDCARD, WILDCARDS } from '../../listen.js';
import type { PortSpec } from '../../types.js';

/** What the app asked for: the sockaddr of its bind and the socket it was called on. */
export interface BindRequest {
  /** The socket's domain, which is also the sockaddr's family (the kernel refuses a mismatch). */
  family: 4 | 6;
  ip: string;
  port: number;
  kind: 'tcp' | 'udp';
  /** IPV6_V6ONLY of an IPv6 socket as the app set it. */
  v6only: boolean;
}

/** A published spec the supervisor knows, under the id the driver gave it. */
export interface Published {
  key: number;
  spec: PortSpec;
}

/** The host side of a matched bind: the address (in the app socket's family) and IPV6_V6ONLY for an IPv6 socket. */
export interface HostBind {
  key: number;
  spec: PortSpec;
  ip: string;
  port: number;
  v6only: boolean;
}

/** The first published spec (in publishing order) the bind matches, with its host address; null: the bind stays in the namespace. */
export function matchBind(bind: BindRequest, published: readonly Published[]): HostBind | null {
  for (const { key, spec } of published) {
    if (spec.childPort !== bind.port || !spec.proto.startsWith(bind.kind)) continue;
    if (!reaches(childAddress(spec), bind)) continue;
    const host = hostBind(spec, bind);
    if (host) return { key, spec, ...host };
  }
  return null;
}

/** Whether a connection to `target` inside the namespace arrives at a socket bound as `bind`. */
function reaches(target: string, bind: BindRequest): boolean {
  const v4 = isIPv4(target);
  if (bind.family === 4) return v4 && (bind.ip === V4_WILDCARD || sameIP(bind.ip, target));
  if (bind.ip === V6_WILDCARD) return !v4 || !bind.v6only;
  return v4 ? !bind.v6only && sameIP(bind.ip, `::ffff:${target}`) : sameIP(bind.ip, target);
}

/** One address however written (::ffff:127.0.0.1 is ::ffff:7f00:1). */
function sameIP(a: string, b: string): boolean {
  return encodeSockaddr(a, 0).equals(encodeSockaddr(b, 0));
}

/**
 * The host address for the spec in the app socket's family, or null when that family cannot serve it:
 * an IPv4 socket cannot serve tcp6 or an IPv6 parent IP; an IPv6-only socket cannot serve tcp4 or an IPv4 parent IP.
 * A wildcard parent IP ('', 0.0.0.0, ::) is the host wildcard of the socket's family, as the other drivers listen;
 * an IPv4-mapped one is the IPv4 address it holds, as Go listens.
 */
function hostBind(spec: PortSpec, bind: BindRequest): { ip: string; port: number; v6only: boolean } | null {
  const only = spec.proto.at(-1);
  const given = unmapIPv4(spec.parentIP ?? '');
  const parentIP = WILDCARDS.has(given) ? undefined : given;
  const v4Host = only === '4' || (parentIP !== undefined && isIPv4(parentIP));
  const v6Host = only === '6' || (parentIP !== undefined && !isIPv4(parentIP));
  if (bind.family === 4) return v6Host ? null : { ip: parentIP ?? V4_WILDCARD, port: spec.parentPort, v6only: false };
  if (v4Host) {
    // On a dual-stack IPv6 socket the v4-mapped form binds IPv4 only (::ffff:0.0.0.0 is every IPv4 address).
    return bind.v6only ? null : { ip: `::ffff:${parentIP ?? V4_WILDCARD}`, port: spec.parentPort, v6only: false };
  }
  return { ip: parentIP ?? V6_WILDCARD, port: spec.parentPort, v6only: only === '6' || bind.v6only };
}
