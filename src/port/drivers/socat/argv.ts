/** The command line of the socat that publishes one port. Pure, for tests. */
import { isIPv6 } from 'node:net';
import { UserError } from '../../../errors.js';
import { killedWithParent } from '../../../pdeathsig.js';
import { listenAddress } from '../../listen.js';
import type { PortSpec } from '../../types.js';
import type { NamespacePaths } from '../../../network/namespace-paths.js';
import { UDP_FLOW_IDLE_MS } from '../../../dataplane/commands.js';

/**
 * After one direction of a TCP connection ends, how long the other may still carry data (socat's -t).
 * socat's default, 0.5 s, would cut a server still answering a client that has half-closed.
 */
const HALF_CLOSED_S = 3600;

/** socat splits EXEC's command at spaces and gives `:,!"'[]{}\` a meaning of their own. */
const EXEC_SAFE = /^[\w./@+-]+$/;

/**
 * socat listening on the host (`pf` and `bind` per RootlessKit's listen rules), forking per connection (per
 * client for UDP) into `nsenter` + socat connecting to childIP:childPort inside. `nofork`: the forked socat
 * becomes nsenter itself, its socket as stdio, so each connection is one process, killed with the listener.
 */
export function socatArgv(spec: PortSpec, ns: NamespacePaths): string[] {
  const kind = spec.proto.startsWith('udp') ? 'UDP' : 'TCP';
  const { host, ipv6Only } = listenAddress(spec);
  const v6 = isIPv6(host);
  const listen = [
    `${kind}-LISTEN:${spec.parentPort}`,
    `pf=${v6 ? 'ip6' : 'ip4'}`,
    `bind=${bracketed(host)}`,
    ...(v6 ? [`ipv6only=${ipv6Only ? 1 : 0}`] : []),
    'reuseaddr',
    'fork',
  ].join(',');
  // UDP has no end: a flow ends after the builtin driver's idle time. STDIO shut-down passes a server's FIN on at once.
  const timeout = kind === 'UDP' ? ['-T', String(UDP_FLOW_IDLE_MS / 1000)] : ['-t', String(HALF_CLOSED_S)];
  const inner = killedWithParent([
    'nsenter',
    '--preserve-credentials',
    `--user=${execSafe(ns.userns)}`,
    `--net=${execSafe(ns.netns)}`,
    'socat',
    ...timeout,
    'STDIO,shut-down',
    // The child IP, else 127.0.0.1, as RootlessKit 1.x's socat driver (v2 has none) dials.
    `${kind}:${bracketed(spec.childIP ?? '127.0.0.1')}:${spec.childPort}`,
  ]);
  return killedWithParent(['socat', listen, `EXEC:"${inner.join(' ')}",nofork`]);
}

function bracketed(ip: string): string {
  return isIPv6(ip) ? `[${ip}]` : ip;
}

function execSafe(path: string): string {
  if (!EXEC_SAFE.test(path)) {
    throw new UserError(
      `--port-driver=socat cannot hand the path ${JSON.stringify(path)} to socat, whose EXEC splits at spaces and ` +
        'gives :,!"\'[]{}\\ a meaning: use a --state-dir without such characters',
    );
  }
  return path;
}
