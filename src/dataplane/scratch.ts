/**
 * A loop's native memory for the calls made per message or per connection, which take addresses (see
 * src/sys/relay-io.ts): one block, carved into the copy buffer, epoll's event array, one epoll_event for
 * epoll_ctl, a sockaddr with its length (accept4, connect) and an int 1 (setsockopt). One loop runs in one
 * thread and each call is done with its memory before the next, so a loop needs one of each.
 */
import { EPOLL_EVENT_SIZE, nativeBlock, type RelayCalls } from '../sys/relay-io.js';

/** Where a copied read goes: a full read means a bulk flow (see tcp-relay.ts). */
export const COPY_SIZE = 64 << 10;
export const MAX_EVENTS = 256;
/** sockaddr_in6, the larger of the two families. */
const SOCKADDR_SIZE = 28;

export class Scratch {
  /**
   * Addresses of each region; the views are the same bytes, for JS to read and fill: DataViews for fields
   * (Buffer's read and write methods validate their arguments on every call), a Buffer for the sockaddr,
   * which is copied whole.
   */
  readonly copy: number;
  readonly events: number;
  readonly eventsView: DataView;
  readonly ctlEvent: number;
  readonly ctlEventView: DataView;
  readonly sockaddr: number;
  readonly sockaddrView: Buffer;
  readonly sockaddrLen: number;
  readonly sockaddrLenView: DataView;
  readonly intOne: number;

  constructor(io: RelayCalls) {
    const sizes = [COPY_SIZE, MAX_EVENTS * EPOLL_EVENT_SIZE, EPOLL_EVENT_SIZE, SOCKADDR_SIZE, 4, 4];
    // Never freed: a loop lives as long as its thread (or, the starter's, as long as the engine).
    const block = nativeBlock(io, sizes.reduce((a, b) => a + b));
    let offset = 0;
    const region = (size: number): [number, Buffer] => {
      const at = offset;
      offset += size;
      return [block.address + at, block.view.subarray(at, at + size)];
    };
    const fields = (b: Buffer) => new DataView(b.buffer, b.byteOffset, b.byteLength);
    [this.copy] = region(COPY_SIZE);
    const [events, eventsBytes] = region(MAX_EVENTS * EPOLL_EVENT_SIZE);
    const [ctlEvent, ctlEventBytes] = region(EPOLL_EVENT_SIZE);
    [this.sockaddr, this.sockaddrView] = region(SOCKADDR_SIZE);
    const [sockaddrLen, sockaddrLenBytes] = region(4);
    const [intOne, intOneBytes] = region(4);
    intOneBytes.writeInt32LE(1);
    [this.events, this.eventsView] = [events, fields(eventsBytes)];
    [this.ctlEvent, this.ctlEventView] = [ctlEvent, fields(ctlEventBytes)];
    [this.sockaddrLen, this.sockaddrLenView] = [sockaddrLen, fields(sockaddrLenBytes)];
    this.intOne = intOne;
  }
}
