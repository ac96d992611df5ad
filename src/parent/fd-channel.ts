/**
 * The fd channel: a SOCK_SEQPACKET socket pair between the parent and the process that lives in the
 * network namespace, for the host sockets of published ports (SCM_RIGHTS), which Node's IPC cannot carry.
 * Null without native calls: the builtin driver then relays in JavaScript.
 */
import { AF_UNIX, SOCK_CLOEXEC, SOCK_SEQPACKET, socketCalls } from '../sys/socket.js';
import { check } from '../sys/libc.js';

import { FD_CHANNEL_ENV } from '../child/protocol.js';

/** Where the child finds its end: fd 5 is taken by the --reaper shell for stdin, 3 and 4 by IPC and the gate. */
const CHILD_FD = 6;

export interface FdChannel {
  readonly parentEnd: number;
  /** spawn's stdio entries from fd 3 on: the caller's own, padded, then the child's end at CHILD_FD. */
  stdioFrom3(own: ('ipc' | 'pipe' | 'ignore')[]): ('ipc' | 'pipe' | 'ignore' | number)[];
  /** The environment variable that tells the child where its end is. */
  readonly env: Record<string, string>;
  /** After spawn: the child has its copy. */
  closeChildEnd(): void;
}

/** `envName`: what the child's end is for (the builtin relay's channel by default; see src/child/protocol.ts). */
export function openFdChannel(envName = FD_CHANNEL_ENV): FdChannel | null {
  const c = socketCalls();
  if (!c) return null;
  const pair: [number, number] = [0, 0];
  check(c.koffi, 'socketpair', c.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair));
  const [parentEnd, childEnd] = pair;
  return {
    parentEnd,
    stdioFrom3: (own) => [...own, ...Array<'ignore'>(CHILD_FD - 3 - own.length).fill('ignore'), childEnd],
    env: { [envName]: String(CHILD_FD) },
    closeChildEnd: () => void c.close(childEnd),
  };
}
