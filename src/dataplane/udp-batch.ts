/**
 * A UDP forward's batch memory: datagram slots with their senders' addresses, and the mmsghdr arrays
 * that recvmmsg and sendmmsg use on them, in native memory that stays put.
 */
import { nativeBlock, type NativeBlock } from '../sys/relay-io.js';
import { AF_INET, SOL_UDP, UDP_SEGMENT } from '../sys/socket.js';
import type { Loop } from './loop.js';
import { gsoGroupEnd } from './udp-gso.js';

/** Datagrams per recvmmsg. */
export const SLOTS = 64;
/** The largest UDP payload: a slot must hold any datagram whole. */
const SLOT_SIZE = 65_536;
const NAME_SIZE = 32;
const IOVEC_SIZE = 16;
/** struct mmsghdr on x86_64: struct msghdr (56 bytes) then msg_len, padded. */
const MMSGHDR_SIZE = 64;
const CMSG_HEADER_SIZE = 16;
/** CMSG_SPACE(sizeof(uint16_t)): one UDP_SEGMENT control message. */
const CONTROL_SIZE = 24;

/**
 * Batch memory: SLOTS datagram slots with their senders' addresses, and two mmsghdr arrays pointing at
 * them, built once: `receiving` (whole slots, sender addresses filled in) and `sending` (each slot's
 * received length, to the connected peer or to one client, one datagram or one GSO group a header).
 */
export class Batch {
  private readonly mem: NativeBlock;
  /** The per-datagram fields are read and written here (see NativeBlock.fields). */
  private readonly fields: DataView;
  private readonly view: Buffer;
  private used = 0;
  private readonly firstSlots = new Int32Array(SLOTS);
  private readonly length = (i: number) => this.received(i);

  constructor(loop: Loop) {
    this.mem = nativeBlock(loop.io, LAYOUT.size);
    this.view = this.mem.view;
    this.fields = this.mem.fields;
    const at = (offset: number) => this.mem.address + offset;
    for (let i = 0; i < SLOTS; i++) {
      const slot = at(LAYOUT.data + i * SLOT_SIZE);
      this.writeIovec(LAYOUT.recvIovs + i * IOVEC_SIZE, slot, SLOT_SIZE);
      this.writeIovec(LAYOUT.sendIovs + i * IOVEC_SIZE, slot, 0);
      this.writeHeader(LAYOUT.recvHdrs + i * MMSGHDR_SIZE, at(LAYOUT.names + i * NAME_SIZE), NAME_SIZE, at(LAYOUT.recvIovs + i * IOVEC_SIZE));
      this.writeHeader(LAYOUT.sendHdrs + i * MMSGHDR_SIZE, 0, 0, at(LAYOUT.sendIovs + i * IOVEC_SIZE));
      this.writeSegmentControl(LAYOUT.controls + i * CONTROL_SIZE);
    }
  }

  /** Address of the receiving headers, after making the slots used last time whole again (the kernel shortens name lengths). */
  receiving(): number {
    for (let i = 0; i < this.used; i++) this.fields.setUint32(LAYOUT.recvHdrs + i * MMSGHDR_SIZE + 8, NAME_SIZE, true);
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
    return this.fields.getUint32(LAYOUT.recvHdrs + i * MMSGHDR_SIZE + 56, true);
  }

  /** The sender's sockaddr of slot `i`, read in place: its family, and a key that tells senders apart. */
  senderKey(i: number): number | string {
    const at = LAYOUT.names + i * NAME_SIZE;
    const f = this.fields;
    // IPv4 (the common case) as a number, without allocating; IPv6 as text.
    if (f.getUint16(at, true) === AF_INET) return f.getUint32(at + 4) * 65536 + f.getUint16(at + 2);
    return this.view.toString('latin1', at, at + f.getUint32(LAYOUT.recvHdrs + i * MMSGHDR_SIZE + 8, true));
  }

  /** A copy of the sender's sockaddr of slot `i`. */
  sender(i: number): Buffer {
    const at = LAYOUT.names + i * NAME_SIZE;
    return Buffer.from(this.view.subarray(at, at + this.fields.getUint32(LAYOUT.recvHdrs + i * MMSGHDR_SIZE + 8, true)));
  }

  /**
   * Lays out slots [from, to) to go as received, to `client` or (null) to the socket's connected peer, as
   * sending headers from `from` on, and returns how many. With `gso`, a header carries a whole group of
   * `gsoGroupEnd` (its slots' iovecs, and the group's datagram length as UDP_SEGMENT); else one datagram.
   */
  sending(from: number, to: number, client: Buffer | null, gso: boolean): number {
    const f = this.fields;
    let name = 0;
    if (client) {
      client.copy(this.view, LAYOUT.replyName);
      name = this.mem.address + LAYOUT.replyName;
    }
    for (let i = from; i < to; i++) f.setUint32(LAYOUT.sendIovs + i * IOVEC_SIZE + 8, this.received(i), true);
    let m = from;
    for (let i = from; i < to; m++) {
      const end = gso ? gsoGroupEnd(this.length, i, to) : i + 1;
      const hdr = LAYOUT.sendHdrs + m * MMSGHDR_SIZE;
      writeAddress(f, hdr, name);
      f.setUint32(hdr + 8, client ? client.length : 0, true);
      writeAddress(f, hdr + 16, this.mem.address + LAYOUT.sendIovs + i * IOVEC_SIZE);
      f.setUint32(hdr + 24, end - i, true); // msg_iovlen
      const control = LAYOUT.controls + m * CONTROL_SIZE;
      if (end - i > 1) f.setUint16(control + CMSG_HEADER_SIZE, this.received(i), true);
      writeAddress(f, hdr + 32, end - i > 1 ? this.mem.address + control : 0);
      f.setUint32(hdr + 40, end - i > 1 ? CONTROL_SIZE : 0, true);
      this.firstSlots[m] = i;
      i = end;
    }
    return m - from;
  }

  /** Address of sending header `m`. */
  header(m: number): number {
    return this.mem.address + LAYOUT.sendHdrs + m * MMSGHDR_SIZE;
  }

  /** Whether sending header `m` carries a GSO group. */
  segmented(m: number): boolean {
    return this.fields.getUint32(LAYOUT.sendHdrs + m * MMSGHDR_SIZE + 40, true) !== 0;
  }

  /** The first slot that sending header `m` carries. */
  firstSlot(m: number): number {
    return this.firstSlots[m]!;
  }

  free(): void {
    this.mem.free();
  }

  private writeIovec(at: number, base: number, len: number): void {
    writeAddress(this.fields, at, base);
    this.view.writeBigUInt64LE(BigInt(len), at + 8);
  }

  /** struct cmsghdr { size_t len; int level; int type; } then the u16 segment size, written per send. */
  private writeSegmentControl(at: number): void {
    this.view.writeBigUInt64LE(BigInt(CMSG_HEADER_SIZE + 2), at);
    this.view.writeInt32LE(SOL_UDP, at + 8);
    this.view.writeInt32LE(UDP_SEGMENT, at + 12);
  }

  private writeHeader(at: number, name: number, nameLen: number, iov: number): void {
    const v = this.view;
    writeAddress(this.fields, at, name);
    v.writeUInt32LE(nameLen, at + 8);
    writeAddress(this.fields, at + 16, iov);
    v.writeBigUInt64LE(1n, at + 24); // msg_iovlen
    v.fill(0, at + 32, at + MMSGHDR_SIZE); // no control data, flags, msg_len
  }
}

/** A 64-bit pointer as two 32-bit writes: no BigInt on the per-datagram path. */
function writeAddress(f: DataView, at: number, address: number): void {
  f.setUint32(at, address % 2 ** 32, true);
  f.setUint32(at + 4, Math.floor(address / 2 ** 32), true);
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
  const controls = sendHdrs + SLOTS * MMSGHDR_SIZE;
  return { data, names, replyName, recvIovs, sendIovs, recvHdrs, sendHdrs, controls, size: controls + SLOTS * CONTROL_SIZE };
})();
