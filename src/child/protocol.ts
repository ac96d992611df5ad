/**
 * Messages on the IPC channel between the parent and the child (the node process in the new namespaces).
 * Signals do not travel here: the parent sends them to the child's pid, as scripts may too. The channel also carries the builtin port driver's connect requests; the answers bring sockets.
 */

import type { Target } from '../dataplane/commands.js';

/** Names the fd of the child's (or dialer's) end of the fd channel, when there is one (src/parent/fd-channel.ts). */
export const FD_CHANNEL_ENV = 'NSGATE_FD_CHANNEL';
/** The same for --port-driver=bypass, whose channel goes to COMMAND's exec wrapper (the seccomp listener comes back on it). */
export const BYPASS_CHANNEL_ENV = 'NSGATE_BYPASS_CHANNEL';

/** What the child needs to prepare its namespaces. */
export interface ChildSetup {
  /** The child has a network namespace of its own (not --net=host, not --detach-netns): `lo` comes up, /sys is its own. */
  ownNetns: boolean;
  /**
   * --detach-netns: create the new network namespace here (a bind mount, visible in the child's mount
   * namespace) while the child and COMMAND stay in the host's.
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

/** What the child needs to run COMMAND. */
export interface ChildRun {
  command: string[];
  env: Record<string, string>;
  /** Files to bind-mount over /etc's of the same name (the network's resolv.conf and hosts, in the state dir). */
  etcFiles?: string[];
}

export type ParentMessage =
  | { t: 'setup'; setup: ChildSetup }
  | { t: 'run'; run: ChildRun }
  | { t: 'dial'; id: number; host: string; port: number }
  | { t: 'udp'; id: number; family: 4 | 6 }
  /** --port-driver=bypass: a listening TCP socket at host:port inside, for in-namespace clients of a bypassed port. */
  | { t: 'listen'; id: number; host: string; port: number; ipv6Only: boolean }
  /**
   * Serve a published port from inside: its host socket waits on the fd channel, sent just before this
   * message, with `id` as payload. The native relay accepts there and connects to `target`.
   */
  | { t: 'forward'; id: number; proto: 'tcp' | 'udp'; target: Target; sourceIp: boolean }
  | { t: 'unforward'; id: number };

export type ChildMessage =
  /** The child is in its namespaces and waits for its id maps. */
  | { t: 'hello' }
  | { t: 'ready' }
  | { t: 'failed'; message: string }
  | { t: 'started'; pid: number }
  /** COMMAND ended: nsgate's exit status, and the end in RootlessKit's words (`exit status 42`, `signal: killed`). */
  | { t: 'exited'; code: number; description: string }
  /** Answer to `dial`, `udp` or `listen`: the socket travels as the message's handle. */
  | { t: 'socket'; id: number }
  | { t: 'socket-error'; id: number; code: string; message: string }
  /** Answer to `forward` or `unforward`. */
  | { t: 'forwarded'; id: number; error?: string };
