import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import type { Duplex } from 'node:stream';
import type { InsideMessage, CommandRun, NamespaceSetup, ParentMessage } from '../ipc/messages.js';
import { UserError } from '../errors.js';
import { stopWithGrace } from '../stop.js';
import { commandStatus, goExitDescription } from '../exit-status.js';
import { ENTRY } from '../entry/paths.js';
import type { FdChannel } from '../ipc/fd-channel.js';
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
   * Start the namespace process in its namespaces. `unshare` runs a tiny shell gate that says they exist and
   * execs node, which boots while the parent writes the id maps. Resolves once the maps are written: a network
   * helper may join the namespaces while node starts in the namespace process, which does nothing that needs
   * them before the parent's first request (setup), sent after that. `idMaps` makes the map writer, whose
   * sub-id lookups spawn tools: it is called once unshare is spawned, so that they run while the gate starts
   * instead of before it.
   */
  static start(options: LaunchOptions, idMaps: () => (pid: number) => Promise<void>, inside: InsideLaunch): Promise<NamespaceHandle> {
    const gateScript = GATE + (reaps(options) ? REAP_CHILD : EXEC_CHILD);
    const { channel } = inside;
    const proc = spawn('unshare', [...unshareArgs(options), '--', 'sh', '-c', gateScript, process.execPath, ENTRY.namespaceProcess], {
      stdio: ['inherit', 'inherit', 'inherit', ...(channel?.stdioFrom3(['ipc', 'pipe']) ?? ['ipc', 'pipe'])],
      env: { ...process.env, ...insideEnv(inside) },
    });
    channel?.closeChildEnd();
    // node may say hello before the maps are written, while nothing else listens yet.
    const early = new EarlyMessages(proc);
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
      gate.once('data', () => {
        gate.destroy();
        mapIds(proc.pid!).then(
          () => {
            proc.off('error', failed).off('exit', ended);
            resolve(new NamespaceHandle(proc, options.pidns ? onlyChild(proc.pid!) : proc.pid!, reaps(options), channel?.parentEnd ?? null, early));
          },
          (err: unknown) => {
            proc.kill('SIGKILL');
            reject(err);
          },
        );
      });
    });
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

/** The port driver's inside half as a spawned process gets it: which driver, and its fd channel. */
export interface InsideLaunch {
  /** Absent: no inside half runs in that process. */
  driver?: string;
  channel: FdChannel | null;
}

/** The environment that tells a spawned process its driver and where its end of the fd channel is. */
export function insideEnv({ driver, channel }: InsideLaunch): Record<string, string> {
  return { ...channel?.env, ...(driver ? { [PORT_DRIVER_ENV]: driver } : {}) };
}
