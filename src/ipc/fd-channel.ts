/**
 * The fd channel: a SOCK_SEQPACKET socket pair between the parent and the process a port driver's inside half
 * runs in, for fds Node's IPC cannot carry (SCM_RIGHTS): the host sockets of builtin's published ports, bypass's
 * seccomp listener. Null without native calls: the builtin driver then relays in JavaScript.
 *
 * The spawn needs no native calls (the parent spawns the namespace process before it loads koffi): it gives the
 * process a stream socket pair that Node makes itself (fdChannelStdio); once spawned, the parent opens the channel
 * and sends the process its end on that socket (handOverFdChannel), where the process takes it (takeFdChannel).
 *
 * A forward's host socket and its `forward` message travel on two channels: the fd is always sent first, with
 * the request id as payload (sendFdFor), so that it is queued when the message arrives and the receiver takes
 * it without waiting (receiveFdFor), checking the id.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { check } from '../sys/libc.js';
import { receiveFds, sendFds } from '../sys/fd-passing.js';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_SEQPACKET, socketCalls } from '../sys/socket.js';

/** Names the fd of the spawned process' handover socket, when it has one. */
const FD_CHANNEL_ENV = 'NSGATE_FD_CHANNEL';
/** Where the spawned process finds the handover socket: fd 5 is taken by the --reaper shell for stdin, 3 and 4 by IPC and the gate. */
const CHILD_FD = 6;

/** The environment variable that tells a spawned process where its handover socket is. */
export const FD_CHANNEL_CHILD_ENV: Readonly<Record<string, string>> = { [FD_CHANNEL_ENV]: String(CHILD_FD) };

/**
 * spawn's stdio entries from fd 3 on: the caller's own and, for a process that gets an fd channel, padding, then
 * the handover socket.
 */
export function fdChannelStdioIf(channel: boolean, own: ('ipc' | 'pipe')[]): ('ipc' | 'pipe' | 'ignore')[] {
  return channel ? [...own, ...Array<'ignore'>(CHILD_FD - 3 - own.length).fill('ignore'), 'pipe'] : own;
}

export interface FdChannel {
  readonly parentEnd: number;
  /** At the end of the launch. */
  close(): void;
}

/**
 * The parent's side, once `proc` is spawned with fdChannelStdio: a new channel, whose other end goes to `proc` on
 * the handover socket; null without native calls, or if `proc` is already gone (its end is reported elsewhere).
 * The handover socket is closed either way: the process finds no channel on it then.
 */
export function handOverFdChannel(proc: ChildProcess): FdChannel | null {
  const handover = (proc.stdio as unknown as Array<Socket | null | undefined>)[CHILD_FD] ?? null;
  try {
    // Node's socket, whose fd is not public; nothing reads it (the process only reads its end).
    const via = (handover as unknown as { _handle?: { fd?: number } } | null)?._handle?.fd;
    const c = socketCalls();
    if (!c || via === undefined || via < 0) return null;
    const pair: [number, number] = [0, 0];
    check(c.koffi, 'socketpair', c.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair));
    const [parentEnd, childEnd] = pair;
    try {
      sendFds(via, Buffer.from('c'), [childEnd]);
    } catch {
      c.close(parentEnd);
      return null;
    } finally {
      c.close(childEnd);
    }
    return { parentEnd, close: () => void c.close(parentEnd) };
  } finally {
    handover?.destroy();
  }
}

/**
 * The spawned process' side: its end of the channel, close-on-exec so that COMMAND never inherits it (it waits
 * for the parent's handover, sent as soon as the parent has native calls); undefined when the parent sent none or
 * native calls are unavailable here.
 */
export function takeFdChannel(): number | undefined {
  const handover = Number(process.env[FD_CHANNEL_ENV]);
  if (!Number.isInteger(handover)) return undefined;
  try {
    if (!socketCalls()) return undefined;
    const got = receiveFds(handover, { wait: true });
    if (got?.fds.length === 1) return got.fds[0];
    for (const stray of got?.fds ?? []) socketCalls()!.close(stray);
    return undefined;
  } finally {
    closeSync(handover);
  }
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
