/**
 * Helpers for the published-port suites: nsgate running servers, its end with nothing left behind,
 * a taken host port, and a client in a network namespace of its own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { ApiClient } from '../../src/api/client.js';
import type { PortSpec } from '../../src/port/types.js';
import { probe } from './clients.js';
import { eventually, fixture, freePort, nsgate, type Proc, userTempDir } from './harness.js';

/**
 * Every process started by `root`, directly or not: the helpers of an nsgate. (Not userProcesses(): other
 * suites may run as the test user at the same time.)
 */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const found: number[] = [];
  for (let i = -1; i < found.length; i++) found.push(...(children.get(i < 0 ? root : found[i]!) ?? []));
  return found;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Ends nsgate with `signal`; every process it had started must be gone soon after. */
export async function endNsgate(p: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const started = descendants(p.pid);
  p.kill(signal);
  await p.exited();
  await eventually(`no process of nsgate left (of ${started.join(' ')})`, () => !started.some(alive), 3_000);
}

/** nsgate running COMMAND `servers` with `flags`, once the servers print "ready". */
export function launch(flags: string[], servers: string[]): Promise<Launched> {
  return launchCommand(flags, () => fixture(...servers), /ready/);
}

export interface Launched {
  p: Proc;
  api: ApiClient;
  /** A directory of the test user's, removed at stop. */
  dir: string;
  stop(): Promise<void>;
}

/** nsgate running `command(dir)` with `flags`, once its stdout matches `ready`. */
export async function launchCommand(flags: string[], command: (dir: string) => string[], ready: RegExp): Promise<Launched> {
  const dir = userTempDir();
  const p = nsgate([`--state-dir=${dir}/state`, ...flags, '--', ...command(dir)]);
  await p.waitFor(ready, 20_000);
  return {
    p,
    api: new ApiClient(`${dir}/state/api.sock`),
    dir,
    async stop() {
      try {
        await endNsgate(p);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export function curl(port: number): string {
  const r = spawnSync('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  return r.stdout || r.stderr;
}

/** Hold a host port as another program would, for the taken-port cases. */
export async function holdPort(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

/** Adding `spec` on a port someone holds fails with `message`, leaves the port list as it was and nothing listening. */
export async function assertTakenPortRefused(api: ApiClient, spec: (port: number) => PortSpec, message: RegExp): Promise<number> {
  const port = await freePort();
  const taken = await holdPort(port);
  const list = await api.listPorts();
  await assert.rejects(api.addPort(spec(port)), message);
  assert.deepEqual(await api.listPorts(), list);
  await new Promise((resolve) => taken.close(resolve));
  assert.equal(await probe('127.0.0.1', port), 'refused', 'nothing left listening');
  return port;
}

const CLIENT_NETNS = 'nsgate-test-src';
const HOST_VETH = 'nsgsrc-host';
export const SUBNET = '198.51.100.';

/**
 * A network namespace for a client that is not on the host's loopback: a veth pair, the host's end
 * 198.51.100.1, the client's 198.51.100.2 (TEST-NET-2, checked unused first). Needs root.
 */
export function createClientNetns(): { run(script: string): string; remove(): void } {
  const remove = () => {
    spawnSync('ip', ['link', 'del', HOST_VETH]);
    spawnSync('ip', ['netns', 'del', CLIENT_NETNS]);
  };
  remove(); // what an interrupted run left
  assert.ok(!spawnSync('ip', ['-4', 'addr'], { encoding: 'utf8' }).stdout.includes(SUBNET), `${SUBNET}0/24 is already in use here`);
  const ip = (...args: string[]) => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  };
  ip('netns', 'add', CLIENT_NETNS);
  ip('link', 'add', HOST_VETH, 'type', 'veth', 'peer', 'name', 'client0', 'netns', CLIENT_NETNS);
  ip('addr', 'add', `${SUBNET}1/24`, 'dev', HOST_VETH);
  ip('link', 'set', HOST_VETH, 'up');
  ip('-n', CLIENT_NETNS, 'addr', 'add', `${SUBNET}2/24`, 'dev', 'client0');
  ip('-n', CLIENT_NETNS, 'link', 'set', 'client0', 'up');
  return {
    run: (script) => spawnSync('ip', ['netns', 'exec', CLIENT_NETNS, process.execPath, '-e', script], { encoding: 'utf8', timeout: 10_000 }).stdout,
    remove,
  };
}

