/**
 * The bypass supervisor, a worker thread: it receives the seccomp listener from the namespace process' exec wrapper and
 * answers every `bind()` of COMMAND's process tree. A bind to a published port gets a host socket in its fd slot;
 * every other bind continues untouched in the namespace. Its calls block, so it runs off the main thread;
 * the main thread publishes and unpublishes specs by message (applied at the next bind) and wakes it with a byte on a pipe.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../errors.js';
import { receiveFds } from '../sys/fd-passing.js';
import { SysError } from '../sys/libc.js';
import { POLLHUP, POLLIN, waitReadable } from '../sys/poll.js';
import {
  answerCall,
  notifiedCall,
  continueCall,
  installFd,
  notificationValid,
  pidfdGetfd,
  pidfdOpen,
  receiveNotification,
  type Notification,
} from '../sys/seccomp.js';
import { AF_INET, AF_INET6, decodeSockaddr, O_CLOEXEC, socketCalls } from '../sys/socket.js';
import { listenError } from '../port/listen.js';
import { inspectAppSocket, openHostSocketLike, type AppSocket } from '../port/drivers/bypass/host-socket.js';
import type { Bound, FromSupervisor, SupervisorData, ToSupervisor } from '../port/drivers/bypass/messages.js';
import { matchBind, type HostBind, type Published } from '../port/drivers/bypass/rules.js';

const AF_UNSPEC = 0;
const EPERM = 1;
const EIO = 5;
/** sizeof(struct sockaddr_in6): all the bytes an inet sockaddr can use. */
const MAX_SOCKADDR = 28;

const { channel, wake, port } = workerData as SupervisorData;
const c = socketCalls()!;
const published = new Map<number, Published>();
/**
 * Inodes of the TCP host sockets given out (a socket inode is not reused while the socket lives). UDP ones are not
 * kept: a UDP socket reaches any address with sendto() anyway, and servers connect() theirs to a client (iperf3).
 */
const tcpHostSockets = new Set<number>();
let stopping = false;

const report = (msg: FromSupervisor) => parentPort!.postMessage(msg);

function takeMessages(): void {
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
    const msg = m.message as ToSupervisor;
    if (msg.t === 'publish') published.set(msg.key, { key: msg.key, spec: msg.spec });
    else if (msg.t === 'unpublish') published.delete(msg.key);
    else stopping = true;
  }
}

/** Wait on `fd` and the wake pipe; false once stopping, or when `fd` hung up without data. */
function waitFor(fd: number): boolean {
  for (;;) {
    const [ready = 0, woken = 0] = waitReadable([fd, wake]);
    if (woken) {
      readSync(wake, Buffer.alloc(64));
      takeMessages();
      if (stopping) return false;
    }
    if (ready & POLLIN) return true;
    if (ready & POLLHUP) return false;
  }
}

/** The listener the exec wrapper sends once it has installed the filter, or null if it never comes. */
function receiveListener(): number | null {
  while (waitFor(channel)) {
    const msg = receiveFds(channel);
    if (msg?.fds.length === 1) return msg.fds[0]!;
    for (const fd of msg?.fds ?? []) c.close(fd);
  }
  return null;
}

/** `len` bytes (at most MAX_SOCKADDR) of the sockaddr the caller passed at args[1], read from its memory; null if unreadable. */
function readCallerSockaddr(n: Notification): Buffer | null {
  const len = Math.min(Number(n.args[2]! & 0xffffffffn), MAX_SOCKADDR);
  const b = Buffer.alloc(MAX_SOCKADDR);
  try {
    const mem = openSync(`/proc/${n.pid}/mem`, 'r');
    try {
      return readSync(mem, b, 0, len, n.args[1]!) === len && len >= 2 ? b.subarray(0, len) : null;
    } finally {
      closeSync(mem);
    }
  } catch {
    return null; // EFAULT and the like: the kernel's own call will say so
  }
}

/** The IPv4 or IPv6 address a bind asks for; null for anything else. */
function bindAddress(n: Notification): { family: 4 | 6; ip: string; port: number } | null {
  const b = readCallerSockaddr(n);
  const family = b?.readUInt16LE(0);
  if (!b || !((family === AF_INET && b.length >= 16) || (family === AF_INET6 && b.length >= 24))) return null;
  return decodeSockaddr(b);
}

/** A copy of the caller's fd `fd` and the caller's process (thread group) id; null if it is gone or not reachable. */
function copyAppFd(listener: number, n: Notification, fd: number): { fd: number; tgid: number } | null {
  try {
    const tgid = Number(/^Tgid:\s*(\d+)/m.exec(readFileSync(`/proc/${n.pid}/status`, 'utf8'))?.[1]);
    const pidfd = pidfdOpen(tgid);
    try {
      // The pidfd names the caller only if the call is still pending (a pid is reused only after its process is reaped).
      if (!notificationValid(listener, n.id)) return null;
      return { fd: pidfdGetfd(pidfd, fd), tgid };
    } finally {
      c.close(pidfd);
    }
  } catch {
    return null;
  }
}

function fdIsCloexec(tgid: number, fd: number): boolean {
  const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/${tgid}/fdinfo/${fd}`, 'utf8'))?.[1];
  return flags !== undefined && (Number.parseInt(flags, 8) & O_CLOEXEC) !== 0;
}

function commandOf(tgid: number): string {
  try {
    return `${readFileSync(`/proc/${tgid}/comm`, 'utf8').trim()} (pid ${tgid})`;
  } catch {
    return `pid ${tgid}`;
  }
}

function onBind(listener: number, n: Notification): void {
  const fd = Number(BigInt.asIntN(32, n.args[0]!));
  const addr = fd >= 0 ? bindAddress(n) : null;
  // Read, then checked: the memory read was the caller's only if its call is still pending.
  if (!addr || addr.port === 0 || !notificationValid(listener, n.id)) return continueCall(listener, n.id);
  takeMessages();
  if (![...published.values()].some((p) => p.spec.childPort === addr.port)) return continueCall(listener, n.id);
  const target = copyAppFd(listener, n, fd);
  if (!target) return continueCall(listener, n.id);
  try {
    const app = inspectAppSocket(c, target.fd);
    const match = app && app.family === addr.family ? matchBind({ ...addr, kind: app.kind, v6only: app.v6only }, [...published.values()]) : null;
    if (!app || !match) return continueCall(listener, n.id);
    installHostSocket(listener, n, { fd, tgid: target.tgid, inside: { ip: addr.ip, port: addr.port, v6only: app.v6only } }, app, match);
  } finally {
    c.close(target.fd);
  }
}

/** The calling process' fd slot, and where it asked to bind inside. */
interface Caller {
  fd: number;
  tgid: number;
  inside: Bound['inside'];
}

/** Answer a matched bind: the host socket in the caller's slot and success, or the host bind's errno. */
function installHostSocket(listener: number, n: Notification, caller: Caller, app: AppSocket, match: HostBind): void {
  const { fd, tgid, inside } = caller;
  let host: number;
  try {
    host = openHostSocketLike(c, app, match);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    answerCall(listener, n.id, err.errno);
    report({ t: 'refused', key: match.key, code: err.code, message: listenError(match.spec, err).message, command: commandOf(tgid) });
    return;
  }
  try {
    installFd(listener, n.id, host, fd, fdIsCloexec(tgid, fd));
    const inode = fstatSync(host).ino;
    if (app.kind === 'tcp') tcpHostSockets.add(inode);
    answerCall(listener, n.id, 0);
    report({ t: 'bound', key: match.key, host: { ip: match.ip, port: match.port }, inside, inode, command: commandOf(tgid) });
  } catch (err) {
    // ENOENT: the call was interrupted meanwhile; the app restarts or fails it itself.
    if (!(err instanceof SysError && err.code === 'ENOENT')) throw err;
  } finally {
    c.close(host);
  }
}

/**
 * A connect (or a send that connects) on one of the TCP host sockets we gave out is refused: it must never reach
 * out of the namespace's network (to the host's loopback services, say). It is listening and could not connect
 * anyway, unless the app first dissolves it with connect(AF_UNSPEC). That one we make ourselves on the socket we
 * checked rather than let the call continue, so swapping the fd after the check does not dissolve a host socket.
 */
function onConnect(listener: number, n: Notification, call: 'connect' | 'send'): void {
  const fd = Number(BigInt.asIntN(32, n.args[0]!));
  const target = tcpHostSockets.size > 0 && fd >= 0 ? copyAppFd(listener, n, fd) : null;
  if (!target) return continueCall(listener, n.id);
  try {
    if (tcpHostSockets.has(fstatSync(target.fd).ino)) {
      answerCall(listener, n.id, EPERM);
      report({ t: 'warning', message: `refused a connect() of ${commandOf(target.tgid)} on its host socket (fd ${fd}): a published TCP port's socket only accepts` });
      return;
    }
    const dissolves = call === 'connect' && readCallerSockaddr(n)?.readUInt16LE(0) === AF_UNSPEC;
    if (!dissolves || !notificationValid(listener, n.id)) return continueCall(listener, n.id);
    const unspec = Buffer.alloc(16);
    answerCall(listener, n.id, c.connect(target.fd, unspec, unspec.length) === -1 ? c.errno() : 0);
  } finally {
    c.close(target.fd);
  }
}

function serve(listener: number): void {
  while (waitFor(listener)) {
    const n = receiveNotification(listener);
    if (!n) continue;
    const call = notifiedCall(n.nr);
    if (!call) {
      continueCall(listener, n.id);
      continue;
    }
    try {
      if (call === 'bind') onBind(listener, n);
      else onConnect(listener, n, call);
    } catch (err) {
      // Unexpected (not a refused host bind): the app's bind fails rather than silently staying inside.
      answerCall(listener, n.id, err instanceof SysError ? err.errno : EIO);
      report({ t: 'warning', message: `a ${call}() of pid ${n.pid} failed: ${errorMessage(err)}` });
    }
  }
  if (!stopping) report({ t: 'ended' });
}

let listener: number | null = null;
try {
  listener = receiveListener();
  if (listener !== null) serve(listener);
} catch (err) {
  report({ t: 'failed', message: errorMessage(err) });
} finally {
  // Without a listener the kernel fails the filtered calls (ENOSYS) instead of holding them forever.
  if (listener !== null) c.close(listener);
}
