/**
 * Messages on the IPC channel between the parent and the processes it starts inside: the namespace process
 * (setup, run, and its port driver's requests) and the --detach-netns dialer (the driver's requests only).
 * Both sides import this module. Signals do not travel here: the parent sends them to the namespace process'
 * pid, as scripts may too. Answers to `dial`, `udp` and `listen` bring sockets as the message's handle; the
 * host socket of a `forward` travels on the fd channel (fd-channel.ts).
 */

import type { Target } from '../dataplane/commands.js';
import type { Counters } from '../dataplane/counters.js';

/** Names the port driver whose inside half the process loads (absent: none). */
export const PORT_DRIVER_ENV = 'NSGATE_PORT_DRIVER';

/** What the namespace process needs to prepare its namespaces. */
export interface NamespaceSetup {
  /** The namespace process has a network namespace of its own (not --net=host, not --detach-netns): `lo` comes up, /sys is its own. */
  ownNetns: boolean;
  /**
   * --detach-netns: create the new network namespace here (a bind mount, visible in the namespace process'
   * mount namespace) while it and COMMAND stay in the host's.
   */
  detachedNetns?: string;
  copyUp: string[];
  /**
   * An empty dir where a mount waits while its place is covered (copy-up, sysfs), as RootlessKit's in /tmp:
   * outside any copied-up directory, unlike the state dir (/run/user/UID/... with --copy-up=/run).
   */
  spareDir: string;
  /** --evacuate-cgroup2: mount the cgroup namespace's cgroup2 at /sys/fs/cgroup. */
  cgroup2: boolean;
}

/** What the namespace process needs to run COMMAND. */
export interface CommandRun {
  command: string[];
  env: Record<string, string>;
  /** Files to bind-mount over /etc's of the same name (the network's resolv.conf and hosts, in the state dir). */
  etcFiles?: string[];
}

export type ParentMessage =
  | { t: 'setup'; setup: NamespaceSetup }
  | { t: 'run'; run: CommandRun }
  | { t: 'dial'; id: number; host: string; port: number }
  | { t: 'udp'; id: number; family: 4 | 6 }
  /** --port-driver=bypass: a listening TCP socket at host:port inside, for in-namespace clients of a bypassed port. */
  | { t: 'listen'; id: number; host: string; port: number; ipv6Only: boolean }
  /**
   * Serve a published port from inside: its host socket was sent for `id` on the fd channel before this
   * message (sendFdFor, receiveFdFor). The native relay accepts there and connects to `target`.
   */
  | { t: 'forward'; id: number; proto: 'tcp' | 'udp'; target: Target; sourceIp: boolean }
  | { t: 'unforward'; id: number }
  /**
   * A reverse port's listener: a socket bound (for TCP listening) at ip:port inside, sent back on the fd
   * channel with `id` as payload before the answer (`forwarded`).
   */
  | { t: 'listen-inside'; id: number; proto: 'tcp' | 'udp'; ip: string; port: number }
  /** The native relay's counters of every forward (answered with `stats`). */
  | { t: 'stats'; id: number };

/** From the namespace process or the dialer to the parent. */
export type InsideMessage =
  /** The process runs and listens on the IPC channel. */
  | { t: 'hello' }
  | { t: 'ready' }
  | { t: 'failed'; message: string }
  | { t: 'started'; pid: number }
  /** COMMAND ended: nsgate's exit status, and the end in RootlessKit's words (`exit status 42`, `signal: killed`). */
  | { t: 'exited'; code: number; description: string }
  /** Answer to `dial`, `udp` or `listen`: the socket travels as the message's handle. */
  | { t: 'socket'; id: number }
  | { t: 'socket-error'; id: number; code: string; message: string }
  /** Answer to `forward`, `unforward` or `listen-inside`. */
  | { t: 'forwarded'; id: number; error?: string }
  /** Answer to `stats`: counters by forward id. */
  | { t: 'stats'; id: number; stats: Array<[number, Counters]> };
