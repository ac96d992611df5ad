/** iperf3 through the published port: TCP both ways, and UDP goodput at a fixed offered rate. */
import { run, tail } from '../procs.js';
import type { MetricGroup, Target } from './group.js';

const UDP = ['-u', '-b', '1G', '-l', '1400'];
/** iperf3 waits forever for a UDP reply a forwarder lost: give up this long after the test should have ended. */
const GRACE_MS = 6_000;
const GIGA = 1e9;

interface Sum {
  bits_per_second: number;
  lost_percent?: number;
}

interface Report {
  error?: string;
  end?: { sum?: Sum; sum_received?: Sum };
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

/** Goodput = offered rate x (1 - loss), with the loss the receiving server reports. */
export const udp: MetricGroup = {
  label: 'iperf3 UDP',
  metrics: ['udp_gbps', 'udp_loss_pct'],
  client: 'iperf3',
  estimateSeconds: (s) => s.seconds + 0.5,
  async measure(target) {
    const { sum } = await iperf3(target, UDP);
    if (sum?.lost_percent === undefined) throw new Error('iperf3: no UDP summary');
    const goodput = (sum.bits_per_second / GIGA) * (1 - sum.lost_percent / 100);
    return [
      { metric: 'udp_gbps', value: goodput, detail: { sent_gbps: sum.bits_per_second / GIGA } },
      { metric: 'udp_loss_pct', value: sum.lost_percent },
    ];
  },
};
