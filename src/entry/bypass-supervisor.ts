/**
 * The bypass supervisor, a worker thread: it receives the seccomp listener from the namespace process' exec wrapper and
 * answers every `bind()` and `connect()` of COMMAND's process tree. A bind in nsgate's own network namespace to
 * a published port gets a host socket in its fd slot; binds in other namespaces (containers) and to other ports
 * continue untouched. A connect to an outside address (port/drivers/bypass/outgoing.ts) gets a fresh host socket
 * in its slot and then runs on it. Its calls block, so it runs off the main thread;
 * the main thread publishes and unpublishes specs by message (applied at the next bind) and wakes it with a byte on a pipe.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
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
  socketNetns,
  type Notification,
} from '../sys/seccomp.js';
import { routeTo, RTN_UNICAST } from '../sys/rtnetlink.js';
import { AF_INET, AF_INET6, decodeSockaddr, O_CLOEXEC, socketCalls } from '../sys/socket.js';
import { listenError } from '../port/listen.js';
import { inspectAppSocket, openHostSocketLike, openOutgoingSocket, outgoingLocalPort, type AppSocket } from '../port/drivers/bypass/host-socket.js';
import type { Bound, FromSupervisor, SupervisorData, ToSupervisor } from '../port/drivers/bypass/messages.js';
import { addressBytes, isOutside, namespaceRoutes, NEVER_OUTSIDE, parseCidr, routedByDefault } from '../port/drivers/bypass/outgoing.js';
import { matchBind, type HostBind, type Published } from '../port/drivers/bypass/rules.js';

const AF_UNSPEC = 0;
const EPERM = 1;
const EIO = 5;
/** sizeof(struct sockaddr_in6): all the bytes an inet sockaddr can use. */
const MAX_SOCKADDR = 28;

const { channel, wake, port, namespacePid, outgoing, debug } = workerData as SupervisorData;
const c = socketCalls()!;
/** The network namespaces that matter, by inode: nsgate's (the child's), and the host's (ours: host sockets live there). */
const namespaceNetns = statSync(`/proc/${namespacePid}/ns/net`).ino;
const hostNetns = statSync('/proc/self/ns/net').ino;
const ignored = outgoing ? outgoing.ignore.map(parseCidr) : [];
/** The host's loopback interface (the first interface of every network namespace). */
const LOOPBACK_INDEX = 1;
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

/** The IPv4 or IPv6 address a bind or connect names; null for anything else. */
function callerAddress(n: Notification): { family: 4 | 6; ip: string; port: number } | null {
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

/**
 * The network namespace (inode) of the caller's socket, which our copy `fd` is: the socket's own, read with
 * SIOCGSKNS; where the kernel refuses that, the caller's (a socket made before a setns() then counts where
 * its process is now); 0 if neither can be read while the call is pending.
 */
function netnsOf(listener: number, n: Notification, fd: number): number {
  try {
    return socketNetns(fd);
  } catch {
    try {
      const ino = statSync(`/proc/${n.pid}/ns/net`).ino;
      return notificationValid(listener, n.id) ? ino : 0;
    } catch {
      return 0;
    }
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
  const addr = fd >= 0 ? callerAddress(n) : null;
  // Read, then checked: the memory read was the caller's only if its call is still pending.
  if (!addr || addr.port === 0 || !notificationValid(listener, n.id)) return continueCall(listener, n.id);
  takeMessages();
  if (![...published.values()].some((p) => p.spec.childPort === addr.port)) return continueCall(listener, n.id);
  const target = copyAppFd(listener, n, fd);
  if (!target) return continueCall(listener, n.id);
  let plan: { app: AppSocket; match: HostBind } | null = null;
  try {
    if (netnsOf(listener, n, target.fd) === namespaceNetns) {
      const app = inspectAppSocket(c, target.fd);
      const match = app && app.family === addr.family ? matchBind({ ...addr, kind: app.kind, v6only: app.v6only }, [...published.values()]) : null;
      if (app && match) plan = { app, match };
    }
  } finally {
    // Closed before the call is answered: once it is, the app (and whoever counts our fds) moves on.
    c.close(target.fd);
  }
  if (!plan) return continueCall(listener, n.id);
  installHostSocket(listener, n, { fd, tgid: target.tgid, inside: { ip: addr.ip, port: addr.port, v6only: plan.app.v6only } }, plan.app, plan.match);
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
  // Named while the caller still waits on us: an app whose bind fails may be gone right after the answer.
  const command = commandOf(tgid);
  let host: number;
  try {
    host = openHostSocketLike(c, app, match);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
    answerCall(listener, n.id, err.errno);
    report({ t: 'refused', key: match.key, code: err.code, message: listenError(match.spec, err).message, command });
    return;
  }
  let inode: number;
  try {
    installFd(listener, n.id, host, fd, fdIsCloexec(tgid, fd));
    inode = fstatSync(host).ino;
  } catch (err) {
    // ENOENT: the call was interrupted meanwhile; the app restarts or fails it itself.
    if (err instanceof SysError && err.code === 'ENOENT') return;
    throw err;
  } finally {
    // Ours is closed before the answer; the app's copy keeps the socket (and its inode) alive.
    c.close(host);
  }
  if (app.kind === 'tcp') tcpHostSockets.add(inode);
  answerCall(listener, n.id, 0);
  report({ t: 'bound', key: match.key, host: { ip: match.ip, port: match.port }, inside, inode, command });
}

/**
 * A connect, or a send that connects (MSG_FASTOPEN). On one of the TCP host sockets we gave out for a published
 * port it is refused: it must never reach out of the namespace's network (to the host's loopback services, say).
 * Such a socket is listening and could not connect anyway, unless the app first dissolves it with
 * connect(AF_UNSPEC). That one we make ourselves on the socket we checked rather than let the call continue, so
 * swapping the fd after the check does not dissolve a host socket. A connect to an outside destination gets a
 * host socket first (--bypass-outgoing).
 */
function onConnect(listener: number, n: Notification, call: 'connect' | 'send'): void {
  const fd = Number(BigInt.asIntN(32, n.args[0]!));
  const dest = fd >= 0 && call === 'connect' && outgoing ? outsideDestination(listener, n) : null;
  const target = fd >= 0 && (dest || tcpHostSockets.size > 0) ? copyAppFd(listener, n, fd) : null;
  if (!target) return continueCall(listener, n.id);
  let ours = true;
  try {
    if (tcpHostSockets.has(fstatSync(target.fd).ino)) {
      answerCall(listener, n.id, EPERM);
      report({ t: 'warning', message: `refused a connect() of ${commandOf(target.tgid)} on its host socket (fd ${fd}): a published TCP port's socket only accepts` });
      return;
    }
    if (dest) {
      ours = false; // connectOutside closes the copy itself, before it answers
      return connectOutside(listener, n, { fd, tgid: target.tgid, copy: target.fd }, dest);
    }
    const dissolves = call === 'connect' && readCallerSockaddr(n)?.readUInt16LE(0) === AF_UNSPEC;
    if (!dissolves || !notificationValid(listener, n.id)) return continueCall(listener, n.id);
    const unspec = Buffer.alloc(16);
    answerCall(listener, n.id, c.connect(target.fd, unspec, unspec.length) === -1 ? c.errno() : 0);
  } finally {
    if (ours) c.close(target.fd);
  }
}

/** Where an outgoing connect goes, if outside: its address, its bytes, and the host interface its route leaves by. */
interface Outside {
  family: 4 | 6;
  ip: string;
  port: number;
  oif: number;
}

/**
 * The connect's destination if it is outside (outgoing.ts: both nsgate's namespace and the caller's send it out by
 * their default route) and the host routes it out of an interface (not to
 * one of the host's own addresses, not through its loopback); null for anything else. Everything read from the
 * caller (its sockaddr, its namespace's routes) counts only once the call is known to be still pending.
 */
function outsideDestination(listener: number, n: Notification): Outside | null {
  const addr = callerAddress(n);
  if (!addr) return null;
  const ip = addressBytes(addr.ip);
  if (!isOutside(ip, NEVER_OUTSIDE, ignored)) return null;
  try {
    if (!routedByDefault(ip, namespaceRoutes(namespacePid, ip)) || !routedByDefault(ip, namespaceRoutes(n.pid, ip))) return null;
  } catch {
    return null; // the caller is gone: its call will not continue anyway
  }
  if (!notificationValid(listener, n.id)) return null;
  const route = routeTo(ip);
  if (!route || route.type !== RTN_UNICAST || route.oif === 0 || route.oif === LOOPBACK_INDEX) return null;
  return { ...addr, oif: route.oif };
}

/**
 * An outgoing connect to an outside destination: a fresh host socket like the app's goes in its fd slot, and the
 * app's own connect() then runs on it (its blocking mode, its timeouts, its signals). A socket that is a host one
 * already, or that cannot be swapped (connected, bound to an address inside...), continues untouched.
 */
function connectOutside(listener: number, n: Notification, caller: { fd: number; tgid: number; copy: number }, dest: Outside): void {
  let host: { fd: number; kind: string } | null = null;
  try {
    const app = inspectAppSocket(c, caller.copy);
    // A sockaddr of the other family is the kernel's to refuse, on the app's own socket.
    const swappable = app && app.family === dest.family && netnsOf(listener, n, caller.copy) !== hostNetns;
    const localPort = swappable ? outgoingLocalPort(c, caller.copy, app) : null;
    if (app && localPort !== null) host = { fd: openOutgoingSocket(c, caller.copy, app, dest.oif, localPort), kind: app.kind };
  } catch (err) {
    if (!(err instanceof SysError)) throw err; // its local port is taken on the host, say: the namespace's way
  } finally {
    // Closed before the call is answered: once it is, the app (and whoever counts our fds) moves on.
    c.close(caller.copy);
  }
  if (!host) return continueCall(listener, n.id);
  const command = debug ? commandOf(caller.tgid) : '';
  try {
    installFd(listener, n.id, host.fd, caller.fd, fdIsCloexec(caller.tgid, caller.fd));
  } catch (err) {
    if (err instanceof SysError && err.code === 'ENOENT') return; // interrupted meanwhile; its restart comes back here
    throw err;
  } finally {
    c.close(host.fd);
  }
  continueCall(listener, n.id);
  if (debug) report({ t: 'debug', message: `${command} connects to ${dest.family === 6 ? `[${dest.ip}]` : dest.ip}:${dest.port}/${host.kind} from the host (fd ${caller.fd})` });
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
      // Unexpected (not a refused host bind): the app's bind fails rather than silently staying inside; a
      // connect goes the namespace's way.
      if (call === 'bind') answerCall(listener, n.id, err instanceof SysError ? err.errno : EIO);
      else continueCall(listener, n.id);
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
