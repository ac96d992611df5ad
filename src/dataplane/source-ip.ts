/**
 * Source IP (--source-ip-transparent) in the relay: a socket inside bound with IP_TRANSPARENT to the
 * client's own address, so the server sees who it talks to, and the routing that brings the server's
 * replies to that address back to the relay instead of out of the namespace.
 */
import { constants } from 'node:os';
import { localHostRouteMessage, LOOPBACK_INDEX, RouteSocket } from '../sys/rtnetlink.js';
import { AF_INET, INT_ONE, IP_TRANSPARENT, IPV6_TRANSPARENT, SO_MARK, SO_REUSEADDR, SOCK_CLOEXEC, SOL_IP, SOL_IPV6, SOL_SOCKET, type SocketCalls } from '../sys/socket.js';

const { EADDRINUSE } = constants.errno;
/** What a server bound to the wildcard address answers from (the route's preferred source): where the relay sent to. */
const LOOPBACK_V4 = Buffer.from([127, 0, 0, 1]);
const LOOPBACK_V6 = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/**
 * Whether a socket in the namespace is bound at `target` (a sockaddr), of socket type `type`: the bind of a
 * probe there is refused. If none is, the traffic is taken elsewhere by a DNAT (a container's port published by
 * CNI's portmap, as nerdctl does): a container's replies to a client's own address would not come back to the
 * relay, so such a flow is made the plain way. `reuseAddr` for TCP keeps the probe from failing a server
 * that binds the port at that moment; UDP must not set it, as two UDP sockets that both set it share a port.
 */
export function boundHere(sock: SocketCalls, family: number, type: number, target: Buffer, reuseAddr: boolean): boolean {
  const probe = sock.socket(family, type | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  if (reuseAddr) sock.setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, INT_ONE, 4);
  const taken = sock.bind(probe, target, target.length) !== 0 && sock.errno() === EADDRINUSE;
  sock.close(probe);
  return taken;
}

/** Bind `fd` transparently to `addr` (not an address of this namespace), with fwmark `mark` if given. False if any step fails. */
export function bindTransparent(sock: SocketCalls, fd: number, addr: Buffer, mark?: Buffer): boolean {
  if (mark && sock.setsockopt(fd, SOL_SOCKET, SO_MARK, mark, 4) !== 0) return false;
  const [level, name] = addr.readUInt16LE(0) === AF_INET ? [SOL_IP, IP_TRANSPARENT] : [SOL_IPV6, IPV6_TRANSPARENT];
  return sock.setsockopt(fd, level, name, INT_ONE, 4) === 0 && sock.bind(fd, addr, addr.length) === 0;
}

/**
 * The local routes of one UDP forward's reply table: while any flow from a client address lives, a route
 * `local CLIENT dev lo src 127.0.0.1 (::1)` there, so that what the server sends from its port to that
 * address (the forward's rule sends it to this table) is delivered to the relay's transparent socket. The
 * preferred source is where the relay sent to, so that a server bound to the wildcard address answers from
 * the address its client wrote to. Counted per address: many flows (ports) of one client share a route.
 */
export class ClientRoutes {
  private readonly users = new Map<string, number>();

  constructor(private readonly netlink: RouteSocket, private readonly table: number) {}

  /** Take the route to `addr`'s IP (adding it for its first flow). False if the kernel refused it. */
  take(addr: Buffer): boolean {
    const key = ipOf(addr).toString('hex');
    const users = this.users.get(key) ?? 0;
    if (users === 0 && !this.change('add', addr)) return false;
    this.users.set(key, users + 1);
    return true;
  }

  /** Give back what take() got; the last flow of an address deletes its route. */
  give(addr: Buffer): void {
    const key = ipOf(addr).toString('hex');
    const users = (this.users.get(key) ?? 1) - 1;
    if (users > 0) return void this.users.set(key, users);
    this.users.delete(key);
    this.change('del', addr);
  }

  private change(op: 'add' | 'del', addr: Buffer): boolean {
    const ip = ipOf(addr);
    const what = `ip route ${op} local ${ip.length === 4 ? [...ip].join('.') : ip.toString('hex')} table ${this.table}`;
    try {
      this.netlink.request({ what, build: (seq) => localHostRouteMessage(op, ip, ip.length === 4 ? LOOPBACK_V4 : LOOPBACK_V6, LOOPBACK_INDEX, this.table, seq) });
      return true;
    } catch {
      return false;
    }
  }
}

/** The IP bytes of a sockaddr_in (4) or sockaddr_in6 (16). */
function ipOf(addr: Buffer): Buffer {
  return addr.readUInt16LE(0) === AF_INET ? addr.subarray(4, 8) : addr.subarray(8, 24);
}
