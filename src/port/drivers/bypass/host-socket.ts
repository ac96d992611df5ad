/**
 * The app's socket as the supervisor sees it (through a pidfd_getfd copy), and the host socket made in its image.
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
  setIntOption,
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
