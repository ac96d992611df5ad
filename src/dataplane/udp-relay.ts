/**
 * UDP in a relay worker: datagrams to a published port's host socket are read in batches (recvmmsg) and
 * passed on, in batches (sendmmsg, a run of same-length datagrams as one GSO send), to a per-client flow
 * socket connected to the target inside the namespace, so the server there sees distinct peers; a flow's
 * replies go back to its own client. With source IP (a reply table from the agent), a flow's socket is
 * bound to the client's own address instead (see source-ip.ts) and sends to the target unconnected, so that
 * it takes the server's replies from whichever address the server answers.
 * A flow ends after 90 s without traffic either way (RootlessKit's figure).
 */
import { constants } from 'node:os';
import { EPOLLIN } from '../sys/relay-io.js';
import { RouteSocket } from '../sys/rtnetlink.js';
import { encodeSockaddr, getIntOption, growReceiveBuffer, MSG_DONTWAIT, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOL_UDP, UDP_SEGMENT, AF_INET, AF_INET6 } from '../sys/socket.js';
import { UDP_FLOW_IDLE_MS, type Target } from './commands.js';
import { udpCounters, type UdpCounters } from './counters.js';
import type { Loop } from './loop.js';
import { clientSourceAddress } from './sockaddr.js';
import { bindTransparent, boundHere, ClientRoutes } from './source-ip.js';
import { Batch, SLOTS } from './udp-batch.js';

const SWEEP_MS = 10_000;
/** Clients waiting for their flow's socket are few; anything beyond this is dropped like a lost datagram. */
const FLOW_LIMIT = 4096;
/** What a GSO send fails with where the path cannot take it: datagrams over its MTU (EMSGSIZE; EINVAL on older kernels), or a tunnel (EIO). */
const GSO_REFUSALS = new Set([constants.errno.EMSGSIZE, constants.errno.EINVAL, constants.errno.EIO]);

interface Flow {
  readonly fd: number;
  readonly key: number | string;
  readonly client: Buffer;
  /** The client's address the socket is bound to (source IP), or null: connected, from an address of its own. */
  readonly source: Buffer | null;
  lastActive: number;
  /** Datagrams of one length go out as one GSO send, until the kernel refuses one for this flow. */
  gso: boolean;
}

export class UdpForward {
  private readonly flows = new Map<number | string, Flow>();
  private readonly batch: Batch;
  private readonly targetAddr: Buffer;
  private readonly family: number;
  /** Whether this kernel has UDP GSO: one without it would ignore the control message and merge datagrams. */
  private readonly gso: boolean;
  private sweep: ReturnType<Loop['after']>;
  /** The forward's traffic (see counters.ts): one loop owns a UDP port, so these are all of it. */
  private readonly counts = udpCounters();
  /** Source IP: the routes of this forward's reply table, on a netlink socket of this thread's. */
  private readonly routes: ClientRoutes | null = null;
  private readonly netlink: RouteSocket | null = null;

  /** `replyTable`: the table the agent's rule for this forward looks in, or null for no source IP. */
  constructor(private readonly loop: Loop, private readonly fd: number, target: Target, replyTable: number | null) {
    this.batch = new Batch(loop);
    this.targetAddr = encodeSockaddr(target.ip, target.port);
    this.family = this.targetAddr.length === 16 ? AF_INET : AF_INET6;
    if (replyTable !== null) {
      this.netlink = RouteSocket.open();
      this.routes = this.netlink && new ClientRoutes(this.netlink, replyTable);
    }
    this.gso = getIntOption(loop.sock, fd, SOL_UDP, UDP_SEGMENT) >= 0;
    loop.nonBlocking(fd);
    loop.add(fd, EPOLLIN, { onEvents: () => this.fromClients() });
    this.sweep = loop.after(SWEEP_MS, () => this.endIdleFlows());
  }

  /** The counters, with the flows alive now as the active ones. */
  reading(): UdpCounters {
    return { ...this.counts, active: this.flows.size };
  }

  /** Stop serving the port and end every flow (the port was removed). */
  drop(): void {
    this.loop.remove(this.fd);
    this.loop.cancel(this.sweep);
    for (const flow of [...this.flows.values()]) this.endFlow(flow);
    this.batch.free();
    this.netlink?.close();
  }

  /** Datagrams from clients: each run of datagrams from one client goes out to its flow in one sendmmsg. */
  private fromClients(): void {
    const n = this.receive(this.fd);
    const now = Date.now();
    let runStart = 0;
    let runFlow: Flow | undefined;
    for (let i = 0; i <= n; i++) {
      let flow: Flow | undefined;
      if (i < n) {
        const key = this.batch.senderKey(i);
        // The run's client again: no lookup (its lastActive is already now).
        if (runFlow && key === runFlow.key) continue;
        flow = this.flowFor(key, i, now);
        if (flow === runFlow) continue;
      }
      if (runFlow) this.send(runFlow, runFlow.fd, runStart, i, runFlow.source && this.targetAddr);
      else this.counts.dropped += i - runStart;
      runStart = i;
      runFlow = flow;
    }
  }

  private flowFor(key: number | string, slot: number, now: number): Flow | undefined {
    const flow = this.flows.get(key) ?? this.startFlow(key, this.batch.sender(slot));
    if (flow) flow.lastActive = now;
    return flow;
  }

  private startFlow(key: number | string, client: Buffer): Flow | undefined {
    if (this.flows.size >= FLOW_LIMIT) return undefined;
    const source = this.transparentSource(client);
    const fd = this.flowSocket(source);
    if (fd < 0) {
      if (source) this.routes!.give(source);
      return undefined;
    }
    const flow: Flow = { fd, key, client, source, lastActive: Date.now(), gso: this.gso };
    this.flows.set(key, flow);
    this.counts.flows++;
    this.loop.add(fd, EPOLLIN, { onEvents: () => this.fromServer(flow) });
    return flow;
  }

  /**
   * The client's address to bind a flow to, its reply route taken; null for the plain way: no source IP,
   * a loopback client or one of another family, or a target that nothing in the namespace is bound at.
   */
  private transparentSource(client: Buffer): Buffer | null {
    if (!this.routes) return null;
    const addr = clientSourceAddress(client, this.family);
    if (!addr || !boundHere(this.loop.sock, this.family, SOCK_DGRAM, this.targetAddr, false)) return null;
    return this.routes.take(addr) ? addr : null;
  }

  /** A flow's socket: bound to `source`, or connected to the target; -1 if it cannot be made. */
  private flowSocket(source: Buffer | null): number {
    const { sock } = this.loop;
    const fd = sock.socket(this.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    growReceiveBuffer(sock, fd);
    if (source ? bindTransparent(sock, fd, source) : sock.connect(fd, this.targetAddr, this.targetAddr.length) === 0) return fd;
    sock.close(fd);
    return -1;
  }

  /** Replies from the server inside, back to the flow's client. */
  private fromServer(flow: Flow): void {
    const n = this.receive(flow.fd);
    if (n <= 0) return;
    flow.lastActive = Date.now();
    this.send(flow, this.fd, 0, n, flow.client);
  }

  /** One batch from `fd`: how many datagrams (-1 on error). A stream's next batch waits to fill (see Loop.coalesce). */
  private receive(fd: number): number {
    const n = this.batch.filled(this.loop.io.recvmmsg(fd, this.batch.receiving(), SLOTS, MSG_DONTWAIT));
    if (n > 1 && n < SLOTS) this.loop.coalesce();
    return n;
  }

  /**
   * Send slots [from, to) of `flow` as received, on `fd`, to `dest` (null: the connected peer); what the kernel
   * will not take now is dropped, as UDP may.
   */
  private send(flow: Flow, fd: number, from: number, to: number, dest: Buffer | null): void {
    const { batch, loop } = this;
    const end = from + batch.sending(from, to, dest, flow.gso);
    for (let m = from; m < end; ) {
      const sent = loop.io.sendmmsg(fd, batch.header(m), end - m, MSG_DONTWAIT);
      if (sent > 0) {
        this.count(fd !== this.fd, batch.firstSlot(m), m + sent < end ? batch.firstSlot(m + sent) : to);
        m += sent;
      } else if (batch.segmented(m) && GSO_REFUSALS.has(loop.io.errno())) {
        // The path cannot take this GSO send (its MTU, a tunnel): datagram by datagram from here on.
        flow.gso = false;
        this.send(flow, fd, batch.firstSlot(m), to, dest);
        return;
      } else {
        // A refused datagram (the server's port closed: ECONNREFUSED) is skipped, not retried.
        this.counts.dropped += (m + 1 < end ? batch.firstSlot(m + 1) : to) - batch.firstSlot(m);
        m++;
      }
    }
  }

  /** Slots [from, to) went out, toward the target or (from it) back to a client. */
  private count(toTarget: boolean, from: number, to: number): void {
    let bytes = 0;
    for (let i = from; i < to; i++) bytes += this.batch.received(i);
    if (toTarget) {
      this.counts.datagramsToTarget += to - from;
      this.counts.bytesToTarget += bytes;
    } else {
      this.counts.datagramsFromTarget += to - from;
      this.counts.bytesFromTarget += bytes;
    }
  }

  private endIdleFlows(): void {
    const oldest = Date.now() - UDP_FLOW_IDLE_MS;
    for (const flow of [...this.flows.values()]) if (flow.lastActive < oldest) this.endFlow(flow);
    this.sweep = this.loop.after(SWEEP_MS, () => this.endIdleFlows());
  }

  private endFlow(flow: Flow): void {
    this.flows.delete(flow.key);
    this.loop.forget(flow.fd);
    this.loop.sock.close(flow.fd);
    if (flow.source) this.routes!.give(flow.source);
  }
}
