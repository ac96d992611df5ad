/** The measurement steps of one case run, in the order they run (startup is measured by launching). */
import type { MetricGroup } from './group.js';
import { tcp, tcpReverse, udp, udpFlows, udpSaturation, udpSaturationLarge } from './iperf.js';
import { idleFootprint, idleMemory } from './rss.js';
import { connections, keepAlive } from './wrk.js';

export const GROUPS: readonly MetricGroup[] = [idleFootprint, tcp, tcpReverse, udp, udpSaturation, udpSaturationLarge, udpFlows, connections, keepAlive, idleMemory];
