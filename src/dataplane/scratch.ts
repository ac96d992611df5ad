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
  /** Addresses of each region; the views are the same bytes, for JS to read and fill. */
  readonly copy: number;
  readonly events: number;
  readonly eventsView: Buffer;
  readonly ctlEvent: number;
  readonly ctlEventView: Buffer;
  readonly sockaddr: number;
  readonly sockaddrView: Buffer;
  readonly sockaddrLen: number;
  readonly sockaddrLenView: Buffer;
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
    [this.copy] = region(COPY_SIZE);
    [this.events, this.eventsView] = region(MAX_EVENTS * EPOLL_EVENT_SIZE);
    [this.ctlEvent, this.ctlEventView] = region(EPOLL_EVENT_SIZE);
    [this.sockaddr, this.sockaddrView] = region(SOCKADDR_SIZE);
    [this.sockaddrLen, this.sockaddrLenView] = region(4);
    const [intOne, intOneView] = region(4);
    intOneView.writeInt32LE(1);
    this.intOne = intOne;
  }
}
