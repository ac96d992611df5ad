/** The figures the benchmark reports: names as in latest.json, units, and which way is better. */
import { UDP_FLOWS } from './iperf.js';

export interface MetricInfo {
  unit: string;
  title: string;
  higherIsBetter: boolean;
  /** False where a ratio means nothing: a loss percentage next to direct's near-zero one. */
  ratio?: boolean;
}

export const METRICS = {
  tcp_gbps: { unit: 'Gbit/s', title: 'TCP parent → child', higherIsBetter: true },
  tcp_reverse_gbps: { unit: 'Gbit/s', title: 'TCP child → parent', higherIsBetter: true },
  udp_gbps: { unit: 'Gbit/s', title: 'UDP goodput at 1 Gbit/s offered', higherIsBetter: true },
  udp_loss_pct: { unit: '%', title: 'UDP loss at 1 Gbit/s offered', higherIsBetter: false, ratio: false },
  udp_sat_gbps: { unit: 'Gbit/s', title: 'UDP goodput at saturation, 1,400-byte datagrams', higherIsBetter: true },
  udp_sat_loss_pct: { unit: '%', title: 'UDP loss at saturation, 1,400-byte datagrams', higherIsBetter: false, ratio: false },
  udp_sat32k_gbps: { unit: 'Gbit/s', title: 'UDP goodput at saturation, 32 KiB datagrams', higherIsBetter: true },
  udp_sat32k_loss_pct: { unit: '%', title: 'UDP loss at saturation, 32 KiB datagrams', higherIsBetter: false, ratio: false },
  udp_flows_gbps: { unit: 'Gbit/s', title: `UDP goodput, ${UDP_FLOWS} flows at saturation`, higherIsBetter: true },
  udp_flows_min_mbps: { unit: 'Mbit/s', title: `UDP goodput of the least served of ${UDP_FLOWS} flows`, higherIsBetter: true },
  udp_flows_loss_pct: { unit: '%', title: `UDP loss, ${UDP_FLOWS} flows at saturation`, higherIsBetter: false, ratio: false },
  conn_per_s: { unit: 'conn/s', title: 'HTTP connections (Connection: close)', higherIsBetter: true },
  keepalive_rps: { unit: 'req/s', title: 'HTTP keep-alive requests', higherIsBetter: true },
  p99_ms: { unit: 'ms', title: 'Keep-alive p99 latency', higherIsBetter: false },
  startup_ms: { unit: 'ms', title: 'Startup until the port answers', higherIsBetter: false },
  idle_pss_mb: { unit: 'MiB', title: 'Forwarder PSS (parent + child), idle after one request', higherIsBetter: false },
  rss_mb: { unit: 'MiB', title: 'Forwarder RSS (parent + child) with idle connections', higherIsBetter: false },
  pss_mb: { unit: 'MiB', title: 'Forwarder PSS (parent + child) with idle connections', higherIsBetter: false },
} as const satisfies Record<string, MetricInfo>;

export type MetricName = keyof typeof METRICS;

export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];
