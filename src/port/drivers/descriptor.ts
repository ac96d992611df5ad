/**
 * A port driver's descriptor: everything the rest of nsgate knows about a driver. The flag parser, the launch,
 * the namespace process and the dialer read these fields instead of testing driver names; a driver's code lives
 * in its folder (`src/port/drivers/NAME/`): `descriptor.ts`, its parent half (in nsgate's own process) and its
 * inside half (in the process that lives in the namespace). The registry (registry.ts) lists the descriptors.
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket as UdpSocket } from 'node:dgram';
import type { Server, Socket } from 'node:net';
import type { Target } from '../../dataplane/commands.js';
import type { Counters } from '../../dataplane/counters.js';
import type { ParentMessage } from '../../ipc/messages.js';
import type { Log } from '../../log.js';
import type { NamespacePaths } from '../../network/namespace-paths.js';
import type { RunningNetwork } from '../../network/driver.js';
import type { LaunchOptions, NetDriverName } from '../../options.js';
import type { PortDriver, Proto } from '../types.js';

/** The networks with a namespace of their own. */
export const NETNS_NETWORKS: readonly NetDriverName[] = ['none', 'slirp4netns', 'pasta'];

export interface PortDriverDescriptor {
  /** The value of --port-driver. */
  readonly name: string;
  /** The --net values it works with (checked when the flags are parsed). */
  readonly networks: readonly NetDriverName[];
  /** Why only those networks, said when another is asked for. */
  readonly networksWhy?: string;
  /** The protos it forwards (empty for a driver that publishes nothing). */
  readonly protos: readonly Proto[];
  /** Whether it publishes the ports asked for (-p, add-ports). */
  readonly publishes: boolean;
  /** For a driver that forwards ports without publishing them one by one: why -p and add-ports do not apply. */
  readonly portsImplicit?: string;
  /** Why it cannot be used with --detach-netns, where it cannot. */
  readonly notWithDetachNetns?: string;
  /** What --help says nsgate adds, for a driver RootlessKit v2.3.4 does not have. */
  readonly addition?: string;
  /** Launch flags (without the dashes) that apply to this driver only: refused with any other. */
  readonly flags?: readonly string[];
  /** What it needs when nsgate launches. */
  readonly launch: LaunchNeeds;
  /** Loads its parent half (lazily: parsing the flags does not load it). None: RootlessKit's nil port driver. */
  readonly parent?: () => Promise<ParentHalf>;
  /** Loads its inside half, in the process where `launch.insideRunsIn` says it runs. */
  readonly inside?: () => Promise<InsideHalf>;
}

export interface LaunchNeeds {
  /** Arguments the network helper (pasta) must be started with. */
  readonly networkArgs?: readonly string[];
  /** Why this host cannot run the driver, checked before anything starts; undefined where it can. */
  readonly unsupported?: () => Promise<string | undefined>;
  /** A socketpair to the process its inside half runs in, for fds Node's IPC cannot carry (src/ipc/fd-channel.ts). */
  readonly fdChannel?: boolean;
  /**
   * Where its inside half runs: always in the namespace process (`namespace-process`: it serves COMMAND), or in
   * whichever process lives in the network namespace (`network-namespace`: the dialer with --detach-netns).
   */
  readonly insideRunsIn?: 'namespace-process' | 'network-namespace';
}

/** Makes the parent half for one launch. */
export type ParentHalf = (ctx: PortDriverContext) => PortDriver;

/** What a parent half may use: the launch options, the running network helper, and the process inside. */
export interface PortDriverContext {
  options: LaunchOptions;
  network: RunningNetwork | undefined;
  /** The process its inside half runs in: the namespace process, or the dialer. */
  inside: InsideProcess;
  /** The parent's end of the fd channel, when the descriptor asked for one and native calls are there. */
  fdChannel: number | null;
  /** The namespace process' namespaces as paths (the network namespace's bind mount with --detach-netns). */
  namespaces: NamespacePaths;
  /** The namespace process' pid: in nsgate's network namespace for the whole run (unless detached). */
  namespacePid: number;
  stateDir: string;
  log: Log;
}

/** The requests a parent half makes of its inside half, over the IPC channel (src/parent/inside-requests.ts). */
export interface InsideProcess {
  /** Whether `forward` is available (an fd channel and the native relay inside). */
  readonly relaysNatively: boolean;
  /** A TCP connection to host:port made inside the namespace. */
  dial(host: string, port: number): Promise<Socket>;
  /** An unconnected UDP socket that lives in the namespace. */
  udpSocket(family: 4 | 6): Promise<UdpSocket>;
  /** A TCP socket listening at host:port inside the namespace. */
  listen(host: string, port: number, ipv6Only: boolean): Promise<Server>;
  /** Serve the published port whose host socket is `fd` from inside; resolves with the forward's id. */
  forward(fd: number, proto: 'tcp' | 'udp', target: Target, sourceIp: boolean): Promise<number>;
  /** Stop serving forward `id` inside. */
  unforward(id: number): Promise<void>;
  /** The native relay's counters, by the ids `forward` returned. */
  relayStats(): Promise<Map<number, Counters>>;
}

/** A driver's request, as its inside half receives it. */
export type DriverRequest = Exclude<ParentMessage, { t: 'setup' | 'run' }>;

/** What the process an inside half runs in gives it. */
export interface InsideContext {
  log: Log;
  /** The process cannot go on (a relay worker died): report and exit. */
  fatal(message: string): void;
}

/** The half of a driver that runs inside the namespace (in the namespace process or the dialer). */
export interface InsideHalf {
  /** Called once as the process starts, before the rest of it loads. */
  start?(ctx: InsideContext): void;
  /** Its answers to the parent half's requests, by message type. */
  readonly handlers: { readonly [K in DriverRequest['t']]?: (msg: Extract<DriverRequest, { t: K }>) => void };
  /** Runs COMMAND its own way (bypass: under the bind filter); a plain spawn where absent. */
  spawnCommand?(file: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess;
}

/** Hand a driver's request to the inside half's handler for it (none: the request is not this driver's). */
export function handleRequest(inside: InsideHalf | undefined, msg: DriverRequest): void {
  const handler = inside?.handlers[msg.t] as ((msg: DriverRequest) => void) | undefined;
  handler?.(msg);
}
