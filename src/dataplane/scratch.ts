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
   * (see NativeBlock.fields), a Buffer for the sockaddr, which is copied whole.
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
    const region = (size: number) => {
      const at = offset;
      offset += size;
      const { buffer, byteOffset } = block.fields;
      return { address: block.address + at, bytes: block.view.subarray(at, at + size), fields: new DataView(buffer, byteOffset + at, size) };
    };
    this.copy = region(COPY_SIZE).address;
    const events = region(MAX_EVENTS * EPOLL_EVENT_SIZE);
    [this.events, this.eventsView] = [events.address, events.fields];
    const ctlEvent = region(EPOLL_EVENT_SIZE);
    [this.ctlEvent, this.ctlEventView] = [ctlEvent.address, ctlEvent.fields];
    const sockaddr = region(SOCKADDR_SIZE);
    [this.sockaddr, this.sockaddrView] = [sockaddr.address, sockaddr.bytes];
    const sockaddrLen = region(4);
    [this.sockaddrLen, this.sockaddrLenView] = [sockaddrLen.address, sockaddrLen.fields];
    const intOne = region(4);
    intOne.fields.setInt32(0, 1, true);
    this.intOne = intOne.address;
  }
}
