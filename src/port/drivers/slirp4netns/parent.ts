/**
 * `--port-driver=slirp4netns` (with --net=slirp4netns): slirp4netns itself listens on the host and forwards
 * to the namespace process' interface address, through its API socket (`add_hostfwd`, `remove_hostfwd`). Clients' source
 * addresses reach the server, except loopback ones, which slirp4netns shows as the gateway. IPv4 only.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { UserError } from '../../../errors.js';
import { bindProbe } from '../../bind-probe.js';
import { unmapIPv4 } from '../../ip.js';
import { listenError } from '../../listen.js';
import { formatPortSpec } from '../../spec.js';
import type { RunningNetwork } from '../../../network/driver.js';
import type { PortDriver, PortDriverInfo, PortForward, PortSpec, Proto } from '../../types.js';
import { slirp4netns } from './descriptor.js';
import { Slirp4netnsApi, Slirp4netnsApiError } from './api.js';

const PROTOS: readonly Proto[] = slirp4netns.protos;

/** The arguments of `add_hostfwd`. */
export interface HostFwd {
  proto: 'tcp' | 'udp';
  host_addr: string;
  host_port: number;
  guest_addr: string;
  guest_port: number;
}

export class Slirp4netnsDriver implements PortDriver {
  readonly #api: Slirp4netnsApi;

  /** `childIP`: the namespace process' address on slirp4netns' network, where ports go unless a spec names another. */
  constructor(
    apiSocket: string,
    private readonly childIP: string,
  ) {
    this.#api = new Slirp4netnsApi(apiSocket);
  }

  info(): PortDriverInfo {
    return { driver: slirp4netns.name, protos: [...PROTOS], disallowLoopbackChildIP: true };
  }

  async open(spec: PortSpec): Promise<PortForward> {
    const fwd = hostFwd(spec, this.childIP);
    let reply: Record<string, unknown>;
    try {
      reply = await this.#api.request('add_hostfwd', fwd);
    } catch (err) {
      throw err instanceof Slirp4netnsApiError ? await refusal(spec, fwd, err) : err;
    }
    const { id } = reply;
    if (typeof id !== 'number') throw new Error(`slirp4netns answered add_hostfwd without an id: ${JSON.stringify(reply)}`);
    return {
      close: async () => {
        await this.#api.request('remove_hostfwd', { id });
      },
    };
  }

  async stop(): Promise<void> {}
}

/** `spec` as `add_hostfwd` arguments; a UserError for what slirp4netns cannot forward. Pure, for tests. */
export function hostFwd(spec: PortSpec, defaultChildIP: string): HostFwd {
  if (!PROTOS.includes(spec.proto)) {
    throw new UserError(
      `proto ${spec.proto} is not supported by the slirp4netns driver (supported: ${PROTOS.join(', ')}; slirp4netns forwards IPv4 only)`,
    );
  }
  const hostAddr = spec.parentIP || '0.0.0.0';
  if (!isIPv4(hostAddr)) {
    throw new UserError(`parent IP ${hostAddr} is not IPv4: the slirp4netns driver listens on IPv4 only (use --port-driver=builtin for IPv6)`);
  }
  // As RootlessKit's driver: an IPv4-mapped child IP is the IPv4 address it holds (its parent IP goes as written).
  const guestAddr = unmapIPv4(spec.childIP ?? defaultChildIP);
  if (isIPv6(guestAddr)) throw new UserError(`child IP ${guestAddr} is not IPv4: slirp4netns forwards IPv4 only`);
  if (guestAddr.startsWith('127.')) {
    throw new UserError(
      `child IP ${guestAddr} is a loopback address, which the slirp4netns driver cannot reach: slirp4netns delivers ` +
        `through the namespace's network interface, so leave the child IP out (it is ${defaultChildIP}) and have the server ` +
        `listen on 0.0.0.0 or ${defaultChildIP}`,
    );
  }
  return {
    proto: spec.proto.startsWith('udp') ? 'udp' : 'tcp',
    host_addr: hostAddr,
    host_port: spec.parentPort,
    guest_addr: guestAddr,
    guest_port: spec.childPort,
  };
}

/**
 * slirp4netns says only "slirp_add_hostfwd failed" when it cannot bind the host port: the same bind,
 * tried here, tells why (taken, privileged...) in the builtin driver's words. Its own reason is kept.
 */
async function refusal(spec: PortSpec, fwd: HostFwd, err: Slirp4netnsApiError): Promise<UserError> {
  const bindError = await bindProbe(fwd.proto, { host: fwd.host_addr, ipv6Only: false }, fwd.host_port);
  if (bindError) return new UserError(`${listenError(spec, bindError).message} (${err.message})`);
  return new UserError(`slirp4netns refused to forward ${formatPortSpec(spec)}: ${err.desc}`);
}

/** The namespace process' address on slirp4netns' network, where ports go unless a spec names another. */
export function networkChildIP(network: RunningNetwork | undefined): string {
  const childIP = network?.info.childIP;
  // The flag checks allow this driver with --net=slirp4netns only, whose network always has a child address.
  if (!childIP) throw new Error('--port-driver=slirp4netns without a slirp4netns network');
  return childIP;
}
