/**
 * UDP in a relay worker: datagrams to a published port's host socket are read in batches (recvmmsg) and
 * passed on, in batches (sendmmsg, a run of same-length datagrams as one GSO send), to a per-client flow
 * socket connected to the target inside the namespace, so the server there sees distinct peers; a flow's
 * replies go back to its own client.
 * A flow ends after 90 s without traffic either way (RootlessKit's figure).
 */
import { constants } from 'node:os';
import { EPOLLIN } from '../sys/relay-io.js';
import { encodeSockaddr, getIntOption, growReceiveBuffer, MSG_DONTWAIT, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOL_UDP, UDP_SEGMENT, AF_INET, AF_INET6 } from '../sys/socket.js';
import { UDP_FLOW_IDLE_MS, type Target } from './commands.js';
import { udpCounters, type UdpCounters } from './counters.js';
import type { Loop } from './loop.js';
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

  constructor(private readonly loop: Loop, private readonly fd: number, target: Target) {
    this.batch = new Batch(loop);
    this.targetAddr = encodeSockaddr(target.ip, target.port);
    this.family = this.targetAddr.length === 16 ? AF_INET : AF_INET6;
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
  }

  /** Datagrams from clients: each run of datagrams from one client goes out to its flow in one sendmmsg. */
  private fromClients(): void {
    const n = this.receive(this.fd);
    const now = Date.now();
    let runStart = 0;
    let runFlow: Flow | undefined;
    for (let i = 0; i <= n; i++) {
      const flow = i < n ? this.flowFor(i, now) : undefined;
      if (i < n && flow === runFlow) continue;
      if (runFlow) this.send(runFlow, runFlow.fd, runStart, i, null);
      else this.counts.dropped += i - runStart;
      runStart = i;
      runFlow = flow;
    }
  }

  private flowFor(slot: number, now: number): Flow | undefined {
    const key = this.batch.senderKey(slot);
    const flow = this.flows.get(key) ?? this.startFlow(key, this.batch.sender(slot));
    if (flow) flow.lastActive = now;
    return flow;
  }

  private startFlow(key: number | string, client: Buffer): Flow | undefined {
    if (this.flows.size >= FLOW_LIMIT) return undefined;
    const { sock } = this.loop;
    const fd = sock.socket(this.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return undefined;
    growReceiveBuffer(sock, fd);
    if (sock.connect(fd, this.targetAddr, this.targetAddr.length) !== 0) {
      sock.close(fd);
      return undefined;
    }
    const flow: Flow = { fd, key, client, lastActive: Date.now(), gso: this.gso };
    this.flows.set(key, flow);
    this.counts.flows++;
    this.loop.add(fd, EPOLLIN, { onEvents: () => this.fromServer(flow) });
    return flow;
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
    const n = this.batch.filled(this.loop.io.recvmmsg(fd, this.batch.receiving(), SLOTS, MSG_DONTWAIT, null));
    if (n > 1 && n < SLOTS) this.loop.coalesce();
    return n;
  }

  /** Send slots [from, to) of `flow` as received, on `fd`; what the kernel will not take now is dropped, as UDP may. */
  private send(flow: Flow, fd: number, from: number, to: number, client: Buffer | null): void {
    const { batch, loop } = this;
    const end = from + batch.sending(from, to, client, flow.gso);
    for (let m = from; m < end; ) {
      const sent = loop.io.sendmmsg(fd, batch.header(m), end - m, MSG_DONTWAIT);
      if (sent > 0) {
        this.count(client === null, batch.firstSlot(m), m + sent < end ? batch.firstSlot(m + sent) : to);
        m += sent;
      } else if (batch.segmented(m) && GSO_REFUSALS.has(loop.io.errno())) {
        // The path cannot take this GSO send (its MTU, a tunnel): datagram by datagram from here on.
        flow.gso = false;
        this.send(flow, fd, batch.firstSlot(m), to, client);
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
  }
}
