/**
 * iperf3 through the published port: TCP both ways, UDP goodput at a fixed offered rate, and UDP at
 * saturation (`-b 0`: as fast as the client can send) with small and large datagrams and with many flows.
 */
import { run, tail } from '../procs.js';
import type { MetricName } from './catalog.js';
import type { MetricGroup, Target } from './group.js';

/** The fixed offered rate of the first UDP run. */
const UDP_OFFERED = ['-b', '1G', '-l', '1400'];
/** Datagram sizes at saturation: a typical MTU-sized one, and RootlessKit's own benchmark's 32 KiB. */
const UDP_SMALL = 1400;
const UDP_LARGE = 32 * 1024;
/** Concurrent flows (iperf3 streams, each its own client port) in the many-flows run. */
export const UDP_FLOWS = 64;
/** iperf3 waits forever for a UDP reply a forwarder lost: give up this long after the test should have ended. */
const GRACE_MS = 6_000;
const GIGA = 1e9;

interface Sum {
  bits_per_second: number;
  lost_percent?: number;
}

interface Report {
  error?: string;
  end?: { sum?: Sum; sum_received?: Sum; streams?: Array<{ udp?: Sum }> };
}

async function iperf3(target: Target, mode: string[]): Promise<NonNullable<Report['end']>> {
  const { seconds } = target.settings;
  const argv = ['iperf3', '-c', '127.0.0.1', '-p', String(target.ports.iperf), '-t', String(seconds), '--connect-timeout', '5000', '--json', ...mode];
  const r = await run(argv, seconds * 1000 + GRACE_MS);
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`iperf3 exited ${r.code}: ${tail(r.stdout + r.stderr)}`);
  }
  if (report.error !== undefined || report.end === undefined) throw new Error(`iperf3: ${report.error ?? `exited ${r.code} without a summary`}`);
  return report.end;
}

function tcpGroup(reverse: boolean): MetricGroup {
  const metric = reverse ? 'tcp_reverse_gbps' : 'tcp_gbps';
  return {
    label: reverse ? 'iperf3 TCP child -> parent' : 'iperf3 TCP parent -> child',
    metrics: [metric],
    client: 'iperf3',
    estimateSeconds: (s) => s.seconds + 0.5,
    async measure(target) {
      const end = await iperf3(target, reverse ? ['-R'] : []);
      if (!end.sum_received) throw new Error('iperf3: no receiver summary');
      return [{ metric, value: end.sum_received.bits_per_second / GIGA }];
    },
  };
}

export const tcp = tcpGroup(false);
export const tcpReverse = tcpGroup(true);

/** Goodput = offered rate x (1 - loss), with the loss the receiving server reports. In Gbit/s. */
const goodput = (sum: Sum): number => (sum.bits_per_second / GIGA) * (1 - sum.lost_percent! / 100);

async function udpRun(target: Target, mode: string[]): Promise<{ sum: Sum; streams: Sum[] }> {
  const end = await iperf3(target, ['-u', ...mode]);
  const streams = (end.streams ?? []).flatMap((s) => (s.udp ? [s.udp] : []));
  if (end.sum?.lost_percent === undefined || streams.some((s) => s.lost_percent === undefined)) throw new Error('iperf3: no UDP summary');
  return { sum: end.sum, streams };
}

/** A single-flow UDP run: goodput and loss. */
function udpGroup(label: string, gbps: MetricName, loss: MetricName, mode: string[]): MetricGroup {
  return {
    label,
    metrics: [gbps, loss],
    client: 'iperf3',
    estimateSeconds: (s) => s.seconds + 0.5,
    async measure(target) {
      const { sum } = await udpRun(target, mode);
      return [
        { metric: gbps, value: goodput(sum), detail: { sent_gbps: sum.bits_per_second / GIGA } },
        { metric: loss, value: sum.lost_percent! },
      ];
    },
  };
}

export const udp = udpGroup('iperf3 UDP', 'udp_gbps', 'udp_loss_pct', UDP_OFFERED);
export const udpSaturation = udpGroup('iperf3 UDP -b 0', 'udp_sat_gbps', 'udp_sat_loss_pct', ['-b', '0', '-l', String(UDP_SMALL)]);
export const udpSaturationLarge = udpGroup('iperf3 UDP -b 0, 32 KiB', 'udp_sat32k_gbps', 'udp_sat32k_loss_pct', ['-b', '0', '-l', String(UDP_LARGE)]);

/**
 * UDP_FLOWS flows at once at saturation: the total goodput, the loss over all of them, and the goodput of
 * the flow that got least through (a starved flow shows as 0).
 */
export const udpFlows: MetricGroup = {
  label: `iperf3 UDP -b 0, ${UDP_FLOWS} flows`,
  metrics: ['udp_flows_gbps', 'udp_flows_min_mbps', 'udp_flows_loss_pct'],
  client: 'iperf3',
  estimateSeconds: (s) => s.seconds + 1,
  async measure(target) {
    const { sum, streams } = await udpRun(target, ['-b', '0', '-l', String(UDP_SMALL), '-P', String(UDP_FLOWS)]);
    if (streams.length !== UDP_FLOWS) throw new Error(`iperf3: ${streams.length} UDP streams reported, ${UDP_FLOWS} started`);
    const perFlow = streams.map((s) => goodput(s) * 1000);
    return [
      { metric: 'udp_flows_gbps', value: goodput(sum), detail: { sent_gbps: sum.bits_per_second / GIGA, max_flow_mbps: Math.max(...perFlow) } },
      { metric: 'udp_flows_min_mbps', value: Math.min(...perFlow) },
      { metric: 'udp_flows_loss_pct', value: sum.lost_percent! },
    ];
  },
};
