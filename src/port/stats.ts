/**
 * The relay's counters in the API's words. The relay counts toward and from its target, the side it dials:
 * the child for a published port, the parent (the host) for a reverse one.
 */
import { tcpCounters, udpCounters, type Counters } from '../dataplane/counters.js';
import type { PortStats, Proto } from './types.js';

/** A reverse port's `stats`: a published port's, with Parent for Child. */
export type ReverseStats =
  | { connections: number; active: number; bytesToParent: number; bytesFromParent: number; refused: number }
  | { flows: number; active: number; datagramsToParent: number; datagramsFromParent: number; bytesToParent: number; bytesFromParent: number; dropped: number };

/** A published port's `stats`: its counters, or zeros for one the relay has not reported yet. */
export function portStats(proto: Proto, counters: Counters | undefined): PortStats {
  return named(proto, counters, 'Child') as unknown as PortStats;
}

export function reverseStats(proto: 'tcp' | 'udp', counters: Counters | undefined): ReverseStats {
  return named(proto, counters, 'Parent') as unknown as ReverseStats;
}

/** The counters with the target named `side`, in the API's field order. */
function named(proto: string, counters: Counters | undefined, side: 'Child' | 'Parent'): Record<string, number> {
  const c = counters ?? (proto.startsWith('udp') ? udpCounters() : tcpCounters());
  if (c.proto === 'tcp') {
    return { connections: c.connections, active: c.active, [`bytesTo${side}`]: c.bytesToTarget, [`bytesFrom${side}`]: c.bytesFromTarget, refused: c.refused };
  }
  return {
    flows: c.flows,
    active: c.active,
    [`datagramsTo${side}`]: c.datagramsToTarget,
    [`datagramsFrom${side}`]: c.datagramsFromTarget,
    [`bytesTo${side}`]: c.bytesToTarget,
    [`bytesFrom${side}`]: c.bytesFromTarget,
    dropped: c.dropped,
  };
}
