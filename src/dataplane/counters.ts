/**
 * A forward's traffic counters. The relay adds to plain numbers on its hot path (no message, no allocation
 * per byte or per datagram); a reading asks every loop for its numbers and sums them.
 * "Target" is the side the relay dials: the child's server for a published port, the host's for a reverse one.
 */

export interface TcpCounters {
  proto: 'tcp';
  /** Connections accepted. */
  connections: number;
  /** ...of which still open. */
  active: number;
  bytesToTarget: number;
  bytesFromTarget: number;
  /** Connections whose dial to the target failed (refused, unreachable, timed out): the client was reset. */
  refused: number;
}

export interface UdpCounters {
  proto: 'udp';
  /** Flows (one per client address) started. */
  flows: number;
  /** ...of which not yet ended by idleness. */
  active: number;
  datagramsToTarget: number;
  datagramsFromTarget: number;
  bytesToTarget: number;
  bytesFromTarget: number;
  /** Datagrams either way that the relay could not pass on (no flow socket, a send the kernel refused). */
  dropped: number;
}

export type Counters = TcpCounters | UdpCounters;

export function tcpCounters(): TcpCounters {
  return { proto: 'tcp', connections: 0, active: 0, bytesToTarget: 0, bytesFromTarget: 0, refused: 0 };
}

export function udpCounters(): UdpCounters {
  return { proto: 'udp', flows: 0, active: 0, datagramsToTarget: 0, datagramsFromTarget: 0, bytesToTarget: 0, bytesFromTarget: 0, dropped: 0 };
}

/** `a` plus `b`, field by field (the same forward's numbers from two loops); `a` when `b` is of the other proto. */
export function addCounters<C extends Counters>(a: C, b: Counters | undefined): C {
  if (!b || b.proto !== a.proto) return a;
  const sum: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) if (typeof value === 'number') sum[key] = (a as unknown as Record<string, number>)[key]! + value;
  return sum as unknown as C;
}

/** Sums per-forward readings of several loops into one reading per forward id. */
export function sumReadings(readings: Iterable<Iterable<readonly [number, Counters]>>): Map<number, Counters> {
  const total = new Map<number, Counters>();
  for (const reading of readings) {
    for (const [id, counters] of reading) {
      const known = total.get(id);
      total.set(id, known ? addCounters(known, counters) : { ...counters });
    }
  }
  return total;
}
