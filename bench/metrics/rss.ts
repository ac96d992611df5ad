/**
 * The forwarder's memory (RSS) with N idle TCP connections open through the published port. The forwarder
 * is the launcher and its descendants running the same program: RootlessKit's parent and child, nsgate's
 * parent and child (where its native relay holds the connections); not COMMAND, not slirp4netns.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { descendants, sleep } from '../../test/e2e/harness.js';
import type { MetricGroup } from './group.js';

/** Connections opened at once: more would overflow listen backlogs and wait for SYN retries. */
const BATCH = 200;
const CONNECT_TIMEOUT_MS = 10_000;
/** Time for the forwarder to dial the child side of the last connections. */
const SETTLE_MS = 1_000;
/** Most connections that may fail before the figure means nothing. */
const TOLERATED_FAILURES = 0.01;

function rssMiB(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+([0-9]+) kB/m);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

function forwarderRssMiB(launcher: number): number {
  const exe = (pid: number) => readlinkSync(`/proc/${pid}/exe`);
  const program = exe(launcher);
  const same = descendants(launcher).filter((pid) => {
    try {
      return exe(pid) === program;
    } catch {
      return false; // gone, or not ours to read
    }
  });
  return [launcher, ...same].reduce((sum, pid) => sum + rssMiB(pid), 0);
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

export const idleMemory: MetricGroup = {
  label: 'idle connections RSS',
  metrics: ['rss_mb'],
  forwarderOnly: true,
  estimateSeconds: (s) => 1.5 + s.idleConnections / 4_000,
  async measure({ parentPid, ports, settings }) {
    if (parentPid === null) throw new Error('no forwarding process');
    const idleMb = forwarderRssMiB(parentPid);
    const sockets: Socket[] = [];
    try {
      await openMany(ports.http, settings.idleConnections, sockets);
      const failed = settings.idleConnections - sockets.length;
      if (failed > settings.idleConnections * TOLERATED_FAILURES) {
        throw new Error(`only ${sockets.length} of ${settings.idleConnections} idle connections could be opened`);
      }
      await sleep(SETTLE_MS);
      // The parent alone too: RootlessKit's parent holds every connection, nsgate's builtin driver none.
      const detail = { idle_mb: idleMb, parent_mb: rssMiB(parentPid), connections: sockets.length };
      return [{ metric: 'rss_mb', value: forwarderRssMiB(parentPid), detail }];
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  },
};
