/**
 * UDP in a relay worker: datagrams to a published port's host socket are read in batches (recvmmsg) and
 * passed on, in batches (sendmmsg), to a per-client flow socket connected to the target inside the
 * namespace, so the server there sees distinct peers; a flow's replies go back to its own client.
 * A flow ends after 90 s without traffic either way (RootlessKit's figure).
 */
import { EPOLLIN, nativeBlock, type NativeBlock } from '../sys/relay-io.js';
import { encodeSockaddr, growReceiveBuffer, MSG_DONTWAIT, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, AF_INET, AF_INET6 } from '../sys/socket.js';
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
  readonly key: number | string;
  readonly client: Buffer;
  lastActive: number;
}

/**
 * Batch memory: SLOTS datagram slots with their senders' addresses, and two mmsghdr arrays pointing at
 * them, built once: `receiving` (whole slots, sender addresses filled in) and `sending` (each slot's
 * received length, to the connected peer or to one client). A batch only rewrites lengths.
 */
class Batch {
  private readonly mem: NativeBlock;
  private readonly view: Buffer;
  private used = 0;

  constructor(loop: Loop) {
    this.mem = nativeBlock(loop.io, LAYOUT.size);
    this.view = this.mem.view;
    const at = (offset: number) => this.mem.address + offset;
    for (let i = 0; i < SLOTS; i++) {
      const slot = at(LAYOUT.data + i * SLOT_SIZE);
      this.writeIovec(LAYOUT.recvIovs + i * IOVEC_SIZE, slot, SLOT_SIZE);
      this.writeIovec(LAYOUT.sendIovs + i * IOVEC_SIZE, slot, 0);
      this.writeHeader(LAYOUT.recvHdrs + i * MMSGHDR_SIZE, at(LAYOUT.names + i * NAME_SIZE), NAME_SIZE, at(LAYOUT.recvIovs + i * IOVEC_SIZE));
      this.writeHeader(LAYOUT.sendHdrs + i * MMSGHDR_SIZE, 0, 0, at(LAYOUT.sendIovs + i * IOVEC_SIZE));
    }
  }

  /** Address of the receiving headers, after making the slots used last time whole again (the kernel shortens name lengths). */
  receiving(): number {
    for (let i = 0; i < this.used; i++) this.view.writeUInt32LE(NAME_SIZE, LAYOUT.recvHdrs + i * MMSGHDR_SIZE + 8);
    this.used = SLOTS;
    return this.mem.address + LAYOUT.recvHdrs;
  }

  /** How many slots the last receive filled. */
  filled(n: number): number {
    this.used = Math.max(0, n);
    return n;
  }

  /** Length received into slot `i`. */
  received(i: number): number {
    return this.view.readUInt32LE(LAYOUT.recvHdrs + i * MMSGHDR_SIZE + 56);
  }

  /** The sender's sockaddr of slot `i`, read in place: its family, and a key that tells senders apart. */
  senderKey(i: number): number | string {
    const at = LAYOUT.names + i * NAME_SIZE;
    const v = this.view;
    // IPv4 (the common case) as a number, without allocating; IPv6 as text.
    if (v.readUInt16LE(at) === AF_INET) return v.readUInt32BE(at + 4) * 65536 + v.readUInt16BE(at + 2);
    return v.toString('latin1', at, at + v.readUInt32LE(LAYOUT.recvHdrs + i * MMSGHDR_SIZE + 8));
  }

  /** A copy of the sender's sockaddr of slot `i`. */
  sender(i: number): Buffer {
    const at = LAYOUT.names + i * NAME_SIZE;
    return Buffer.from(this.view.subarray(at, at + this.view.readUInt32LE(LAYOUT.recvHdrs + i * MMSGHDR_SIZE + 8)));
  }

  /**
   * Address of sending header `from`, with slots [from, to) set to go as received: to `client`, or
   * (null) to the socket's connected peer.
   */
  sending(from: number, to: number, client: Buffer | null): number {
    const v = this.view;
    let name = 0;
    if (client) {
      client.copy(v, LAYOUT.replyName);
      name = this.mem.address + LAYOUT.replyName;
    }
    for (let i = from; i < to; i++) {
      v.writeUInt32LE(this.received(i), LAYOUT.sendIovs + i * IOVEC_SIZE + 8);
      const hdr = LAYOUT.sendHdrs + i * MMSGHDR_SIZE;
      writeAddress(v, hdr, name);
      v.writeUInt32LE(client ? client.length : 0, hdr + 8);
    }
    return this.mem.address + LAYOUT.sendHdrs + from * MMSGHDR_SIZE;
  }

  free(): void {
    this.mem.free();
  }

  private writeIovec(at: number, base: number, len: number): void {
    writeAddress(this.view, at, base);
    this.view.writeBigUInt64LE(BigInt(len), at + 8);
  }

  private writeHeader(at: number, name: number, nameLen: number, iov: number): void {
    const v = this.view;
    writeAddress(v, at, name);
    v.writeUInt32LE(nameLen, at + 8);
    writeAddress(v, at + 16, iov);
    v.writeBigUInt64LE(1n, at + 24); // msg_iovlen
    v.fill(0, at + 32, at + MMSGHDR_SIZE); // no control data, flags, msg_len
  }
}

/** A 64-bit pointer as two 32-bit writes: no BigInt on the per-datagram path. */
function writeAddress(v: Buffer, at: number, address: number): void {
  v.writeUInt32LE(address % 2 ** 32, at);
  v.writeUInt32LE(Math.floor(address / 2 ** 32), at + 4);
}

/** Offsets in a Batch's memory. */
const LAYOUT = (() => {
  const data = 0;
  const names = data + SLOTS * SLOT_SIZE;
  const replyName = names + SLOTS * NAME_SIZE;
  const recvIovs = replyName + NAME_SIZE;
  const sendIovs = recvIovs + SLOTS * IOVEC_SIZE;
  const recvHdrs = sendIovs + SLOTS * IOVEC_SIZE;
  const sendHdrs = recvHdrs + SLOTS * MMSGHDR_SIZE;
  return { data, names, replyName, recvIovs, sendIovs, recvHdrs, sendHdrs, size: sendHdrs + SLOTS * MMSGHDR_SIZE };
})();

export class UdpForward {
  private readonly flows = new Map<number | string, Flow>();
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
    const b = this.batch;
    const n = b.filled(this.loop.io.recvmmsg(this.fd, b.receiving(), SLOTS, MSG_DONTWAIT, null));
    const now = Date.now();
    let runStart = 0;
    let runFlow: Flow | undefined;
    for (let i = 0; i <= n; i++) {
      const flow = i < n ? this.flowFor(i, now) : undefined;
      if (i < n && flow === runFlow) continue;
      if (runFlow) this.send(runFlow.fd, runStart, i, null);
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
    const flow: Flow = { fd, key, client, lastActive: Date.now() };
    this.flows.set(key, flow);
    this.loop.add(fd, EPOLLIN, { onEvents: () => this.fromServer(flow) });
    return flow;
  }

  /** Replies from the server inside, back to the flow's client. */
  private fromServer(flow: Flow): void {
    const n = this.batch.filled(this.loop.io.recvmmsg(flow.fd, this.batch.receiving(), SLOTS, MSG_DONTWAIT, null));
    if (n <= 0) return;
    flow.lastActive = Date.now();
    this.send(this.fd, 0, n, flow.client);
  }

  /** Send slots [from, to) as received, on `fd`; what the kernel will not take now is dropped, as UDP may. */
  private send(fd: number, from: number, to: number, client: Buffer | null): void {
    const first = this.batch.sending(from, to, client);
    for (let i = from; i < to; ) {
      const sent = this.loop.io.sendmmsg(fd, first + (i - from) * MMSGHDR_SIZE, to - i, MSG_DONTWAIT);
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
