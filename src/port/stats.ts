/** The relay's counters in the API's words: for a published port, the target the relay dials is the child. */
import { tcpCounters, udpCounters, type Counters } from '../dataplane/counters.js';
import type { PortStats, Proto } from './types.js';

/** A port's `stats`: its counters, or zeros for one the relay has not reported yet. */
export function portStats(proto: Proto, counters: Counters | undefined): PortStats {
  const c = counters ?? (proto.startsWith('udp') ? udpCounters() : tcpCounters());
  if (c.proto === 'tcp') {
    return { connections: c.connections, active: c.active, bytesToChild: c.bytesToTarget, bytesFromChild: c.bytesFromTarget, refused: c.refused };
  }
  return {
    flows: c.flows,
    active: c.active,
    datagramsToChild: c.datagramsToTarget,
    datagramsFromChild: c.datagramsFromTarget,
    bytesToChild: c.bytesToTarget,
    bytesFromChild: c.bytesFromTarget,
    dropped: c.dropped,
  };
}
