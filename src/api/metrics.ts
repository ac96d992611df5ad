/**
 * GET /metrics: the ports' traffic counters and the processes' resources in the Prometheus text exposition
 * format (version 0.0.4), written here rather than with a client library: the page is a handful of
 * families rebuilt from counters the relay already keeps, so a registry of metric objects would only copy them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { PortStats, PortStatus } from '../port/types.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Readonly<Record<string, string>>;

interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  samples: Array<{ labels: Labels; value: number }>;
}

/** What one family takes from a port's stats (undefined: this port has no such sample). */
interface PortFamily {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  samples(stats: PortStats): Array<[Labels, number]>;
}

const value = (stats: PortStats, key: string): number | undefined => (stats as unknown as Record<string, number | undefined>)[key];
const one = (key: string) => (stats: PortStats): Array<[Labels, number]> => {
  const v = value(stats, key);
  return v === undefined ? [] : [[{}, v]];
};
const both = (to: string, from: string) => (stats: PortStats): Array<[Labels, number]> => {
  const [t, f] = [value(stats, to), value(stats, from)];
  return t === undefined || f === undefined ? [] : [[{ direction: 'to_child' }, t], [{ direction: 'from_child' }, f]];
};

const PORT_FAMILIES: readonly PortFamily[] = [
  { name: 'nsgate_port_connections_total', type: 'counter', help: 'TCP connections accepted on a published port.', samples: one('connections') },
  { name: 'nsgate_port_flows_total', type: 'counter', help: 'UDP flows (one per client address) started on a published port.', samples: one('flows') },
  { name: 'nsgate_port_active', type: 'gauge', help: 'Open TCP connections, or live UDP flows, of a published port.', samples: one('active') },
  { name: 'nsgate_port_bytes_total', type: 'counter', help: 'Bytes relayed to the child (from clients) and from the child (to clients).', samples: both('bytesToChild', 'bytesFromChild') },
  { name: 'nsgate_port_datagrams_total', type: 'counter', help: 'UDP datagrams relayed to and from the child.', samples: both('datagramsToChild', 'datagramsFromChild') },
  { name: 'nsgate_port_refused_total', type: 'counter', help: 'TCP connections reset because the dial inside failed (nothing listening, unreachable, timed out).', samples: one('refused') },
  { name: 'nsgate_port_dropped_total', type: 'counter', help: 'UDP datagrams the relay could not pass on.', samples: one('dropped') },
];

/** The page: one family per port metric (ports without stats have no samples), then the process ones. */
export function formatMetrics(ports: readonly PortStatus[], processes: Readonly<Record<string, number | undefined>>): string {
  const families: Family[] = [
    { name: 'nsgate_ports', type: 'gauge', help: 'Published ports (a range counts one per port).', samples: [{ labels: {}, value: ports.length }] },
  ];
  for (const family of PORT_FAMILIES) {
    const samples = ports.flatMap((port) => (port.stats ? family.samples(port.stats).map(([extra, v]) => ({ labels: { ...portLabels(port), ...extra }, value: v })) : []));
    families.push({ ...family, samples });
  }
  families.push(...processFamilies(processes));
  return families.map(formatFamily).join('');
}

/** id, proto, and both ends as the spec has them ("127.0.0.1:8080", "[::1]:8080"; ":80" where no IP was given). */
function portLabels({ id, spec }: PortStatus): Labels {
  const end = (ip: string | undefined, port: number) => `${ip === undefined ? '' : ip.includes(':') ? `[${ip}]` : ip}:${port}`;
  return { id: String(id), proto: spec.proto, parent: end(spec.parentIP, spec.parentPort), child: end(spec.childIP, spec.childPort) };
}

/** Open fds and RSS of each process given by pid ("parent": this one), where /proc lets us read them. */
function processFamilies(pids: Readonly<Record<string, number | undefined>>): Family[] {
  const fds: Family = { name: 'nsgate_process_open_fds', type: 'gauge', help: "Open file descriptors of nsgate's processes.", samples: [] };
  const rss: Family = { name: 'nsgate_process_resident_memory_bytes', type: 'gauge', help: "Resident memory of nsgate's processes.", samples: [] };
  for (const [process, pid] of Object.entries(pids)) {
    if (pid === undefined) continue;
    const open = readOr(() => readdirSync(`/proc/${pid}/fd`).length);
    const kib = readOr(() => Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]));
    if (open !== undefined) fds.samples.push({ labels: { process }, value: open });
    if (kib !== undefined && Number.isFinite(kib)) rss.samples.push({ labels: { process }, value: kib * 1024 });
  }
  return [fds, rss];
}

function readOr(read: () => number): number | undefined {
  try {
    return read();
  } catch {
    // The process is gone, or /proc hides it.
    return undefined;
  }
}

function formatFamily({ name, type, help, samples }: Family): string {
  const lines = [`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`];
  for (const { labels, value } of samples) lines.push(`${name}${formatLabels(labels)} ${value}`);
  return `${lines.join('\n')}\n`;
}

/** `{a="x",b="y"}` with the format's escapes (backslash, quote, newline); nothing for no labels. */
export function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([key, v]) => `${key}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}
