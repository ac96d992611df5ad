import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, ChildRun, ChildSetup, ParentMessage } from '../child/protocol.js';
import { UserError } from '../errors.js';
import { exitStatus } from '../exit-status.js';
import { openFdChannel, type FdChannel } from './fd-channel.js';
import { SocketRequests } from './socket-requests.js';
import type { LaunchOptions } from '../options.js';

const CHILD_MAIN = fileURLToPath(new URL('../child/main.js', import.meta.url));
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

/**
 * The parent's handle on the child: its pid, the IPC channel (setup, run, signals) and, unless the
 * network namespace is detached, the builtin driver's socket requests.
 */
export class Child extends SocketRequests {
  /** Settles with COMMAND's exit status, or the child's own if it dies before reporting one. */
  readonly exited: Promise<number>;
  /** Settles once node runs in the child and listens on the IPC channel. */
  private readonly hello: Promise<void>;
  private reported: number | undefined;
  private failure: string | undefined;
  private waiters: Array<{ t: ChildMessage['t']; resolve(): void; reject(err: Error): void }> = [];

  private constructor(private readonly child: ChildProcess, readonly pid: number, fdChannel: number | null) {
    super(child, fdChannel);
    this.hello = new Promise((resolve, reject) => this.waiters.push({ t: 'hello', resolve, reject }));
    this.hello.catch(() => {}); // Also reported by whichever step awaits it.
    child.on('message', (msg: ChildMessage) => this.onMessage(msg));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        const own = exitStatus(code, signal);
        this.failWaiters(new Error(this.failure ?? `the child process exited (status ${own}) before it was ready`));
        resolve(this.reported ?? own);
      });
    });
  }

  /**
   * Start the child in its namespaces. `unshare` runs a tiny shell gate that says it is there, waits for
   * its id maps to be written, and only then execs node: a program exec'd as uid 0 of the namespace gets
   * full capabilities there, one exec'd before its maps exist gets none. Resolves once the maps are
   * written: the namespaces exist, so a network helper may join them while node starts in the child.
   * `idMaps` makes the map writer, whose sub-id lookups spawn tools: it is called once unshare is spawned,
   * so that they run while the gate starts instead of before it.
   */
  static start(options: LaunchOptions, idMaps: () => (pid: number) => Promise<void>, bypass?: FdChannel): Promise<Child> {
    const gateScript = GATE + (reaps(options) ? REAP_CHILD : EXEC_CHILD);
    // The builtin driver's relay runs in the child, unless the network namespace is detached (then in the dialer).
    const relay = options.portDriver === 'builtin' && !options.detachNetns ? openFdChannel() : null;
    // --port-driver=bypass: the caller's channel, for COMMAND's exec wrapper.
    const channel = bypass ?? relay;
    const proc = spawn('unshare', [...unshareArgs(options), '--', 'sh', '-c', gateScript, process.execPath, CHILD_MAIN], {
      stdio: ['inherit', 'inherit', 'inherit', ...(channel?.stdioFrom3(['ipc', 'pipe']) ?? ['ipc', 'pipe'])],
      env: { ...process.env, ...channel?.env },
    });
    channel?.closeChildEnd();
    const mapIds = idMaps();
    const gate = proc.stdio[4] as Duplex;
    return new Promise((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new UserError('unshare not found: install the Debian package "util-linux"') : err);
      const ended = (code: number | null, signal: NodeJS.Signals | null) =>
        reject(
          new UserError(
            `the child process ended before it was ready (${signal ?? `exit code ${code}`}): if unshare said it cannot create the namespaces, are unprivileged user namespaces enabled? (sysctl user.max_user_namespaces, kernel.apparmor_restrict_unprivileged_userns)`,
          ),
        );
      proc.once('error', failed).once('exit', ended);
      gate.once('data', () =>
        mapIds(proc.pid!).then(
          () => {
            proc.off('error', failed).off('exit', ended);
            resolve(new Child(proc, options.pidns ? forkedPid(proc.pid!) : proc.pid!, relay?.parentEnd ?? null));
            gate.end('\n');
          },
          (err: unknown) => {
            proc.kill('SIGKILL');
            reject(err);
          },
        ),
      );
    });
  }

  /** Prepare the namespaces, as soon as node runs in the child. */
  async setup(setup: ChildSetup): Promise<void> {
    await this.hello;
    return this.ask({ t: 'setup', setup }, 'ready');
  }

  run(run: ChildRun): Promise<void> {
    return this.ask({ t: 'run', run }, 'started');
  }

  signal(signal: NodeJS.Signals): void {
    this.post({ t: 'signal', signal });
  }

  /**
   * Stop the child and everything in its namespaces: closing the channel makes it kill COMMAND's tree
   * (what a SIGKILL of the child alone would leave running); SIGKILL if it is not gone within a second.
   */
  async stop(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 1_000);
    await this.exited;
    clearTimeout(timer);
  }

  private post(msg: ParentMessage): void {
    if (this.child.connected) this.child.send(msg);
  }

  private ask(msg: ParentMessage, answer: ChildMessage['t']): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ t: answer, resolve, reject });
      this.post(msg);
    });
  }

  private onMessage(msg: ChildMessage): void {
    switch (msg.t) {
      case 'socket':
      case 'socket-error':
        return; // SocketRequests' own
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
}

function reaps(o: Pick<LaunchOptions, 'pidns' | 'reaper'>): boolean {
  return o.pidns && o.reaper !== 'false';
}

/** With --pidns, unshare forks: the process in the new namespaces is its only child. */
function forkedPid(unsharePid: number): number {
  const children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/);
  return Number(children[0]);
}
