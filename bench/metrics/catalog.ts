/** The figures the benchmark reports: names as in latest.json, units, and which way is better. */

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
