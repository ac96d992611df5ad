/**
 * The app's socket as the supervisor sees it (through a pidfd_getfd copy), and the host sockets made in its
 * image: a listening one for a published port's bind, a fresh one for an outgoing connect.
 */
import {
  AF_INET,
  AF_INET6,
  encodeSockaddr,
  F_GETFL,
  getIntOption,
  IPV6_V6ONLY,
  O_NONBLOCK,
  SO_DOMAIN,
  SO_PROTOCOL,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_TYPE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_IPV6,
  SOL_SOCKET,
  SOMAXCONN,
  localAddress,
  setIntOption,
  SO_LINGER,
  SO_MARK,
  type SocketCalls,
} from '../../../sys/socket.js';
import { check } from '../../../sys/libc.js';
import type { HostBind } from './rules.js';

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** What the host socket copies from the app's: its kind and the options the app set before bind. */
export interface AppSocket {
  domain: number;
  type: number;
  protocol: number;
  kind: 'tcp' | 'udp';
  family: 4 | 6;
  reuseAddr: boolean;
  reusePort: boolean;
  v6only: boolean;
  nonblocking: boolean;
}

/** The app's socket, or null when it is not a TCP or UDP socket of IPv4 or IPv6 (its bind then stays in the namespace). */
export function inspectAppSocket(c: SocketCalls, fd: number): AppSocket | null {
  const domain = getIntOption(c, fd, SOL_SOCKET, SO_DOMAIN);
  const type = getIntOption(c, fd, SOL_SOCKET, SO_TYPE);
  const protocol = getIntOption(c, fd, SOL_SOCKET, SO_PROTOCOL);
  if (domain !== AF_INET && domain !== AF_INET6) return null;
  const kind = type === SOCK_STREAM && protocol === IPPROTO_TCP ? 'tcp' : type === SOCK_DGRAM && protocol === IPPROTO_UDP ? 'udp' : null;
  if (!kind) return null;
  const flag = (level: number, name: number) => getIntOption(c, fd, level, name) > 0;
  return {
    domain,
    type,
    protocol,
    kind,
    family: domain === AF_INET ? 4 : 6,
    reuseAddr: flag(SOL_SOCKET, SO_REUSEADDR),
    reusePort: flag(SOL_SOCKET, SO_REUSEPORT),
    v6only: domain === AF_INET6 && flag(SOL_IPV6, IPV6_V6ONLY),
    nonblocking: (c.fcntl(fd, F_GETFL, 0) & O_NONBLOCK) !== 0,
  };
}

/**
 * A socket in this (the host's) network namespace like the app's, bound to the host address; a TCP one is
 * already listening, so it can never connect anywhere (the app's own listen() then only sets its backlog).
 * Throws a SysError (EADDRINUSE, EACCES, ...) having closed what it opened.
 */
export function openHostSocketLike(c: SocketCalls, app: AppSocket, host: HostBind): number {
  const fd = check(c.koffi, 'socket', c.socket(app.domain, app.type | SOCK_CLOEXEC | (app.nonblocking ? SOCK_NONBLOCK : 0), app.protocol));
  try {
    if (app.reuseAddr) setIntOption(c, fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (app.reusePort) setIntOption(c, fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (app.family === 6) setIntOption(c, fd, SOL_IPV6, IPV6_V6ONLY, host.v6only ? 1 : 0);
    const addr = encodeSockaddr(host.ip, host.port);
    check(c.koffi, 'bind', c.bind(fd, addr, addr.length));
    if (app.kind === 'tcp') check(c.koffi, 'listen', c.listen(fd, SOMAXCONN));
    return fd;
  } catch (err) {
    c.close(fd);
    throw err;
  }
}

const SO_KEEPALIVE = 9;
const SO_BROADCAST = 6;
const SO_OOBINLINE = 10;
const SO_PRIORITY = 12;
const SO_RCVTIMEO = 20;
const SO_SNDTIMEO = 21;
const SO_BINDTOIFINDEX = 62;
const SOL_IP = 0;
const IP_TOS = 1;
const IPV6_TCLASS = 67;
const SOL_TCP = 6;
const TCP_INFO = 11;
const TCP_CLOSE = 7;

/**
 * The options an outgoing host socket copies from the app's, as the app may have set them before connect():
 * level, name, size, and which sockets have it. Buffer sizes, congestion control, TCP_FASTOPEN_CONNECT, TCP_MAXSEG
 * and the like are not copied (their read-back values are the kernel's, not what the app asked for).
 */
const COPIED: readonly (readonly [level: number, name: number, size: number, only?: 'tcp' | 4 | 6])[] = [
  [SOL_SOCKET, SO_REUSEADDR, 4],
  [SOL_SOCKET, SO_REUSEPORT, 4],
  [SOL_SOCKET, SO_KEEPALIVE, 4],
  [SOL_SOCKET, SO_BROADCAST, 4],
  [SOL_SOCKET, SO_OOBINLINE, 4],
  [SOL_SOCKET, SO_PRIORITY, 4],
  [SOL_SOCKET, SO_LINGER, 8],
  [SOL_SOCKET, SO_RCVTIMEO, 16],
  [SOL_SOCKET, SO_SNDTIMEO, 16],
  // TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT, TCP_NOTSENT_LOWAT
  ...[1, 4, 5, 6, 18, 25].map((name) => [SOL_TCP, name, 4, 'tcp'] as const),
  [SOL_IP, IP_TOS, 4, 4],
  [SOL_IPV6, IPV6_V6ONLY, 4, 6],
  [SOL_IPV6, IPV6_TCLASS, 4, 6],
];

/**
 * Whether the app's socket may be swapped for a host one before its connect(), and the local port to keep:
 * not a TCP socket already connecting, connected or listening; not bound to an address (only the wildcard
 * with a port, which the host socket binds too); not tied to an interface or a mark inside.
 */
export function outgoingLocalPort(c: SocketCalls, fd: number, app: AppSocket): number | null {
  if (app.kind === 'tcp') {
    const info = Buffer.alloc(8);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(info.length);
    if (c.getsockopt(fd, SOL_TCP, TCP_INFO, info, len) === -1 || info[0] !== TCP_CLOSE) return null;
  }
  if (getIntOption(c, fd, SOL_SOCKET, SO_BINDTOIFINDEX) !== 0 || getIntOption(c, fd, SOL_SOCKET, SO_MARK) !== 0) return null;
  const local = localAddress(c, fd);
  const wildcard = local.ip === '0.0.0.0' || local.ip === '::';
  return wildcard ? local.port : null;
}

/**
 * A socket in this (the host's) network namespace for an outgoing connect, like the app's: its kind, O_NONBLOCK,
 * the COPIED options, its local port. It is tied to `oif`, the host interface the route to the destination
 * leaves by: the kernel then routes it nowhere else, so whatever the app later does with it (connect again,
 * sendto another address) never reaches the host's loopback. Throws a SysError having closed what it opened.
 */
export function openOutgoingSocket(c: SocketCalls, appFd: number, app: AppSocket, oif: number, localPort: number): number {
  const fd = check(c.koffi, 'socket', c.socket(app.domain, app.type | SOCK_CLOEXEC | (app.nonblocking ? SOCK_NONBLOCK : 0), app.protocol));
  try {
    const value = Buffer.alloc(16);
    const len = Buffer.alloc(4);
    for (const [level, name, size, only] of COPIED) {
      if (only !== undefined && only !== app.kind && only !== app.family) continue;
      len.writeUInt32LE(size);
      // Best effort: an option the host refuses (a TOS, a priority) does not keep the connection inside.
      if (c.getsockopt(appFd, level, name, value, len) === 0) c.setsockopt(fd, level, name, value, len.readUInt32LE());
    }
    setIntOption(c, fd, SOL_SOCKET, SO_BINDTOIFINDEX, oif);
    if (localPort !== 0) {
      const addr = encodeSockaddr(app.family === 4 ? '0.0.0.0' : '::', localPort);
      check(c.koffi, 'bind', c.bind(fd, addr, addr.length));
    }
    return fd;
  } catch (err) {
    c.close(fd);
    throw err;
  }
}
