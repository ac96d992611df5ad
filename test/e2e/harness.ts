/**
 * End-to-end helpers: run nsgate (and other programs) as the unprivileged test user, collect output,
 * and wait for things with deadlines. Run by test/run.ts, which sets NSGATE_E2E_DIR.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ApiClient } from '../../src/api/client.js';

export const E2E_DIR = process.env.NSGATE_E2E_DIR ?? process.cwd();
export const NSGATE = join(E2E_DIR, 'dist/bundle/nsgate.js');
export const NSGATECTL = join(E2E_DIR, 'dist/bundle/nsgatectl.js');
export const FIXTURE = join(E2E_DIR, 'dist/test/e2e/fixtures/servers.js');
export const IS_ROOT = process.getuid!() === 0;
export const TEST_USER = 'nsgtest';

/** NSGATE_SOAK=full runs the reliability suite at the issue's full sizes; CI runs the smaller ones. */
export const SOAK_FULL = process.env.NSGATE_SOAK === 'full';
export function soakSize(ci: number, full: number): number {
  return SOAK_FULL ? full : ci;
}

export function userId(name: string): { uid: number; gid: number; home: string } {
  const [, , uid, gid, , home] = spawnSync('getent', ['passwd', name], { encoding: 'utf8' }).stdout.trim().split(':');
  return { uid: Number(uid), gid: Number(gid), home: home! };
}

/** argv that runs cmd as `user` when we are root (CI), or as ourselves otherwise. */
export function asUser(cmd: string, args: string[], user = TEST_USER): [string, string[]] {
  if (!IS_ROOT) return [cmd, args];
  return ['setpriv', [`--reuid=${user}`, `--regid=${user}`, '--init-groups', '--', cmd, ...args]];
}

/** A clean environment for the test user, as a login would give. */
export function userEnv(user = TEST_USER, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  if (!IS_ROOT) return { ...process.env, ...extra };
  const { home } = userId(user);
  return { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', HOME: home, USER: user, LOGNAME: user, LANG: 'C.UTF-8', ...extra };
}

/** The userTempDir()s of this test file, removed when it ends (a test that fails midway leaves none behind). */
const tempDirs: string[] = [];
process.once('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory owned by the test user (in /tmp unless `under` is given), for a --state-dir inside it. */
export function userTempDir(user = TEST_USER, under = '/tmp'): string {
  const dir = mkdtempSync(join(under, 'nsgate-test-'));
  tempDirs.push(dir);
  if (IS_ROOT) {
    const { uid, gid } = userId(user);
    chownSync(dir, uid, gid);
  }
  return dir;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running program with its output collected, and waits with deadlines. */
export class Proc {
  stdout = '';
  stderr = '';
  readonly exit: Promise<Exit>;
  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exit = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Wait until stdout matches; fails with both outputs after `ms`, or if the program exits first. */
  async waitFor(pattern: RegExp, ms = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    let exited = false;
    void this.exit.then(() => (exited = true));
    while (Date.now() < deadline) {
      const m = this.stdout.match(pattern);
      if (m) return m;
      if (exited) break;
      await sleep(20);
    }
    throw new Error(`no ${pattern} in stdout${exited ? ' (the program exited)' : ` within ${ms} ms`}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
  }

  /** Exit within `ms`, or fail (and kill it). */
  async exited(ms = 20_000): Promise<Exit> {
    const timer = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`still running after ${ms} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`)), ms).unref(),
    );
    try {
      return await Promise.race([this.exit, timer]);
    } catch (err) {
      this.child.kill('SIGKILL');
      throw err;
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.child.kill(signal);
  }
}

export interface StartOptions {
  env?: Record<string, string>;
  user?: string;
  /** In a process group of its own, like a job a shell starts: `process.kill(-pid, sig)` reaches the whole group. */
  detached?: boolean;
  /** Run inside this network namespace (`ip netns exec`) instead of the host's. */
  netns?: string;
}

/** Start a program as the test user. */
export function startAsUser(cmd: string, args: string[], opts: StartOptions = {}): Proc {
  const [userFile, userArgv] = asUser(cmd, args, opts.user);
  const [file, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, userFile, ...userArgv]] : [userFile, userArgv];
  return new Proc(spawn(file, argv, { env: userEnv(opts.user, opts.env), stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false }));
}

/** Start `nsgate ARGS` as the test user. */
export function nsgate(args: string[], opts: StartOptions = {}): Proc {
  return startAsUser(process.execPath, [NSGATE, ...args], opts);
}

/** Run `nsgate ARGS` to completion. */
export async function runNsgate(args: string[], ms = 30_000, opts: StartOptions = {}): Promise<Exit & { stdout: string; stderr: string }> {
  const p = nsgate(args, opts);
  const exit = await p.exited(ms);
  return { ...exit, stdout: p.stdout, stderr: p.stderr };
}

/** The fixture servers (test/e2e/fixtures/servers.ts) as a COMMAND for nsgate. */
export function fixture(...args: string[]): string[] {
  return [process.execPath, FIXTURE, ...args];
}

/** A host port that is free right now. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A host UDP port that is free right now. */
export function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    sock.once('error', reject);
    sock.bind(0, host, () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `check` until it returns true, or fail after `ms` with `what`. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
}

/** Pids of the test user's processes (to prove nothing was left running). */
export function userProcesses(user = TEST_USER): number[] {
  const out = spawnSync('pgrep', ['-u', user], { encoding: 'utf8' }).stdout.trim();
  return out ? out.split('\n').map(Number) : [];
}

/** Every pid in /proc now. */
export function allPids(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);
}

/** `/proc/PID/FILE` of every process (those that end meanwhile are left out). */
export function procFiles(file: string): { pid: number; text: string }[] {
  const found: { pid: number; text: string }[] = [];
  for (const pid of allPids()) {
    try {
      found.push({ pid, text: readFileSync(`/proc/${pid}/${file}`, 'utf8') });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * Processes other than this one whose environment holds `entry` ("NAME=VALUE"): with a variable set for one
 * launch, everything it started, daemons that left its tree included. Needs root, or the same user.
 */
export function processesWithEnv(entry: string): number[] {
  return procFiles('environ')
    .filter(({ pid, text }) => pid !== process.pid && text.split('\0').includes(entry))
    .map(({ pid }) => pid);
}

/**
 * Every process started by `root`, directly or not: the child, COMMAND and helpers of an nsgate. (Not
 * userProcesses(): other suites may run as the test user at the same time.)
 */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const { pid, text: stat } of procFiles('stat')) {
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const found: number[] = [];
  for (let i = -1; i < found.length; i++) found.push(...(children.get(i < 0 ? root : found[i]!) ?? []));
  return found;
}

/**
 * The process is still running. A zombie is not: it has ended and holds nothing but its pid, and who reaps
 * it (whoever adopted an orphan: init, or a subreaper) is outside nsgate's control.
 */
export function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** How many files `pid` has open (needs root, or the same user). */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Host sockets listening (TCP) or bound (UDP) by any of `pids`, as sorted "proto addr:port" strings (`ss -lntup`). */
export function listenersOf(pids: number[]): string[] {
  const wanted = new Set(pids);
  const out = spawnSync('ss', ['-Hlntup'], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .filter((line) => [...line.matchAll(/pid=(\d+)/g)].some((m) => wanted.has(Number(m[1]))))
    .map((line) => {
      const cols = line.trim().split(/\s+/);
      return `${cols[0]} ${cols[4]}`;
    })
    .sort();
}

/** Listening sockets on the host (`ss -lntu`): local "addr:port" strings. */
export function hostListeners(): string[] {
  const out = spawnSync('ss', ['-Hlntu'], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/)[4]!);
}

/**
 * A network namespace of the test's own standing in for "the host": loopback, plus a veth pair whose both
 * ends stay inside it as the IPv4 and IPv6 default route (pasta needs a routable interface). A probe of an address that
 * is not mapped ends there and can never leave the machine. Needs root.
 */
export function createOuterNetns(name: string): { name: string; remove(): void } {
  const ip = (...args: string[]) => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  };
  spawnSync('ip', ['netns', 'del', name]);
  ip('netns', 'add', name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
  ip('-n', name, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1');
  ip('-n', name, 'addr', 'add', '198.51.100.1/24', 'dev', 'veth0');
  ip('-n', name, 'link', 'set', 'veth0', 'up');
  ip('-n', name, 'link', 'set', 'veth1', 'up');
  ip('-n', name, 'route', 'add', 'default', 'via', '198.51.100.2');
  // IPv6 too (documentation prefix, inside this namespace only): pasta copies the host's IPv6 gateway.
  ip('-n', name, '-6', 'addr', 'add', '2001:db8::1/64', 'dev', 'veth0', 'nodad');
  ip('-n', name, '-6', 'route', 'add', 'default', 'via', '2001:db8::2');
  return { name, remove: () => void spawnSync('ip', ['netns', 'del', name]) };
}

/** Ends nsgate with `signal`; every process it had started must be gone soon after. */
export async function endNsgate(p: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const started = descendants(p.pid);
  p.kill(signal);
  await p.exited();
  await eventually(`no process of nsgate left (of ${started.join(' ')})`, () => !started.some(running), 3_000);
}

export interface Launched {
  p: Proc;
  api: ApiClient;
  /** A directory of the test user's, removed at stop; the state dir is inside it. */
  dir: string;
  stateDir: string;
  /** The process inside the namespaces (the state dir's child_pid). */
  childPid(): number;
  /** Open files of nsgate's parent and child processes. */
  fds(): { parent: number; child: number };
  stop(): Promise<void>;
}

/**
 * nsgate's fds once they stop changing (the same for 500 ms, within 5 s): what nsgate opens lazily in the
 * background (the relay's extra worker threads, idle pipes it closes) must not count as a leak or a baseline.
 */
export async function settledFds(run: Pick<Launched, 'fds'>): Promise<{ parent: number; child: number }> {
  const deadline = Date.now() + 5_000;
  let last = JSON.stringify(run.fds());
  for (;;) {
    await sleep(500);
    const now = JSON.stringify(run.fds());
    if (now === last || Date.now() > deadline) return JSON.parse(now) as { parent: number; child: number };
    last = now;
  }
}

/** nsgate running COMMAND `servers` (fixture KIND,PORT[,HOST] each) with `flags`, once the servers print "ready". */
export function launchNsgate(flags: string[], servers: string[]): Promise<Launched> {
  return launchCommand(flags, () => fixture(...servers), /ready/);
}

/** nsgate running `command(dir)` with `flags`, once its stdout matches `ready`; `dir` is the test user's. */
export async function launchCommand(flags: string[], command: (dir: string) => string[], ready: RegExp): Promise<Launched> {
  const dir = userTempDir();
  const stateDir = `${dir}/state`;
  const p = nsgate([`--state-dir=${stateDir}`, ...flags, '--', ...command(dir)]);
  await p.waitFor(ready, 20_000);
  const childPid = () => Number(readFileSync(`${stateDir}/child_pid`, 'utf8'));
  return {
    p,
    api: new ApiClient(`${stateDir}/api.sock`),
    dir,
    stateDir,
    childPid,
    fds: () => ({ parent: openFds(p.pid), child: openFds(childPid()) }),
    async stop() {
      try {
        await endNsgate(p);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export const SUBNET = '198.51.100.';

/**
 * A node script for a server in a client netns (`node -e SCRIPT IP TCP_PORT UDP_PORT`): each TCP connection and
 * each datagram is answered with the sha256 (hex) of what came; it prints `ready` once both listen.
 */
export const HASH_SERVER = `
const net = require('net'), dgram = require('dgram'), { createHash } = require('crypto');
const [ip, tcpPort, udpPort] = process.argv.slice(1);
net.createServer({ allowHalfOpen: true }, (s) => {
  const h = createHash('sha256');
  s.on('data', (d) => h.update(d)).on('end', () => s.end(h.digest('hex') + '\\n')).on('error', () => {});
}).listen(Number(tcpPort), ip, () => {
  const u = dgram.createSocket(ip.includes(':') ? 'udp6' : 'udp4');
  u.on('message', (m, from) => u.send(createHash('sha256').update(m).digest('hex') + '\\n', from.port, from.address));
  u.bind(Number(udpPort), ip, () => console.log('ready'));
});
`;

/** Where a client netns sits: its name, the host's veth, and the host's and the client's addresses in a /prefix. */
export interface ClientNetnsPlace {
  netns: string;
  veth: string;
  hostIP: string;
  clientIP: string;
  prefix: number;
}

/** 198.51.100.1 on the host, .2 in the namespace. */
const CLIENT_NETNS: ClientNetnsPlace = { netns: 'nsgate-test-src', veth: 'nsgsrc-host', hostIP: `${SUBNET}1`, clientIP: `${SUBNET}2`, prefix: 24 };

/**
 * A network namespace for a client (or a server) that is not on the host's loopback: a veth pair, the host's
 * end and the client's in TEST-NET-2 (by default 198.51.100.1 and .2/24; a test file that may run beside
 * others gives a place of its own in a smaller part of it), checked unused first. Needs root.
 */
export function createClientNetns(place = CLIENT_NETNS): { netns: string; run(script: string): string; remove(): void } {
  const { netns, veth, hostIP, clientIP, prefix } = place;
  const remove = () => {
    spawnSync('ip', ['link', 'del', veth]);
    spawnSync('ip', ['netns', 'del', netns]);
  };
  remove(); // what an interrupted run left
  const used = spawnSync('ip', ['-4', 'addr'], { encoding: 'utf8' }).stdout;
  for (const address of [hostIP, clientIP]) assert.ok(!used.includes(`inet ${address}/`), `${address} is already in use here`);
  const ip = (...args: string[]) => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  };
  ip('netns', 'add', netns);
  ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'client0', 'netns', netns);
  ip('addr', 'add', `${hostIP}/${prefix}`, 'dev', veth);
  ip('link', 'set', veth, 'up');
  ip('-n', netns, 'addr', 'add', `${clientIP}/${prefix}`, 'dev', 'client0');
  ip('-n', netns, 'link', 'set', 'client0', 'up');
  return {
    netns,
    run: (script) => spawnSync('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { encoding: 'utf8', timeout: 10_000 }).stdout,
    remove,
  }}
