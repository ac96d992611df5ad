import { spawn, type ChildProcess } from 'node:child_process';
import { ENTRY } from '../entry/paths.js';
import { InsideRequests } from './inside-requests.js';
import { insideEnv, type InsideLaunch } from './namespace-handle.js';
import { fdChannelStdioIf, handOverFdChannel } from '../ipc/fd-channel.js';

/** The parent's handle on the --detach-netns dialer: a process in the namespace process' user namespace and its detached network namespace. */
export class Dialer extends InsideRequests {
  private constructor(private readonly stopIt: () => Promise<void>, proc: ChildProcess, fdChannel: number | null) {
    super(proc, fdChannel);
  }

  /** As the user namespace's owner the parent may join it, and from there the network namespace it owns. */
  static start(paths: { userns: string; netns: string }, inside: InsideLaunch): Promise<Dialer> {
    const proc = spawn('nsenter', ['--preserve-credentials', `--user=${paths.userns}`, `--net=${paths.netns}`, '--', process.execPath, ENTRY.dialer], {
      stdio: ['ignore', 'inherit', 'inherit', ...fdChannelStdioIf(inside.fdChannel, ['ipc'])],
      env: { ...process.env, ...insideEnv(inside) },
    });
    const channel = inside.fdChannel ? handOverFdChannel(proc) : null;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const stop = async () => {
      proc.kill('SIGKILL');
      await exited;
      channel?.close();
    };
    return new Promise((resolve, reject) => {
      const failed = (err: Error) => {
        channel?.close();
        reject(err);
      };
      const early = (code: number | null) => failed(new Error(`could not start the dialer in the detached network namespace (nsenter exited with ${code})`));
      proc.once('error', failed);
      proc.once('exit', early);
      proc.once('message', () => {
        proc.off('exit', early);
        resolve(new Dialer(stop, proc, channel?.parentEnd ?? null));
      });
    });
  }

  stop(): Promise<void> {
    return this.stopIt();
  }
}
