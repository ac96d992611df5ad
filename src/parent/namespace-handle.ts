import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import type { Duplex } from 'node:stream';
import type { InsideMessage, CommandRun, NamespaceSetup, ParentMessage } from '../ipc/messages.js';
import { UserError } from '../errors.js';
import { stopWithGrace } from '../stop.js';
import { commandStatus, goExitDescription } from '../exit-status.js';
import { ENTRY } from '../entry/paths.js';
import { FD_CHANNEL_CHILD_ENV, fdChannelStdioIf, handOverFdChannel, type FdChannel } from '../ipc/fd-channel.js';
import { FORWARDED_SIGNALS } from '../forwarded-signals.js';
import { portDriverDescriptor } from '../port/drivers/registry.js';
import { PORT_DRIVER_ENV } from '../ipc/messages.js';
import { InsideRequests } from './inside-requests.js';
import type { LaunchOptions } from '../options.js';

/**
 * Runs in the new namespaces: says on fd 4 that they exist (the parent then writes the id maps), and execs
 * node at once, which boots while the maps are written: unshare's --keep-caps makes the namespace's
 * capabilities ambient, so they survive the exec of a process whose uid is not mapped yet.
 */
const GATE = 'printf x >&4 && exec 4>&- && ';
const EXEC_CHILD = 'exec "$0" "$@"';
/**
 * As pid 1 of a new pid namespace (--reaper), the shell stays and waits: its wait reaps every orphan
 * reparented to it, which node would leave as zombies. Stdin goes through fd 5 because a background job's
 * own fd 0 is replaced by /dev/null before its redirections apply (fd 3 is the IPC channel, 4 the gate).
 * The wait's stderr is muted: the shell would print "Killed" when node is, and nsgate reports that itself.
 */
const REAP_CHILD = 'exec 5<&0 && { "$0" "$@" <&5 5<&- & } && exec 5<&- && wait $! 2>/dev/null';

/** unshare(1) arguments for the namespace process' namespaces. Pure, for tests. */
export function unshareArgs(o: Pick<LaunchOptions, 'net' | 'detachNetns' | 'propagation' | 'pidns' | 'utsns' | 'ipcns' | 'cgroupns'>): string[] {
  // unshare's propagation values are recursive: RootlessKit's rprivate, rslave and rshared.
  const args = ['--user', '--keep-caps', '--mount', `--propagation=${o.propagation.slice(1)}`];
  if (o.net !== 'host' && !o.detachNetns) args.push('--net');
  if (o.utsns) args.push('--uts');
  if (o.ipcns) args.push('--ipc');
  if (o.cgroupns) args.push('--cgroup');
  if (o.pidns) args.push('--pid', '--fork', '--kill-child', '--mount-proc');
  return args;
}

/**
 * The parent's handle on the namespace process (RootlessKit's child): its pid, the IPC channel (setup, run,
 * signals) and the requests of the port driver whose inside half runs there.
 */
export class NamespaceHandle extends InsideRequests {
  /** Settles with COMMAND's end as the namespace process reports it, or the namespace process' own if it dies before reporting one. */
  readonly exited: Promise<NamespaceProcessEnd>;
  /**
   * The node process in the namespaces, known once it says hello: what STATE_DIR/child_pid names, where
   * signals for COMMAND go. (`namespacePid` is in the same namespaces but, as a --pidns reaper, ignores them.)
   */
  pid = 0;
  /** Settles once node runs in the namespace process and listens on the IPC channel. */
  private readonly hello: Promise<void>;
  private reported: Extract<InsideMessage, { t: 'exited' }> | undefined;
  private failure: string | undefined;
  private waiters: Array<{ t: InsideMessage['t']; resolve(): void; reject(err: Error): void }> = [];

  /**
   * `namespacePid` is a process in the namespace process' namespaces from the start (a helper may join them); `reaper`,
   * with --pidns --reaper, the shell that is pid 1 there, whose only child becomes node.
   */
  private constructor(private readonly spawned: ChildProcess, readonly namespacePid: number, reaper: boolean, fdChannel: number | null, early: EarlyMessages) {
    super(spawned, fdChannel);
    this.hello = new Promise<void>((resolve, reject) => this.waiters.push({ t: 'hello', resolve, reject })).then(() => {
      this.pid = reaper ? onlyChild(namespacePid) : namespacePid;
    });
    this.hello.catch(() => {}); // Also reported by whichever step awaits it.
    spawned.on('message', (msg: InsideMessage) => this.onMessage(msg));
    early.handOver((msg) => this.onMessage(msg));
    this.exited = new Promise((resolve) => {
      spawned.once('exit', (code, signal) => {
        // Under the --reaper shell, a node killed by signal N shows as the shell's exit status 128+N.
        const killedBy = signal ?? (reaper && code !== null && code > 128 ? signalName(code - 128) : null);
        const own = { status: commandStatus(killedBy ? null : code), description: goExitDescription(killedBy ? null : code, killedBy), of: 'child' } as const;
        this.failWaiters(new Error(this.failure ?? `the child process exited (${own.description}) before it was ready`));
        resolve(this.reported ? { status: this.reported.code, description: this.reported.description, of: 'command' } : own);
      });
    });
  }

  /**
   * The namespace process, spawned (`spawned`), with its id maps: resolves once they are written. A network
   * helper may join the namespaces while node starts in the namespace process, which does nothing that needs
   * them before the parent's first request (setup), sent after that. `idMaps` makes the map writer, whose sub-id
   * lookups spawn tools: it is called at once, so that they run while the gate starts. `channel`: the fd channel
   * handed over to it, if any.
   */
  static async start(spawned: SpawnedNamespaceProcess, idMaps: () => (pid: number) => Promise<void>, channel: FdChannel | null): Promise<NamespaceHandle> {
    const mapIds = idMaps();
    const { proc, options } = spawned;
    await spawned.inNamespaces;
    try {
      await mapIds(proc.pid!);
    } catch (err) {
      await spawned.kill();
      throw err;
    }
    return new NamespaceHandle(proc, options.pidns ? onlyChild(proc.pid!) : proc.pid!, reaps(options), channel?.parentEnd ?? null, spawned.early);
  }

  /** Prepare the namespaces, as soon as node runs in the namespace process (`pid` is known from then on). */
  async setup(setup: NamespaceSetup): Promise<void> {
    await this.hello;
    return this.ask({ t: 'setup', setup }, 'ready');
  }

  run(run: CommandRun): Promise<void> {
    return this.ask({ t: 'run', run }, 'started');
  }

  /** Send `signal` to the namespace process, which passes it on to COMMAND. */
  signal(signal: NodeJS.Signals): void {
    if (this.pid === 0) return; // Not known before hello; kill(0) would signal nsgate's own process group.
    try {
      process.kill(this.pid, signal);
    } catch {
      // The namespace process is gone: its exit is on its way.
    }
  }

  /**
   * Stop the namespace process and everything in its namespaces: closing the channel makes it kill COMMAND's tree
   * (what a SIGKILL of the namespace process alone would leave running); SIGKILL if it is not gone within a second.
   */
  async stop(): Promise<void> {
    await stopWithGrace(() => this.spawned.connected && this.spawned.disconnect(), () => this.spawned.kill('SIGKILL'), this.exited, 1_000);
  }

  private post(msg: ParentMessage): void {
    if (this.spawned.connected) this.spawned.send(msg);
  }

  private ask(msg: ParentMessage, answer: InsideMessage['t']): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ t: answer, resolve, reject });
      this.post(msg);
    });
  }

  private onMessage(msg: InsideMessage): void {
    switch (msg.t) {
      case 'socket':
      case 'socket-error':
        return; // InsideRequests' own
      case 'failed':
        this.failure = msg.message;
        return this.failWaiters(new Error(msg.message));
      case 'exited':
        this.reported = msg;
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

/**
 * The namespace process from its spawn until its NamespaceHandle exists: nsgate spawns it first, before it loads
 * the rest of its code (node boots there meanwhile). `unshare` runs a tiny shell gate that says the namespaces
 * exist and execs node, which boots while the parent writes the id maps. Signals that come before launch() takes
 * them are kept for it; `kill` ends and reaps the process if the launch stops before it has a handle.
 */
export class SpawnedNamespaceProcess {
  readonly proc: ChildProcess;
  /** node may say hello before the maps are written, while nothing else listens yet. */
  readonly early: EarlyMessages;
  /** Settles once the gate says the namespaces exist; rejects if the process failed to start or ended first. */
  readonly inNamespaces: Promise<void>;
  private readonly exited: Promise<void>;
  private readonly signals: NodeJS.Signals[] = [];
  private readonly keepSignal = (signal: NodeJS.Signals) => void this.signals.push(signal);

  constructor(readonly options: LaunchOptions) {
    const gateScript = GATE + (reaps(options) ? REAP_CHILD : EXEC_CHILD);
    const inside = insideLaunches(options).namespaceProcess;
    for (const sig of FORWARDED_SIGNALS) process.on(sig, this.keepSignal);
    this.proc = spawn('unshare', [...unshareArgs(options), '--', 'sh', '-c', gateScript, process.execPath, ENTRY.namespaceProcess], {
      stdio: ['inherit', 'inherit', 'inherit', ...fdChannelStdioIf(inside.fdChannel, ['ipc', 'pipe'])],
      env: { ...process.env, ...insideEnv(inside) },
    });
    const proc = this.proc;
    this.early = new EarlyMessages(proc);
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()).once('error', () => resolve()));
    const gate = proc.stdio[4] as Duplex | null;
    this.inNamespaces = new Promise((resolve, reject) => {
      proc.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new UserError('unshare not found: install the Debian package "util-linux"') : err),
      );
      proc.once('exit', (code, signal) =>
        reject(
          new UserError(
            `the child process ended before it was ready (${signal ?? `exit code ${code}`}): if unshare said it cannot create the namespaces, are unprivileged user namespaces enabled? (sysctl user.max_user_namespaces, kernel.apparmor_restrict_unprivileged_userns)`,
          ),
        ),
      );
      gate?.once('data', () => {
        gate.destroy();
        resolve();
      });
    });
    this.inNamespaces.catch(() => {}); // Reported by launch() when it awaits it.
  }

  /** The first signal that came since the spawn, if any; from now on the caller's own handlers take them. */
  takeSignals(): NodeJS.Signals | undefined {
    for (const sig of FORWARDED_SIGNALS) process.off(sig, this.keepSignal);
    return this.signals[0];
  }

  /** Its end of the fd channel, if its port driver's inside half runs there and native calls are available. */
  handOverFdChannel(): FdChannel | null {
    return insideLaunches(this.options).namespaceProcess.fdChannel ? handOverFdChannel(this.proc) : null;
  }

  /** SIGKILL it (unshare's --kill-child takes node with it under --pidns) and wait until it is reaped. */
  async kill(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    await this.exited;
  }
}

/** The namespace process' messages from its start until the NamespaceHandle that handles them exists. */
class EarlyMessages {
  private readonly held: InsideMessage[] = [];
  private readonly hold = (msg: InsideMessage) => this.held.push(msg);
  constructor(private readonly proc: ChildProcess) {
    proc.on('message', this.hold);
  }
  handOver(to: (msg: InsideMessage) => void): void {
    this.proc.off('message', this.hold);
    this.held.splice(0).forEach(to);
  }
}

function reaps(o: Pick<LaunchOptions, 'pidns' | 'reaper'>): boolean {
  return o.pidns && o.reaper !== 'false';
}

/** How the namespace process ended: COMMAND's end as it reported it, or its own when it died without a report. */
export interface NamespaceProcessEnd {
  status: number;
  /** In RootlessKit's words: `exit status 42`, `signal: killed`. */
  description: string;
  of: 'command' | 'child';
}

function signalName(num: number): NodeJS.Signals | null {
  return (Object.keys(constants.signals) as NodeJS.Signals[]).find((name) => constants.signals[name] === num) ?? null;
}

/** The only child of `pid`: what unshare forks with --pidns, and node under the --reaper shell. */
function onlyChild(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
  return Number(children[0]);
}

/** The port driver's inside half as a spawned process gets it: which driver, and whether it gets an fd channel. */
export interface InsideLaunch {
  /** Absent: no inside half runs in that process. */
  driver?: string;
  fdChannel: boolean;
}

/**
 * What the namespace process and the --detach-netns dialer get: the driver's inside half runs in the namespace
 * process, unless it must live in a detached network namespace (then in the dialer).
 */
export function insideLaunches(options: Pick<LaunchOptions, 'portDriver' | 'detachNetns'>): { namespaceProcess: InsideLaunch; dialer: InsideLaunch | null } {
  const driver = portDriverDescriptor(options.portDriver);
  const inside: InsideLaunch = { ...(driver.inside ? { driver: driver.name } : {}), fdChannel: driver.launch.fdChannel === true };
  const inDialer = options.detachNetns && driver.launch.insideRunsIn === 'network-namespace';
  return inDialer ? { namespaceProcess: { fdChannel: false }, dialer: inside } : { namespaceProcess: inside, dialer: null };
}

/** The environment that tells a spawned process its driver and where its fd channel's handover socket is. */
export function insideEnv({ driver, fdChannel }: InsideLaunch): Record<string, string> {
  return { ...(fdChannel ? FD_CHANNEL_CHILD_ENV : {}), ...(driver ? { [PORT_DRIVER_ENV]: driver } : {}) };
}
