/**
 * TCP in a relay worker: accept on a published port's host socket, connect inside the namespace, and
 * move bytes with splice(2) through pooled pipes; small messages (requests and answers) are copied through
 * one buffer instead, with fewer calls. FIN is passed on as shutdown(SHUT_WR), so half-close works; an error
 * or reset on one side resets the other.
 */
import { EPOLLERR, EPOLLET, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP, SPLICE_F_MOVE, SPLICE_F_NONBLOCK } from '../sys/relay-io.js';
import {
  AF_INET,
  AF_INET6,
  closeWithReset,
  encodeSockaddr,
  getIntOption,
  IPPROTO_TCP,
  setIntOption,
  SHUT_WR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SO_ERROR,
  SOL_SOCKET,
  TCP_NODELAY,
} from '../sys/socket.js';
import { constants } from 'node:os';
import type { Target } from './commands.js';
import { tcpCounters, type TcpCounters } from './counters.js';
import type { Loop } from './loop.js';
import type { Pipe, PipePool } from './pipe-pool.js';
import { COPY_SIZE } from './scratch.js';
import { clientSourceAddress } from './sockaddr.js';
import { bindTransparent, boundHere } from './source-ip.js';

const { EAGAIN, EINPROGRESS, ECONNABORTED, EINTR, EMFILE, ENFILE } = constants.errno;
/** A connect inside the namespace that has not completed by then (an address nobody answers) is given up. */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * Accepts per wakeup, and splice rounds per turn: enough to batch, little enough to stay fair. A direction
 * that still has bytes after its rounds gets another turn after the other ready fds (edge-triggered epoll
 * would not tell again).
 */
const ACCEPT_BATCH = 64;
const PUMP_ROUNDS = 16;
/**
 * Both sockets of a connection are watched for everything once, edge-triggered: no epoll_ctl per state change.
 * EPOLLRDHUP: an end that came with the bytes at hand shows in their event (see `pump`).
 */
const WATCH = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
/**
 * A direction whose last read was smaller than SMALL_READ copies its next read through the loop's copy
 * buffer (read + write: two calls, where splicing takes three and a pipe); one that reads SMALL_READ or more
 * splices from then on. A read(2) from TCP that returns less than asked has emptied the receive queue
 * (tcp_recvmsg stops short only there, at an end, or at urgent data), so the read that would only return
 * EAGAIN is skipped: the next bytes bring a new edge. A short splice does not tell as much (the pipe may have
 * run out of slots).
 */
const SMALL_READ = 16 << 10;
/** What in a read's event means more than bytes: an end or an error, which the read after them must see. */
const NOT_ONLY_BYTES = EPOLLRDHUP | EPOLLHUP | EPOLLERR;
/** After EMFILE the listener rests, instead of spinning on a connection it cannot accept. */
const FD_EXHAUSTED_PAUSE_MS = 100;
const SPLICE_FLAGS = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
/** Events not known (a connect that completed at once): read both sockets to the end. */
const UNKNOWN_EVENTS = EPOLLIN | EPOLLRDHUP;
/**
 * The fwmark of a transparent connection inside (--source-ip-transparent). The server's accepted socket
 * inherits it from the SYN (net.ipv4.tcp_fwmark_accept), and the namespace's rule for this mark delivers the
 * replies to the relay: only this connection's packets, not other traffic from loopback (a DNAT from
 * 127.0.0.1 to a container must still be routed). RootlessKit 3 uses the same mark; it stays clear of the
 * bits that CNI (0x2000) and kube-proxy (0x4000, 0x8000) test.
 */
export const SOURCE_IP_MARK = 100;
const SOURCE_IP_MARK_VALUE = Buffer.from([SOURCE_IP_MARK, 0, 0, 0]);

/** A published TCP port, as seen by one worker (every worker accepts on the same listening socket). */
export class TcpForward {
  readonly connections = new Set<TcpConnection>();
  /** This loop's share of the forward's traffic (see counters.ts). */
  readonly counts = tcpCounters();
  readonly targetAddr: Buffer;
  readonly targetFamily: number;
  private accepting = true;

  constructor(
    readonly loop: Loop,
    readonly pipes: PipePool,
    private readonly fd: number,
    target: Target,
    readonly sourceIp: boolean,
  ) {
    this.targetAddr = encodeSockaddr(target.ip, target.port);
    this.targetFamily = this.targetAddr.length === 16 ? AF_INET : AF_INET6;
    loop.nonBlocking(fd);
    // No Nagle delay for a message that follows a small one not yet acknowledged (a response's body after its
    // header, read apart): the relay writes what it has at once, as Go's sockets (RootlessKit's) do. Set on
    // the listener, it is inherited by every accepted socket without a call per connection.
    setIntOption(loop.sock, fd, IPPROTO_TCP, TCP_NODELAY, 1);
    // EXCLUSIVE: one worker wakes per new connection, not all of them.
    loop.add(fd, EPOLLIN | EPOLLEXCLUSIVE, this);
  }

  onEvents(): void {
    const { io, scratch } = this.loop;
    for (let i = 0; i < ACCEPT_BATCH; i++) {
      scratch.sockaddrLenView.setUint32(0, scratch.sockaddrView.length, true);
      const fd = io.accept4At(this.fd, scratch.sockaddr, scratch.sockaddrLen, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        TcpConnection.dial(this, fd, scratch.sockaddrView);
        continue;
      }
      const errno = io.errno();
      if (errno === ECONNABORTED || errno === EINTR) continue;
      if (errno === EMFILE || errno === ENFILE) this.rest();
      return;
    }
  }

  /** This loop's counters, with the connections it holds now as the active ones. */
  reading(): TcpCounters {
    return { ...this.counts, active: this.connections.size };
  }

  /** Leave new connections to the other loops; the ones accepted here stay until they end. */
  stopAccepting(): void {
    this.accepting = false;
    this.loop.remove(this.fd);
  }

  /** Whether a socket in the namespace listens at the target (see boundHere). */
  listenedHere(): boolean {
    return boundHere(this.loop.sock, this.targetFamily, SOCK_STREAM, this.targetAddr, true);
  }

  /** Stop accepting and close every connection (the port was removed). */
  drop(): void {
    this.stopAccepting();
    for (const c of [...this.connections]) c.close();
  }

  /** Stop accepting and let go of every connection, for another loop's forward to adopt. */
  release(): ConnectionState[] {
    this.stopAccepting();
    const states = [...this.connections].map((c) => c.release());
    this.connections.clear();
    return states;
  }

  /** Carry on connections released by another loop, where they stood. */
  adopt(states: ConnectionState[]): void {
    for (const state of states) new TcpConnection(this, state);
  }

  private rest(): void {
    this.loop.remove(this.fd);
    this.loop.after(FD_EXHAUSTED_PAUSE_MS, () => this.accepting && this.loop.add(this.fd, EPOLLIN | EPOLLEXCLUSIVE, this));
  }
}

/** Where one way of a connection stands: bytes read and not yet written sit in `pipe` (`pending` of them). */
interface DirectionState {
  pipe: Pipe | null;
  pending: number;
  /** The reading side has ended. */
  eof: boolean;
  /** ...and that end was passed on (shutdown of the writing side). */
  done: boolean;
  /** The next read is copied through the loop's copy buffer, not spliced (see SMALL_READ). */
  copying: boolean;
}

/** A connection as one loop lets go of it and another adopts it (plain data: it crosses threads). */
export interface ConnectionState {
  client: number;
  up: number;
  connecting: boolean;
  toServer: DirectionState;
  toClient: DirectionState;
}

/** One way of a connection, from socket `from` to socket `to`. */
class Direction implements DirectionState {
  pipe: Pipe | null;
  pending: number;
  eof: boolean;
  done: boolean;
  copying: boolean;
  constructor(readonly from: number, readonly to: number, state: DirectionState) {
    ({ pipe: this.pipe, pending: this.pending, eof: this.eof, done: this.done, copying: this.copying } = state);
  }

  state(): DirectionState {
    return { pipe: this.pipe, pending: this.pending, eof: this.eof, done: this.done, copying: this.copying };
  }
}

/** A connection starts copying: its first bytes are most often a request. */
const FRESH: DirectionState = { pipe: null, pending: 0, eof: false, done: false, copying: true };

class TcpConnection {
  private readonly client: number;
  private readonly up: number;
  private connecting: boolean;
  /** What epoll reported on the client's socket while the connect inside was under way. */
  private clientEvents = 0;
  private closed = false;
  private readonly toServer: Direction;
  private readonly toClient: Direction;
  private connectTimer: ReturnType<Loop['after']> | undefined;

  /**
   * A connection just accepted on `client`: dial the target inside. `clientAddr` is the loop's scratch
   * sockaddr, which the connect then reuses for the target.
   */
  static dial(forward: TcpForward, client: number, clientAddr: Buffer): void {
    const { io, sock, scratch } = forward.loop;
    forward.counts.connections++;
    const up = sock.socket(forward.targetFamily, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (up < 0) {
      forward.counts.refused++;
      closeWithReset(sock, client);
      return;
    }
    io.setsockoptAt(up, IPPROTO_TCP, TCP_NODELAY, scratch.intOne, 4);
    const c = new TcpConnection(forward, { client, up, connecting: true, toServer: FRESH, toClient: FRESH });
    if (forward.sourceIp) c.bindToClientAddress(clientAddr);
    forward.targetAddr.copy(scratch.sockaddrView);
    if (io.connectAt(up, scratch.sockaddr, forward.targetAddr.length) === 0) c.open(UNKNOWN_EVENTS, UNKNOWN_EVENTS);
    else if (io.errno() !== EINPROGRESS) c.abort();
  }

  /**
   * Also how a connection released by another loop is adopted. Adding its sockets to this epoll set reports
   * what is ready now, so the edges the other loop had not acted on come again; a connect still under way
   * gets a full timeout here.
   */
  constructor(private readonly forward: TcpForward, state: ConnectionState) {
    ({ client: this.client, up: this.up, connecting: this.connecting } = state);
    this.toServer = new Direction(this.client, this.up, state.toServer);
    this.toClient = new Direction(this.up, this.client, state.toClient);
    forward.connections.add(this);
    forward.loop.add(this.up, WATCH, this);
    forward.loop.add(this.client, WATCH, this);
    if (this.connecting) this.connectTimer = forward.loop.after(CONNECT_TIMEOUT_MS, () => this.abort());
  }

  /** Leave this loop (see TcpForward.release); a turn it had deferred here finds it closed. */
  release(): ConnectionState {
    const { loop } = this.forward;
    if (this.connectTimer) loop.cancel(this.connectTimer);
    loop.remove(this.client);
    loop.remove(this.up);
    this.closed = true;
    return { client: this.client, up: this.up, connecting: this.connecting, toServer: this.toServer.state(), toClient: this.toClient.state() };
  }

  onEvents(fd: number, events: number): void {
    if (this.closed) return;
    if (this.connecting) {
      if (fd === this.client) this.clientEvents |= events;
      else if (this.connectFailed(events)) this.abort();
      else this.open(events, this.clientEvents);
      return;
    }
    const readable = (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) !== 0;
    const writable = (events & (EPOLLOUT | EPOLLERR)) !== 0;
    const [incoming, outgoing] = fd === this.client ? [this.toServer, this.toClient] : [this.toClient, this.toServer];
    if (readable && !this.pump(incoming, (events & NOT_ONLY_BYTES) === 0)) return;
    // Only bytes stuck in the pipe wait for writability. Without them an EPOLLOUT edge (the peer acknowledged
    // data, which happens on every exchange) has nothing to do: the other socket's bytes bring their own edge.
    if (writable && outgoing.pending > 0) this.pump(outgoing);
  }

  /** Close both sockets in an orderly way (the port is being removed). */
  close(): void {
    this.finish(false);
  }

  /**
   * Source IP (--source-ip-transparent): the connection inside comes from the client's own address, so the
   * server sees who it talks to. Only for a client that is not loopback and of the target's family (see
   * clientSourceAddress), to a server that listens in the namespace; the mark has the namespace's policy
   * routing send the replies back to this socket. If any step fails, the plain way.
   */
  private bindToClientAddress(client: Buffer): void {
    const addr = clientSourceAddress(client, this.forward.targetFamily);
    if (addr && this.forward.listenedHere()) bindTransparent(this.forward.loop.sock, this.up, addr, SOURCE_IP_MARK_VALUE);
  }

  /** Whether the event that ended the connect inside tells a failure (a refusal: an error and a hang-up). */
  private connectFailed(events: number): boolean {
    if ((events & (EPOLLERR | EPOLLHUP)) !== 0) return true;
    // Writable is connected; anything else is asked of the socket.
    return (events & EPOLLOUT) === 0 && getIntOption(this.forward.loop.sock, this.up, SOL_SOCKET, SO_ERROR) !== 0;
  }

  /**
   * The connect inside is done. Edges while connecting were not acted on: what either side sent already goes
   * now, read as their events (`upEvents`, `clientEvents`) tell; a socket that reported nothing readable has
   * nothing yet, and its bytes bring an edge of their own.
   */
  private open(upEvents: number, clientEvents: number): void {
    this.connecting = false;
    if (this.connectTimer) this.forward.loop.cancel(this.connectTimer);
    if ((clientEvents & (EPOLLIN | NOT_ONLY_BYTES)) !== 0 && !this.pump(this.toServer, (clientEvents & NOT_ONLY_BYTES) === 0)) return;
    if ((upEvents & (EPOLLIN | NOT_ONLY_BYTES)) !== 0) this.pump(this.toClient, (upEvents & NOT_ONLY_BYTES) === 0);
  }

  /**
   * Move what `d.from` has into `d.to` until either would block. `onlyBytes`: the call is for an event on
   * `d.from` that reported nothing but bytes, so a short copied read ends it. False once the connection is gone.
   */
  private pump(d: Direction, onlyBytes = false): boolean {
    const { io, sock } = this.forward.loop;
    for (let round = 0; ; round++) {
      if (round === PUMP_ROUNDS) {
        this.forward.loop.defer(() => !this.closed && this.pump(d));
        return true;
      }
      if (d.pending > 0) {
        const n = io.splice(d.pipe!.r, d.to, d.pending, SPLICE_FLAGS);
        if (n < 0) return io.errno() === EAGAIN || this.abort();
        this.delivered(d, n);
        d.pending -= n;
        if (d.pending > 0) return true;
      }
      if (d.eof) {
        this.releasePipe(d);
        if (!d.done) {
          d.done = true;
          sock.shutdown(d.to, SHUT_WR);
        }
        if (this.toServer.done && this.toClient.done) return this.finish(false);
        return true;
      }
      const copied = d.copying;
      const n = copied ? this.copy(d) : this.spliceIn(d);
      if (n > 0) {
        d.copying = n < SMALL_READ;
        if (onlyBytes && copied && n < COPY_SIZE && d.pending === 0) {
          this.releasePipe(d);
          return true;
        }
      } else if (n === 0) d.eof = true;
      else {
        if (io.errno() !== EAGAIN) return this.abort();
        this.releasePipe(d);
        return true;
      }
    }
  }

  /** Read from `d.from` into the pipe: how much (0 at the end, -1 on error). */
  private spliceIn(d: Direction): number {
    d.pipe ??= this.forward.pipes.take();
    const n = this.forward.loop.io.splice(d.from, d.pipe.w, d.pipe.size, SPLICE_FLAGS);
    if (n > 0) d.pending = n;
    return n;
  }

  /**
   * Read from `d.from` into the copy buffer and write it to `d.to`; what `d.to` does not take now goes into a
   * pipe, as spliced bytes would wait (an empty pipe takes the buffer whole). How much was read (0 at the
   * end, -1 on error).
   */
  private copy(d: Direction): number {
    const { io, scratch } = this.forward.loop;
    const n = io.readAt(d.from, scratch.copy, COPY_SIZE);
    if (n <= 0) return n;
    let sent = io.writeAt(d.to, scratch.copy, n);
    if (sent < 0) {
      if (io.errno() !== EAGAIN) return -1;
      sent = 0;
    }
    this.delivered(d, sent);
    if (sent < n) {
      d.pipe ??= this.forward.pipes.take();
      // Cannot fall short: the pipe is empty (nothing was pending) and holds the copy buffer whole.
      d.pending = io.writeAt(d.pipe.w, scratch.copy + sent, n - sent);
      if (d.pending !== n - sent) return -1;
    }
    return n;
  }

  /** Count `n` bytes written by `d` (see counters.ts). */
  private delivered(d: Direction, n: number): void {
    if (d === this.toServer) this.forward.counts.bytesToTarget += n;
    else this.forward.counts.bytesFromTarget += n;
  }

  private releasePipe(d: Direction): void {
    if (d.pipe && d.pending === 0) {
      this.forward.pipes.give(d.pipe);
      d.pipe = null;
    }
  }

  /** Something failed (a reset, a refused or timed-out connect): reset both sides. */
  private abort(): false {
    return this.finish(true);
  }

  private finish(reset: boolean): false {
    if (this.closed) return false;
    this.closed = true;
    const { loop, pipes, connections, counts } = this.forward;
    // A dial that failed (refused, unreachable, timed out); not a connection dropped with its port.
    if (reset && this.connecting) counts.refused++;
    if (this.connectTimer) loop.cancel(this.connectTimer);
    for (const d of [this.toServer, this.toClient]) {
      if (d.pipe && d.pending > 0) pipes.destroy(d.pipe);
      else if (d.pipe) pipes.give(d.pipe);
      d.pipe = null;
    }
    for (const fd of [this.client, this.up]) {
      loop.forget(fd);
      if (reset) closeWithReset(loop.sock, fd);
      else loop.sock.close(fd);
    }
    connections.delete(this);
    return false;
  }
}
