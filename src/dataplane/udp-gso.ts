/**
 * Which datagrams of a batch can leave as one UDP GSO send (UDP_SEGMENT): the kernel cuts the payload
 * every `size` bytes, so a group is datagrams of one length, then at most one shorter datagram, which
 * ends it. The receiver gets the same datagrams, with the same boundaries.
 */

/** The most payload one send can carry: a 65,535-byte IPv4 packet less its IP and UDP headers. */
export const GSO_MAX_BYTES = 65_535 - 20 - 8;
/** The kernel's UDP_MAX_SEGMENTS before Linux 6.9 (128 since). */
export const GSO_MAX_SEGMENTS = 64;

/** End (exclusive) of the group that starts at `start`, among datagrams [start, to) of lengths `length(i)`. */
export function gsoGroupEnd(length: (i: number) => number, start: number, to: number): number {
  const size = length(start);
  let end = start + 1;
  if (size === 0) return end;
  let bytes = size;
  while (end < to && end - start < GSO_MAX_SEGMENTS) {
    const next = length(end);
    if (next === 0 || next > size || bytes + next > GSO_MAX_BYTES) break;
    bytes += next;
    end++;
    if (next < size) break;
  }
  return end;
}
