/**
 * GET /metrics: the ports' traffic counters and the processes' resources in the Prometheus text exposition
 * format (version 0.0.4), written here rather than with a client library: the page is a handful of
 * families rebuilt from counters the relay already keeps, so a registry of metric objects would only copy them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { ReverseStatus } from '../port/reverse.js';
import type { PortStatus } from '../port/types.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Readonly<Record<string, string>>;

interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  samples: Array<{ labels: Labels; value: number }>;
}

/** What one family takes from a port's stats (none: this port has no such sample). */
interface PortFamily {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  samples(stats: Readonly<Record<string, number>>): Array<[Labels, number]>;
}

/** A port of either kind, with its labels. */
interface Counted {
  labels: Labels;
  stats?: object;
}

/** The port families, of published ports (`nsgate_port_`, the target is the child) or reverse ones (the parent). */
function portFamilies(prefix: string, side: 'Child' | 'Parent', what: string): PortFamily[] {
  const one = (key: string) => (stats: Readonly<Record<string, number>>): Array<[Labels, number]> => (key in stats ? [[{}, stats[key]!]] : []);
  const both = (kind: 'bytes' | 'datagrams') => (stats: Readonly<Record<string, number>>): Array<[Labels, number]> => {
    const [to, from] = [`${kind}To${side}`, `${kind}From${side}`];
    const lower = side.toLowerCase();
    return to in stats && from in stats ? [[{ direction: `to_${lower}` }, stats[to]!], [{ direction: `from_${lower}` }, stats[from]!]] : [];
  };
  return [
    { name: `${prefix}_connections_total`, type: 'counter', help: `TCP connections accepted on a ${what}.`, samples: one('connections') },
    { name: `${prefix}_flows_total`, type: 'counter', help: `UDP flows (one per client address) started on a ${what}.`, samples: one('flows') },
    { name: `${prefix}_active`, type: 'gauge', help: `Open TCP connections, or live UDP flows, of a ${what}.`, samples: one('active') },
    { name: `${prefix}_bytes_total`, type: 'counter', help: `Bytes relayed to the ${side.toLowerCase()} (from clients) and from it (to clients).`, samples: both('bytes') },
    { name: `${prefix}_datagrams_total`, type: 'counter', help: `UDP datagrams relayed to and from the ${side.toLowerCase()}.`, samples: both('datagrams') },
    { name: `${prefix}_refused_total`, type: 'counter', help: 'TCP connections reset because the dial failed (nothing listening, unreachable, timed out).', samples: one('refused') },
    { name: `${prefix}_dropped_total`, type: 'counter', help: 'UDP datagrams the relay could not pass on.', samples: one('dropped') },
  ];
}

const PORT_FAMILIES = portFamilies('nsgate_port', 'Child', 'published port');
const REVERSE_FAMILIES = portFamilies('nsgate_reverse_port', 'Parent', 'reverse port');

/**
 * The page: the count of ports, one family per port metric (a port without stats has no samples), the same
 * for reverse ports, then the processes' open fds and RSS (`processes`: name -> pid).
 */
export function formatMetrics(ports: readonly PortStatus[], reverse: readonly ReverseStatus[], processes: Readonly<Record<string, number | undefined>>): string {
  const families: Family[] = [
    { name: 'nsgate_ports', type: 'gauge', help: 'Published ports (a range counts one per port).', samples: [{ labels: {}, value: ports.length }] },
    { name: 'nsgate_reverse_ports', type: 'gauge', help: 'Reverse ports.', samples: [{ labels: {}, value: reverse.length }] },
    ...countedFamilies(PORT_FAMILIES, ports.map((port) => ({ labels: portLabels(port), stats: port.stats }))),
    ...countedFamilies(REVERSE_FAMILIES, reverse.map((port) => ({ labels: reverseLabels(port), stats: port.stats }))),
    ...processFamilies(processes),
  ];
  return families.map(formatFamily).join('');
}

function countedFamilies(families: readonly PortFamily[], ports: readonly Counted[]): Family[] {
  return families.map((family) => ({
    ...family,
    samples: ports.flatMap(({ labels, stats }) =>
      stats ? family.samples(stats as Readonly<Record<string, number>>).map(([extra, value]) => ({ labels: { ...labels, ...extra }, value })) : [],
    ),
  }));
}

const hostPort = (ip: string | undefined, port: number) => `${ip === undefined ? '' : ip.includes(':') ? `[${ip}]` : ip}:${port}`;

/** id, proto, and both ends as the spec has them ("127.0.0.1:8080", "[::1]:8080"; ":80" where no IP was given). */
function portLabels({ id, spec }: PortStatus): Labels {
  return { id: String(id), proto: spec.proto, parent: hostPort(spec.parentIP, spec.parentPort), child: hostPort(spec.childIP, spec.childPort) };
}

function reverseLabels({ id, spec }: ReverseStatus): Labels {
  return { id: String(id), proto: spec.proto, child: hostPort(spec.childIP, spec.childPort), parent: hostPort(spec.parentIP, spec.parentPort) };
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
