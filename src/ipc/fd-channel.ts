/**
 * The fd channel: a SOCK_SEQPACKET socket pair between the parent and the process a port driver's inside half
 * runs in, for fds Node's IPC cannot carry (SCM_RIGHTS): the host sockets of builtin's published ports, bypass's
 * seccomp listener. The parent opens it (openFdChannel) and hands one end to the process it spawns, which takes
 * it (takeFdChannel). Null without native calls: the builtin driver then relays in JavaScript.
 *
 * A forward's host socket and its `forward` message travel on two channels: the fd is always sent first, with
 * the request id as payload (sendFdFor), so that it is queued when the message arrives and the receiver takes
 * it without waiting (receiveFdFor), checking the id.
 */
import { check } from '../sys/libc.js';
import { receiveFds, sendFds } from '../sys/fd-passing.js';
import { AF_UNIX, F_GETFD, F_SETFD, FD_CLOEXEC, SOCK_CLOEXEC, SOCK_SEQPACKET, socketCalls } from '../sys/socket.js';

/** Names the fd of the inside process' end of the fd channel, when it has one. */
const FD_CHANNEL_ENV = 'NSGATE_FD_CHANNEL';
/** Where the inside process finds its end: fd 5 is taken by the --reaper shell for stdin, 3 and 4 by IPC and the gate. */
const CHILD_FD = 6;

export interface FdChannel {
  readonly parentEnd: number;
  /** spawn's stdio entries from fd 3 on: the caller's own, padded, then the other end at CHILD_FD. */
  stdioFrom3(own: ('ipc' | 'pipe' | 'ignore')[]): ('ipc' | 'pipe' | 'ignore' | number)[];
  /** The environment variable that tells the spawned process where its end is. */
  readonly env: Record<string, string>;
  /** After spawn: the spawned process has its copy. */
  closeChildEnd(): void;
  /** At the end of the launch. */
  closeParentEnd(): void;
}

/** The parent's side: a new channel, or null without native calls. */
export function openFdChannel(): FdChannel | null {
  const c = socketCalls();
  if (!c) return null;
  const pair: [number, number] = [0, 0];
  check(c.koffi, 'socketpair', c.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair));
  const [parentEnd, childEnd] = pair;
  return {
    parentEnd,
    stdioFrom3: (own) => [...own, ...Array<'ignore'>(CHILD_FD - 3 - own.length).fill('ignore'), childEnd],
    env: { [FD_CHANNEL_ENV]: String(CHILD_FD) },
    closeChildEnd: () => void c.close(childEnd),
    closeParentEnd: () => void c.close(parentEnd),
  };
}

/**
 * The spawned process' side: its end of the channel, made close-on-exec so that COMMAND never inherits it;
 * undefined when the parent opened none or native calls are unavailable here.
 */
export function takeFdChannel(): number | undefined {
  const fd = Number(process.env[FD_CHANNEL_ENV]);
  const c = socketCalls();
  if (!Number.isInteger(fd) || !c) return undefined;
  c.fcntl(fd, F_SETFD, c.fcntl(fd, F_GETFD, 0) | FD_CLOEXEC);
  return fd;
}

/** Send `fd` for request `id`: before the IPC message that announces it, so that it is there when that arrives. */
export function sendFdFor(channel: number, id: number, fd: number): void {
  sendFds(channel, Buffer.from(String(id)), [fd]);
}

/** The fd sent for request `id`, already queued (sendFdFor came first); throws, closing any stray fds, if it is not. */
export function receiveFdFor(channel: number, id: number): number {
  const got = receiveFds(channel);
  const fd = got?.fds[0];
  if (got && fd !== undefined && got.fds.length === 1 && got.payload.toString() === String(id)) return fd;
  for (const stray of got?.fds ?? []) socketCalls()!.close(stray);
  throw new Error(`the host socket of forward ${id} did not arrive on the fd channel`);
}
