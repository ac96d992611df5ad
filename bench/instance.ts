/** One run of one case: a fresh namespace (for direct, plain host processes) running the servers, until stopped. */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../src/errors.js';
import { freePort, userTempDir } from '../test/e2e/harness.js';
import { type BenchCase, caseName, CHILD_PORTS, type Ports } from './cases.js';
import type { Target } from './metrics/group.js';
import { untilAnswers } from './metrics/startup.js';
import type { Settings } from './options.js';
import { endTree, start, tail } from './procs.js';
import { serversCommand } from './servers.js';

const STARTUP_LIMIT_MS = 30_000;

export interface Instance extends Target {
  startupMs: number;
  /** Ends every process of the instance and removes its files. */
  stop(): Promise<void>;
}

async function twoFreePorts(): Promise<Ports> {
  const iperf = await freePort();
  let http = await freePort();
  while (http === iperf) http = await freePort();
  return { iperf, http };
}

function readTail(path: string): string {
  try {
    return tail(readFileSync(path, 'utf8'));
  } catch {
    return '';
  }
}

/** The stop functions of the instances still running. */
const running = new Set<() => Promise<void>>();

/** Stop every instance still running (on Ctrl-C). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((stop) => stop()));
}

export async function launch(c: BenchCase, settings: Settings, iperf3: boolean): Promise<Instance> {
  const dir = userTempDir();
  const ports = await twoFreePorts();
  const listen = !c.launcher ? { host: '127.0.0.1', ...ports } : c.forwardsBoundPorts ? ports : CHILD_PORTS;
  const servers = serversCommand(dir, listen, { iperf3, idleConnections: settings.idleConnections });
  const argv = [...(c.launcher?.(ports, join(dir, 'state')) ?? []), ...servers];
  const startedAt = performance.now();
  const proc = start(argv);
  let exited = false;
  void proc.exit.then(() => (exited = true));
  const stop = async () => {
    running.delete(stop);
    await endTree(proc.pid);
    rmSync(dir, { recursive: true, force: true });
  };
  running.add(stop);
  try {
    const startupMs = await untilAnswers(ports.http, startedAt, STARTUP_LIMIT_MS, () => exited);
    return { ports, parentPid: c.launcher ? proc.pid : null, settings, startupMs, stop };
  } catch (err) {
    const output = [tail(proc.stderr), readTail(join(dir, 'error.log'))].filter(Boolean).join(' | ');
    await stop();
    throw new Error(`${caseName(c)}: ${errorMessage(err)}${output ? `: ${output}` : ''}`);
  }
}
