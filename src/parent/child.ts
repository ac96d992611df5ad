import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, ChildRun, ChildSetup, ParentMessage } from '../child/protocol.js';
import { UserError } from '../errors.js';
import { exitStatus } from '../exit-status.js';
import type { LaunchOptions } from '../options.js';

const CHILD_MAIN = fileURLToPath(new URL('../child/main.js', import.meta.url));
const SOCKET_TIMEOUT_MS = 10_000;
/** Runs in the new namespaces: announce itself on fd 4, wait there for the id maps, then exec node. */
const GATE = 'printf x >&4 && read -r _ <&4 && exec 4>&- && ';
const EXEC_CHILD = 'exec "$0" "$@"';
/**
 * As pid 1 of a new pid namespace (--reaper), the shell stays and waits: its wait reaps every orphan
 * reparented to it, which node would leave as zombies. Stdin goes through fd 5 because a background job's
 * own fd 0 is replaced by /dev/null before its redirections apply (fd 3 is the IPC channel, 4 the gate).
 */
const REAP_CHILD = 'exec 5<&0 && { "$0" "$@" <&5 5<&- & } && exec 5<&- && wait $!';

/** unshare(1) arguments for the child's namespaces. Pure, for tests. */
export function unshareArgs(o: Pick<LaunchOptions, 'net' | 'detachNetns' | 'propagation' | 'pidns' | 'utsns' | 'ipcns' | 'cgroupns'>): string[] {
  const args = ['--user', '--mount', `--propagation=${o.propagation === 'rslave' ? 'slave' : 'private'}`];
  if (o.net !== 'host' && !o.detachNetns) args.push('--net');
  if (o.utsns) args.push('--uts');
  if (o.ipcns) args.push('--ipc');
  if (o.cgroupns) args.push('--cgroup');
  if (o.pidns) args.push('--pid', '--fork', '--kill-child', '--mount-proc');
  return args;
}

interface Pending {
  resolve(handle: Socket | UdpSocket): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** An error from inside the namespace while opening a socket there (ECONNREFUSED, ETIMEDOUT, ...). */
export class ChildSocketError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/**
 * The parent's handle on the child: its pid, the IPC channel (setup, run, signals) and the
 * multiplexed socket requests of the builtin driver.
 */
export class Child {
  /** Settles with COMMAND's exit status, or the child's own if it dies before reporting one. */
  readonly exited: Promise<number>;
  private readonly pending = new Map<number, Pending>();
  private nextRequest = 1;
  private reported: number | undefined;
  private failure: string | undefined;
  private waiters: Array<{ t: ChildMessage['t']; resolve(): void; reject(err: Error): void }> = [];

  private constructor(private readonly proc: ChildProcess, readonly pid: number) {
    proc.on('message', (msg: ChildMessage, handle?: Socket | UdpSocket) => this.onMessage(msg, handle));
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        const own = exitStatus(code, signal);
        this.failWaiters(new Error(this.failure ?? `the child process exited (status ${own}) before it was ready`));
        this.failPending(new ChildSocketError('ECHILD', 'the child process is gone'));
        resolve(this.reported ?? own);
      });
    });
  }

  /**
   * Start the child in its namespaces. `unshare` runs a tiny shell gate that says it is there, waits for
   * `mapIds` to write its id maps, and only then execs node: a program exec'd as uid 0 of the namespace
   * gets full capabilities there, one exec'd before its maps exist gets none.
   */
  static start(options: LaunchOptions, mapIds: (pid: number) => Promise<void>): Promise<Child> {
    const gateScript = GATE + (reaps(options) ? REAP_CHILD : EXEC_CHILD);
    const proc = spawn('unshare', [...unshareArgs(options), '--', 'sh', '-c', gateScript, process.execPath, CHILD_MAIN], {
      stdio: ['inherit', 'inherit', 'inherit', 'ipc', 'pipe'],
    });
    const gate = proc.stdio[4] as Duplex;
    return new Promise((resolve, reject) => {
      proc.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new UserError('unshare not found: install the Debian package "util-linux"') : err),
      );
      proc.once('exit', (code) =>
        reject(new UserError(`could not create the namespaces (unshare exited with ${code}): are unprivileged user namespaces enabled? (sysctl user.max_user_namespaces, kernel.apparmor_restrict_unprivileged_userns)`)),
      );
      gate.once('data', () =>
        mapIds(proc.pid!).then(
          () => gate.end('\n'),
          (err: unknown) => {
            proc.kill('SIGKILL');
            reject(err);
          },
        ),
      );
      proc.once('message', (msg: ChildMessage) => {
        proc.removeAllListeners('exit');
        proc.removeAllListeners('error');
        if (msg.t !== 'hello') return reject(new Error(`unexpected first message from the child: ${msg.t}`));
        resolve(new Child(proc, options.pidns ? forkedPid(proc.pid!) : proc.pid!));
      });
    });
  }

  setup(setup: ChildSetup): Promise<void> {
    return this.ask({ t: 'setup', setup }, 'ready');
  }

  run(run: ChildRun): Promise<void> {
    return this.ask({ t: 'run', run }, 'started');
  }

  signal(signal: NodeJS.Signals): void {
    this.post({ t: 'signal', signal });
  }

  kill(): void {
    this.proc.kill('SIGKILL');
  }

  /** A TCP connection to host:port made inside the child's network namespace. */
  dial(host: string, port: number): Promise<Socket> {
    return this.request((id) => ({ t: 'dial', id, host, port })) as Promise<Socket>;
  }

  /** An unconnected UDP socket that lives in the child's network namespace. */
  udpSocket(family: 4 | 6): Promise<UdpSocket> {
    return this.request((id) => ({ t: 'udp', id, family })) as Promise<UdpSocket>;
  }

  private post(msg: ParentMessage): void {
    if (this.proc.connected) this.proc.send(msg);
  }

  private ask(msg: ParentMessage, answer: ChildMessage['t']): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ t: answer, resolve, reject });
      this.post(msg);
    });
  }

  private request(make: (id: number) => ParentMessage): Promise<Socket | UdpSocket> {
    const id = this.nextRequest++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ChildSocketError('ETIMEDOUT', `no answer from inside the namespace within ${SOCKET_TIMEOUT_MS / 1000} s`));
      }, SOCKET_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      if (!this.proc.connected) return this.settle(id, undefined, new ChildSocketError('ECHILD', 'the child process is gone'));
      this.proc.send(make(id));
    });
  }

  private settle(id: number, handle: Socket | UdpSocket | undefined, err?: Error): void {
    const p = this.pending.get(id);
    if (!p) {
      // Answered after its timeout: nobody wants it any more.
      if (handle && 'destroy' in handle) handle.destroy();
      else handle?.close();
      return;
    }
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (err || !handle) p.reject(err ?? new Error('socket answer without a socket'));
    else p.resolve(handle);
  }

  private onMessage(msg: ChildMessage, handle?: Socket | UdpSocket): void {
    switch (msg.t) {
      case 'socket':
        return this.settle(msg.id, handle);
      case 'socket-error':
        return this.settle(msg.id, undefined, new ChildSocketError(msg.code, msg.message));
      case 'failed':
        this.failure = msg.message;
        return this.failWaiters(new Error(msg.message));
      case 'exited':
        this.reported = msg.code;
        return;
      default: {
        const i = this.waiters.findIndex((w) => w.t === msg.t);
        if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve();
      }
    }
  }

  private failWaiters(err: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private failPending(err: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id, undefined, err);
  }
}

function reaps(o: Pick<LaunchOptions, 'pidns' | 'reaper'>): boolean {
  return o.pidns && o.reaper !== 'false';
}

/** With --pidns, unshare forks: the process in the new namespaces is its only child. */
function forkedPid(unsharePid: number): number {
  const children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/);
  return Number(children[0]);
}
