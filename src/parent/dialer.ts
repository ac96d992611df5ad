import { spawn, type ChildProcess } from 'node:child_process';
import { ENTRY } from '../entry/paths.js';
import { InsideRequests } from './inside-requests.js';
import { insideEnv, type InsideLaunch } from './namespace-handle.js';

/** The parent's handle on the --detach-netns dialer: a process in the namespace process' user namespace and its detached network namespace. */
export class Dialer extends InsideRequests {
  private constructor(private readonly stopIt: () => Promise<void>, proc: ChildProcess, fdChannel: number | null) {
    super(proc, fdChannel);
  }

  /** As the user namespace's owner the parent may join it, and from there the network namespace it owns. */
  static start(paths: { userns: string; netns: string }, inside: InsideLaunch): Promise<Dialer> {
    const { channel } = inside;
    const proc = spawn('nsenter', ['--preserve-credentials', `--user=${paths.userns}`, `--net=${paths.netns}`, '--', process.execPath, ENTRY.dialer], {
      stdio: ['ignore', 'inherit', 'inherit', ...(channel?.stdioFrom3(['ipc']) ?? ['ipc'])],
      env: { ...process.env, ...insideEnv(inside) },
    });
    channel?.closeChildEnd();
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const stop = async () => {
      proc.kill('SIGKILL');
      await exited;
    };
    return new Promise((resolve, reject) => {
      const early = (code: number | null) => reject(new Error(`could not start the dialer in the detached network namespace (nsenter exited with ${code})`));
      proc.once('error', reject);
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
