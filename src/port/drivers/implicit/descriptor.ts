/**
 * `--port-driver=implicit` (with --net=pasta): pasta itself forwards every port a server binds in the
 * namespace, so there is nothing to add or remove. As in RootlessKit v2 there is no port driver object
 * behind it: `GET /v1/info` has no `portDriver`, so clients make no port calls, and the ports routes
 * answer that no port driver is available.
 */
import type { PortDriverDescriptor } from '../descriptor.js';

/** Why ports are not published one by one with this driver. */
export const IMPLICIT_PORTS =
  "ports are implicit: pasta forwards every port bound in the namespace by itself (a server listening on port N inside is reachable on the host's port N)";

/**
 * pasta's flags for automatic forwarding. `--tcp-ns auto` too: pasta 2023.03 (Debian 12) rescans the namespace's
 * TCP ports only while it also mirrors the host's bound ports into the namespace's loopback (verified: with
 * `--tcp-ns none` a server started after pasta is never forwarded). RootlessKit leaves all four at pasta's default, auto.
 */
const IMPLICIT_PASTA_ARGS = ['--tcp-ports', 'auto', '--udp-ports', 'auto', '--tcp-ns', 'auto'];

export const implicit = {
  name: 'implicit',
  networks: ['pasta'],
  networksWhy: 'pasta is what forwards the ports',
  protos: [],
  publishes: false,
  portsImplicit: IMPLICIT_PORTS,
  launch: { networkArgs: IMPLICIT_PASTA_ARGS },
} as const satisfies PortDriverDescriptor;
