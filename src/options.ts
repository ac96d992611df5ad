import type { PortDriverName } from './port/drivers/registry.js';
import type { ReverseSpec } from './port/reverse-spec.js';
import type { PortRangeSpec } from './port/types.js';

export const NET_DRIVERS = ['host', 'none', 'slirp4netns', 'pasta'] as const;
export type NetDriverName = (typeof NET_DRIVERS)[number];

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
  publish: PortRangeSpec[];
  /** --reverse-publish: listeners inside whose connections are made on the host. */
  reversePublish: ReverseSpec[];
  /** builtin: propagate non-loopback TCP clients' addresses to the servers inside. */
  sourceIpTransparent: boolean;
  /** bypass: outgoing connects to outside addresses get host sockets. */
  bypassOutgoing: boolean;
  /** bypass: networks (CIDR, normalized) whose connects stay in the namespace. */
  bypassIgnore: string[];
  debug: boolean;
  /** COMMAND and its arguments: never empty. */
  command: string[];
}
