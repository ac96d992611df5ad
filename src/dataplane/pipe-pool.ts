/**
 * Pipes for splice(2), lent to a connection only while bytes are in flight: an idle connection holds
 * none, so 10,000 idle connections cost 20,000 socket fds and no pipes. Pipes nobody asked for during
 * a second are closed, so a quiet relay is back to its baseline of fds.
 */
import { F_SETPIPE_SZ } from '../sys/relay-io.js';
import { O_CLOEXEC, O_NONBLOCK } from '../sys/socket.js';
import { SysError } from '../sys/libc.js';
import type { Loop } from './loop.js';

export interface Pipe {
  readonly r: number;
  readonly w: number;
  /** How much one splice may move into it. */
  readonly size: number;
}

/** Large pipes mean fewer splice calls per megabyte; the kernel caps unprivileged users at pipe-max-size (1 MiB). */
const PIPE_SIZE = 1 << 20;
const POOL_MAX = 64;
const IDLE_CLOSE_MS = 1_000;

export class PipePool {
  private readonly idle: Pipe[] = [];
  private readonly fds: [number, number] = [0, 0];
  private takenSinceCheck = false;
  private checking = false;

  constructor(private readonly loop: Loop) {}

  take(): Pipe {
    this.takenSinceCheck = true;
    const pipe = this.idle.pop();
    if (pipe) return pipe;
    const { io, sock } = this.loop;
    if (io.pipe2(this.fds, O_NONBLOCK | O_CLOEXEC) === -1) throw new SysError('pipe2', io.errno());
    const [r, w] = this.fds;
    // Refused past the user's pipe-buffer quota: the default size still works, only slower.
    const size = sock.fcntl(w, F_SETPIPE_SZ, PIPE_SIZE);
    return { r, w, size: size > 0 ? size : 65536 };
  }

  /** Return an empty pipe. */
  give(pipe: Pipe): void {
    if (this.idle.length >= POOL_MAX) return this.destroy(pipe);
    this.idle.push(pipe);
    if (!this.checking) this.scheduleCheck();
  }

  /** Close a pipe that may still hold bytes (its connection was aborted). */
  destroy(pipe: Pipe): void {
    this.loop.sock.close(pipe.r);
    this.loop.sock.close(pipe.w);
  }

  /** Close the pipes nobody holds. */
  closeIdle(): void {
    for (const pipe of this.idle.splice(0)) this.destroy(pipe);
  }

  private scheduleCheck(): void {
    this.checking = true;
    this.takenSinceCheck = false;
    this.loop.after(IDLE_CLOSE_MS, () => {
      this.checking = false;
      if (!this.takenSinceCheck) this.closeIdle();
      if (this.idle.length > 0) this.scheduleCheck();
    });
  }
}
