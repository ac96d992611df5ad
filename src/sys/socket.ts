/**
 * Socket system calls Node does not expose on raw fds, and sockaddr encoding. The calls return what libc
 * returns (-1 on failure, errno from `errno()`), because the relay's hot loop must not pay for exceptions
 * on EAGAIN; `check()` turns a result into a SysError where failing is exceptional.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { check, perThread, type KoffiModule } from './libc.js';

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_TYPE = 3;
export const SO_ERROR = 4;
export const SO_RCVBUF = 8;
export const SO_LINGER = 13;
export const SO_REUSEPORT = 15;
export const SO_MARK = 36;
export const SO_PROTOCOL = 38;
export const SO_DOMAIN = 39;
export const SOL_IP = 0;
export const IP_TRANSPARENT = 19;
export const SOL_IPV6 = 41;
export const IPV6_V6ONLY = 26;
export const IPV6_TRANSPARENT = 75;
export const SOL_UDP = 17;
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
/** UDP GSO (Linux 4.18): the size the kernel cuts a send's payload into datagrams. */
export const UDP_SEGMENT = 103;
export const SHUT_WR = 1;
/** A listener's backlog: the kernel caps it at net.core.somaxconn; a burst of connections should not meet a short queue. */
export const SOMAXCONN = 4096;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const MSG_DONTWAIT = 0x40;

export interface SocketCalls {
  readonly koffi: KoffiModule;
  socket(domain: number, type: number, protocol: number): number;
  socketpair(domain: number, type: number, protocol: number, fds: [number, number]): number;
  bind(fd: number, addr: Buffer, len: number): number;
  listen(fd: number, backlog: number): number;
  accept4(fd: number, addr: Buffer | null, len: Buffer | null, flags: number): number;
  connect(fd: number, addr: Buffer, len: number): number;
  getsockname(fd: number, addr: Buffer, len: Buffer): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, len: Buffer): number;
  shutdown(fd: number, how: number): number;
  close(fd: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  errno(): number;
}

/** The socket calls (with close and fcntl, for any fd), or null without native support. */
export const socketCalls = perThread<SocketCalls>(({ koffi, lib }) => ({
  koffi,
  socket: lib.func('int socket(int, int, int)'),
  socketpair: lib.func('int socketpair(int, int, int, _Out_ int *fds)'),
  bind: lib.func('int bind(int, void *, uint32_t)'),
  listen: lib.func('int listen(int, int)'),
  accept4: lib.func('int accept4(int, void *, void *, int)'),
  connect: lib.func('int connect(int, void *, uint32_t)'),
  getsockname: lib.func('int getsockname(int, void *, void *)'),
  setsockopt: lib.func('int setsockopt(int, int, int, void *, uint32_t)'),
  getsockopt: lib.func('int getsockopt(int, int, int, void *, void *)'),
  shutdown: lib.func('int shutdown(int, int)'),
  close: lib.func('int close(int)'),
  fcntl: lib.func('int fcntl(int, int, int)'),
  errno: () => koffi.errno(),
}));

/** A sockaddr_in / sockaddr_in6 for ip:port. Unbracketed IPv6, no zone. */
export function encodeSockaddr(ip: string, port: number): Buffer {
  if (isIPv4(ip)) {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(port, 2);
    ip.split('.').forEach((octet, i) => b.writeUInt8(Number(octet), 4 + i));
    return b;
  }
  if (!isIPv6(ip)) throw new Error(`not an IP address: ${ip}`);
  const b = Buffer.alloc(28);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  ipv6Bytes(ip).copy(b, 8);
  return b;
}

/** The 16 bytes of an IPv6 address (an embedded dotted IPv4 tail allowed). */
function ipv6Bytes(ip: string): Buffer {
  let text = ip;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (dotted) {
    const o = dotted[1]!.split('.').map(Number);
    text = ip.slice(0, -dotted[1]!.length) + `${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

/** ip and port of a sockaddr_in / sockaddr_in6, IPv6 in its shortest form (RFC 5952). */
export function decodeSockaddr(b: Buffer, offset = 0): { family: 4 | 6; ip: string; port: number } {
  const port = b.readUInt16BE(offset + 2);
  if (b.readUInt16LE(offset) === AF_INET) return { family: 4, ip: [...b.subarray(offset + 4, offset + 8)].join('.'), port };
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(offset + 8 + i * 2).toString(16));
  return { family: 6, ip: compressIPv6(groups), port };
}

function compressIPv6(groups: string[]): string {
  // The longest run of two or more zero groups becomes '::' (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** setsockopt with an int value, throwing on failure. */
/** An int option value of 1, for setsockopt where allocating per call would cost (per connection or flow). */
export const INT_ONE = Buffer.from([1, 0, 0, 0]);

export function setIntOption(c: SocketCalls, fd: number, level: number, name: number, value: number): void {
  const v = Buffer.alloc(4);
  v.writeInt32LE(value);
  check(c.koffi, 'setsockopt', c.setsockopt(fd, level, name, v, 4));
}

/** getsockopt of an int value (SO_ERROR, ...), -errno on failure. */
export function getIntOption(c: SocketCalls, fd: number, level: number, name: number): number {
  const v = Buffer.alloc(4);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(4);
  return c.getsockopt(fd, level, name, v, len) === -1 ? -c.errno() : v.readInt32LE();
}

/**
 * A UDP socket's queue absorbs bursts while its reader is not running: the default (208 KiB, about 90
 * datagrams) overflows within a millisecond at 1 Gbit/s. The kernel caps the request at net.core.rmem_max.
 */
const UDP_RECEIVE_BUFFER = 4 << 20;

/** Best effort: a smaller buffer only means more loss under bursts. */
export function growReceiveBuffer(c: SocketCalls, fd: number): void {
  const size = Buffer.alloc(4);
  size.writeInt32LE(UDP_RECEIVE_BUFFER);
  c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, 4);
}

/** Close so that the peer gets a reset (RST), not an orderly FIN. */
export function closeWithReset(c: SocketCalls, fd: number): void {
  const linger = Buffer.alloc(8); // struct linger { int l_onoff = 1; int l_linger = 0; }
  linger.writeInt32LE(1, 0);
  c.setsockopt(fd, SOL_SOCKET, SO_LINGER, linger, 8);
  c.close(fd);
}

/** The address a socket is bound to (a port the kernel picked for a bind to port 0). */
export function localAddress(c: SocketCalls, fd: number): { family: 4 | 6; ip: string; port: number } {
  const addr = Buffer.alloc(28);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(28);
  check(c.koffi, 'getsockname', c.getsockname(fd, addr, len));
  return decodeSockaddr(addr);
}
