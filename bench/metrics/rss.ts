/**
 * The forwarder's memory with N idle TCP connections open through the published port, as RSS and as PSS
 * (/proc/PID/smaps_rollup: shared pages divided among the processes that map them, so node's binary and
 * libraries count once across nsgate's two processes, where RSS counts them in each). The forwarder is the
 * launcher and its descendants running the same program: RootlessKit's parent and child, nsgate's parent and
 * child (where its native relay holds the connections); not COMMAND, not slirp4netns.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { descendants, sleep } from '../../test/e2e/harness.js';
import type { Measured, MetricGroup } from './group.js';

/** Connections opened at once: more would overflow listen backlogs and wait for SYN retries. */
const BATCH = 200;
const CONNECT_TIMEOUT_MS = 10_000;
/** Time for the forwarder to dial the child side of the last connections. */
const SETTLE_MS = 1_000;
/** Time for what starts with the first ports and requests (nsgate's relay workers) to finish starting. */
const IDLE_SETTLE_MS = 1_000;
/** Most connections that may fail before the figure means nothing. */
const TOLERATED_FAILURES = 0.01;

interface Memory {
  rss: number;
  pss: number;
}

/** RSS and PSS in MiB. */
function memoryMiB(pid: number): Memory {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string) => {
    const m = text.match(new RegExp(`^${name}:\\s+([0-9]+) kB`, 'm'));
    if (!m) throw new Error(`no ${name} in /proc/${pid}/smaps_rollup`);
    return Number(m[1]) / 1024;
  };
  return { rss: field('Rss'), pss: field('Pss') };
}

function forwarderMemoryMiB(launcher: number): Memory {
  const exe = (pid: number) => readlinkSync(`/proc/${pid}/exe`);
  const program = exe(launcher);
  const same = descendants(launcher).filter((pid) => {
    try {
      return exe(pid) === program;
    } catch {
      return false; // gone, or not ours to read
    }
  });
  return [launcher, ...same].map(memoryMiB).reduce((sum, m) => ({ rss: sum.rss + m.rss, pss: sum.pss + m.pss }), { rss: 0, pss: 0 });
}

/** A connected socket, or null if it failed. */
function open(port: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const fail = () => {
      socket.destroy();
      resolve(null);
    };
    socket.setTimeout(CONNECT_TIMEOUT_MS, fail);
    socket.on('error', fail);
    socket.once('connect', () => {
      socket.setTimeout(0);
      resolve(socket);
    });
  });
}

async function openMany(port: number, count: number, into: Socket[]): Promise<void> {
  for (let opened = 0; opened < count; opened += BATCH) {
    const batch = await Promise.all(Array.from({ length: Math.min(BATCH, count - opened) }, () => open(port)));
    into.push(...batch.filter((s): s is Socket => s !== null));
  }
}

/** The forwarder's own cost: measured first, when startup's one request is all the traffic it has seen. */
export const idleFootprint: MetricGroup = {
  label: 'idle memory',
  metrics: ['idle_pss_mb'],
  forwarderOnly: true,
  estimateSeconds: () => IDLE_SETTLE_MS / 1_000,
  async measure({ parentPid }): Promise<Measured[]> {
    if (parentPid === null) throw new Error('no forwarding process');
    await sleep(IDLE_SETTLE_MS);
    const idle = forwarderMemoryMiB(parentPid);
    return [{ metric: 'idle_pss_mb', value: idle.pss, detail: { rss_mb: idle.rss } }];
  },
};

export const idleMemory: MetricGroup = {
  label: 'idle connections memory',
  metrics: ['rss_mb', 'pss_mb'],
  forwarderOnly: true,
  estimateSeconds: (s) => 1.5 + s.idleConnections / 4_000,
  async measure({ parentPid, ports, settings }): Promise<Measured[]> {
    if (parentPid === null) throw new Error('no forwarding process');
    const idle = forwarderMemoryMiB(parentPid);
    const sockets: Socket[] = [];
    try {
      await openMany(ports.http, settings.idleConnections, sockets);
      const failed = settings.idleConnections - sockets.length;
      if (failed > settings.idleConnections * TOLERATED_FAILURES) {
        throw new Error(`only ${sockets.length} of ${settings.idleConnections} idle connections could be opened`);
      }
      await sleep(SETTLE_MS);
      // The parent alone too: RootlessKit's parent holds every connection, nsgate's builtin driver none.
      const parent = memoryMiB(parentPid);
      const loaded = forwarderMemoryMiB(parentPid);
      return [
        { metric: 'rss_mb', value: loaded.rss, detail: { idle_mb: idle.rss, parent_mb: parent.rss, connections: sockets.length } },
        { metric: 'pss_mb', value: loaded.pss, detail: { parent_mb: parent.pss, connections: sockets.length } },
      ];
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  },
};
