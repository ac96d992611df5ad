/**
 * A UDP forward's batch memory: datagram slots with their senders' addresses, and the mmsghdr arrays
 * that recvmmsg and sendmmsg use on them, in native memory that stays put.
 */
import { nativeBlock, type NativeBlock } from '../sys/relay-io.js';
import { AF_INET } from '../sys/socket.js';
import type { Loop } from './loop.js';

/** Datagrams per recvmmsg. */
export const SLOTS = 64;
/** The largest UDP payload: a slot must hold any datagram whole. */
const SLOT_SIZE = 65_536;
const NAME_SIZE = 32;
const IOVEC_SIZE = 16;
/** struct mmsghdr on x86_64: struct msghdr (56 bytes) then msg_len, padded. */
export const MMSGHDR_SIZE = 64;

/**
 * Batch memory: SLOTS datagram slots with their senders' addresses, and two mmsghdr arrays pointing at
 * them, built once: `receiving` (whole slots, sender addresses filled in) and `sending` (each slot's
 * received length, to the connected peer or to one client). A batch only rewrites lengths.
 */
export class Batch {
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
