import type { PortSpec } from './port/types.js';
import { orList } from './text.js';

export const NET_DRIVERS = ['host', 'none', 'slirp4netns', 'pasta'] as const;
export type NetDriverName = (typeof NET_DRIVERS)[number];

export const PORT_DRIVERS = ['none', 'builtin', 'slirp4netns', 'socat', 'implicit', 'bypass'] as const;
export type PortDriverName = (typeof PORT_DRIVERS)[number];

const NETNS_DRIVERS = ['none', 'slirp4netns', 'pasta'] as const satisfies readonly NetDriverName[];

/** The networks each port driver works with (checked at start). */
export const PORT_DRIVER_NETWORKS: Readonly<Record<PortDriverName, readonly NetDriverName[]>> = {
  none: NET_DRIVERS,
  builtin: NETNS_DRIVERS,
  slirp4netns: ['slirp4netns'],
  socat: NETNS_DRIVERS,
  implicit: ['pasta'],
  bypass: NETNS_DRIVERS,
};

/** The port drivers that publish the ports asked for (-p, add-ports); `implicit` forwards every bound port by itself. */
export const PUBLISHING_PORT_DRIVERS: readonly PortDriverName[] = ['builtin', 'slirp4netns', 'socat', 'bypass'];

/** "--port-driver=builtin, ... or --port-driver=bypass": the drivers that publish on `net` (all of them if none does). */
export function publishingDriverChoices(net: NetDriverName): string {
  const usable = PUBLISHING_PORT_DRIVERS.filter((driver) => PORT_DRIVER_NETWORKS[driver].includes(net));
  return orList((usable.length > 0 ? usable : PUBLISHING_PORT_DRIVERS).map((driver) => `--port-driver=${driver}`));
}

export type AutoBool = 'auto' | 'true' | 'false';

/** Everything `nsgate [flags] COMMAND...` was asked to do, validated, with defaults applied. */
export interface LaunchOptions {
  /** Absent: a fresh private temp dir, removed at exit. */
  stateDir?: string;
  net: NetDriverName;
  /** Already resolved: 65520 for slirp4netns and pasta, else 1500, unless given. */
  mtu: number;
  /** IPv4 network, normalized (`10.0.2.0/24`). */
  cidr: string;
  ifname: string;
  disableHostLoopback: boolean;
  ipv6: boolean;
  copyUp: string[];
  propagation: 'rprivate' | 'rslave' | 'rshared';
  pidns: boolean;
  cgroupns: boolean;
  utsns: boolean;
  ipcns: boolean;
  reaper: AutoBool;
  /** --evacuate-cgroup2: the subgroup to move nsgate's cgroup's processes into (with --pidns and --cgroupns). */
  evacuateCgroup2?: string;
  detachNetns: boolean;
  slirp4netnsBinary: string;
  pastaBinary: string;
  slirp4netnsSandbox: AutoBool;
  slirp4netnsSeccomp: AutoBool;
  subidSource: 'auto' | 'dynamic' | 'static';
  portDriver: PortDriverName;
  publish: PortSpec[];
  /** builtin: propagate non-loopback TCP clients' addresses to the servers inside. */
  sourceIpTransparent: boolean;
  debug: boolean;
  /** COMMAND and its arguments: never empty. */
  command: string[];
}
