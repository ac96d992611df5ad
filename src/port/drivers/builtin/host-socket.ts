/** A published port's host socket, made with raw calls so its fd can travel to the relay in the namespace. */
import { check, SysError } from '../../../sys/libc.js';
import {
  AF_INET,
  AF_INET6,
  encodeSockaddr,
  growReceiveBuffer,
  IPV6_V6ONLY,
  setIntOption,
  SO_REUSEADDR,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_IPV6,
  SOL_SOCKET,
  SOMAXCONN,
  type SocketCalls,
} from '../../../sys/socket.js';
import { listenAddress, listenError } from '../../listen.js';
import type { PortSpec } from '../../types.js';

/**
 * Bind (and for TCP listen on) the host side of `spec` by RootlessKit's listen rules. A failure is the
 * user's error in words (port taken, privileged port, foreign address) and leaves no socket open.
 * A reverse port's listener inside the namespace is made the same way there (`inNamespace`, for the errors).
 */
export function openPublishedSocket(c: SocketCalls, spec: PortSpec, proto: 'tcp' | 'udp', inNamespace = false): number {
  const { host, ipv6Only } = listenAddress(spec);
  const addr = encodeSockaddr(host, spec.parentPort);
  const family = addr.length === 16 ? AF_INET : AF_INET6;
  const fd = check(c.koffi, 'socket', c.socket(family, (proto === 'tcp' ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
  try {
    if (family === AF_INET6) setIntOption(c, fd, SOL_IPV6, IPV6_V6ONLY, ipv6Only ? 1 : 0);
    // As Node and Go do for listeners: a restarted nsgate can listen again while old connections linger in TIME_WAIT.
    if (proto === 'tcp') setIntOption(c, fd, SOL_SOCKET, SO_REUSEADDR, 1);
    else growReceiveBuffer(c, fd);
    check(c.koffi, 'bind', c.bind(fd, addr, addr.length));
    if (proto === 'tcp') check(c.koffi, 'listen', c.listen(fd, SOMAXCONN));
    return fd;
  } catch (err) {
    c.close(fd);
    throw err instanceof SysError ? listenError(spec, err, inNamespace) : err;
  }
}
