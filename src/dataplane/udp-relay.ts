/**
 * UDP in a relay worker: datagrams to a published port's host socket are read in batches (recvmmsg) and
 * passed on, in batches (sendmmsg), to a per-client flow socket connected to the target inside the
 * namespace, so the server there sees distinct peers; a flow's replies go back to its own client.
 * A flow ends after 90 s without traffic either way (RootlessKit's figure).
 */
import { EPOLLIN, MSG_DONTWAIT, nativeBlock, type NativeBlock } from '../sys/relay-io.js';
import { encodeSockaddr, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, AF_INET, AF_INET6 } from '../sys/socket.js';
import type { Target } from './commands.js';
import type { Loop } from './loop.js';

export const UDP_FLOW_IDLE_MS = 90_000;
const SWEEP_MS = 10_000;
const SLOTS = 64;
/** The largest UDP payload: a slot must hold any datagram whole. */
const SLOT_SIZE = 65_536;
const NAME_SIZE = 32;
const IOVEC_SIZE = 16;
/** struct mmsghdr on x86_64: struct msghdr (56 bytes) then msg_len, padded. */
const MMSGHDR_SIZE = 64;
/** Clients waiting for their flow's socket are few; anything beyond this is dropped like a lost datagram. */
const FLOW_LIMIT = 4096;

interface Flow {
  readonly fd: number;
  readonly key: string;
  readonly client: Buffer;
  lastActive: number;
}

/** Batch buffers: SLOTS datagrams with their addresses, and the mmsghdr array that points at them. */
class Batch {
  private readonly mem: NativeBlock;
  private readonly dataAt: number;
  private readonly namesAt: number;
  private readonly iovsAt: number;
  private readonly hdrsAt: number;

  constructor(loop: Loop) {
    this.dataAt = 0;
    this.namesAt = SLOTS * SLOT_SIZE;
    this.iovsAt = this.namesAt + SLOTS * NAME_SIZE;
    this.hdrsAt = this.iovsAt + SLOTS * IOVEC_SIZE;
    this.mem = nativeBlock(loop.io, this.hdrsAt + SLOTS * MMSGHDR_SIZE);
  }

  get view(): Buffer {
    return this.mem.view;
  }

  /** Address of header `i`, where a recvmmsg/sendmmsg batch starts. */
  header(i: number): number {
    return this.mem.address + this.hdrsAt + i * MMSGHDR_SIZE;
  }

  /** Point every header at its slot, ready to receive whole datagrams (and their senders, if `names`). */
  prepareReceive(names: boolean): void {
    for (let i = 0; i < SLOTS; i++) this.setHeader(i, SLOT_SIZE, names ? NAME_SIZE : 0);
  }

  /** Length received into slot `i`. */
  received(i: number): number {
    return this.view.readUInt32LE(this.hdrsAt + i * MMSGHDR_SIZE + 56);
  }

  /** The sender's sockaddr bytes of slot `i` (a view, valid until the next batch). */
  sender(i: number): Buffer {
    const hdr = this.hdrsAt + i * MMSGHDR_SIZE;
    const at = this.namesAt + i * NAME_SIZE;
    return this.view.subarray(at, at + this.view.readUInt32LE(hdr + 8));
  }

  /** Make header `i` send slot `i`'s `len` bytes, to `to` (or to the connected peer when null). */
  prepareSend(i: number, len: number, to: Buffer | null): void {
    if (to) to.copy(this.view, this.namesAt + i * NAME_SIZE);
    this.setHeader(i, len, to ? to.length : 0);
  }

  free(): void {
    this.mem.free();
  }

  private setHeader(i: number, len: number, nameLen: number): void {
    const v = this.view;
    const base = this.mem.address;
    const iov = this.iovsAt + i * IOVEC_SIZE;
    v.writeBigUInt64LE(BigInt(base + this.dataAt + i * SLOT_SIZE), iov);
    v.writeBigUInt64LE(BigInt(len), iov + 8);
    const hdr = this.hdrsAt + i * MMSGHDR_SIZE;
    v.writeBigUInt64LE(nameLen ? BigInt(base + this.namesAt + i * NAME_SIZE) : 0n, hdr);
    v.writeUInt32LE(nameLen, hdr + 8);
    v.writeBigUInt64LE(BigInt(base + iov), hdr + 16);
    v.writeBigUInt64LE(1n, hdr + 24);
    v.writeBigUInt64LE(0n, hdr + 32);
    v.writeBigUInt64LE(0n, hdr + 40);
    v.writeInt32LE(0, hdr + 48);
  }
}

export class UdpForward {
  private readonly flows = new Map<string, Flow>();
  private readonly batch: Batch;
  private readonly targetAddr: Buffer;
  private readonly family: number;
  private sweep: ReturnType<Loop['after']>;

  constructor(private readonly loop: Loop, private readonly fd: number, target: Target) {
    this.batch = new Batch(loop);
    this.targetAddr = encodeSockaddr(target.ip, target.port);
    this.family = this.targetAddr.length === 16 ? AF_INET : AF_INET6;
    loop.nonBlocking(fd);
    loop.add(fd, EPOLLIN, { onEvents: () => this.fromClients() });
    this.sweep = loop.after(SWEEP_MS, () => this.endIdleFlows());
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
    const { io } = this.loop;
    const b = this.batch;
    b.prepareReceive(true);
    const n = io.recvmmsg(this.fd, b.header(0), SLOTS, MSG_DONTWAIT, null);
    const now = Date.now();
    let runStart = 0;
    let runFlow: Flow | undefined;
    for (let i = 0; i <= n; i++) {
      const flow = i < n ? this.flowFor(b.sender(i), now) : undefined;
      if (i < n && flow === runFlow) continue;
      if (runFlow) this.sendRun(runFlow.fd, runStart, i, null);
      runStart = i;
      runFlow = flow;
    }
  }

  private flowFor(sender: Buffer, now: number): Flow | undefined {
    const key = sender.toString('latin1');
    let flow = this.flows.get(key);
    if (!flow) flow = this.startFlow(key, Buffer.from(sender));
    if (flow) flow.lastActive = now;
    return flow;
  }

  private startFlow(key: string, client: Buffer): Flow | undefined {
    if (this.flows.size >= FLOW_LIMIT) return undefined;
    const { sock } = this.loop;
    const fd = sock.socket(this.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return undefined;
    if (sock.connect(fd, this.targetAddr, this.targetAddr.length) !== 0) {
      sock.close(fd);
      return undefined;
    }
    const flow: Flow = { fd, key, client, lastActive: Date.now() };
    this.flows.set(key, flow);
    this.loop.add(fd, EPOLLIN, { onEvents: () => this.fromServer(flow) });
    return flow;
  }

  /** Replies from the server inside, back to the flow's client. */
  private fromServer(flow: Flow): void {
    const { io } = this.loop;
    const b = this.batch;
    b.prepareReceive(false);
    const n = io.recvmmsg(flow.fd, b.header(0), SLOTS, MSG_DONTWAIT, null);
    if (n <= 0) return;
    flow.lastActive = Date.now();
    this.sendRun(this.fd, 0, n, flow.client);
  }

  /** Send slots [from, to) as received, on `fd`; what the kernel will not take now is dropped, as UDP may. */
  private sendRun(fd: number, from: number, to: number, dest: Buffer | null): void {
    const b = this.batch;
    for (let i = from; i < to; i++) b.prepareSend(i, b.received(i), dest);
    for (let i = from; i < to; ) {
      const sent = this.loop.io.sendmmsg(fd, b.header(i), to - i, MSG_DONTWAIT);
      // A refused datagram (the server's port closed: ECONNREFUSED) is skipped, not retried.
      i += sent > 0 ? sent : 1;
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
