/**
 * Pipes for splice(2), lent to a connection only while bytes are in flight: an idle connection holds
 * none, so 10,000 idle connections cost 20,000 socket fds and no pipes.
 */
import { F_SETPIPE_SZ, O_CLOEXEC, O_NONBLOCK, type RelayCalls } from '../sys/relay-io.js';
import { SysError } from '../sys/libc.js';

export interface Pipe {
  readonly r: number;
  readonly w: number;
  /** How much one splice may move into it. */
  readonly size: number;
}

/** Large pipes mean fewer splice calls per megabyte; the kernel caps unprivileged users at pipe-max-size (1 MiB). */
const PIPE_SIZE = 1 << 20;
const POOL_MAX = 64;

export class PipePool {
  private readonly idle: Pipe[] = [];
  private readonly fds: [number, number] = [0, 0];

  constructor(private readonly io: RelayCalls) {}

  take(): Pipe {
    const pipe = this.idle.pop();
    if (pipe) return pipe;
    if (this.io.pipe2(this.fds, O_NONBLOCK | O_CLOEXEC) === -1) throw new SysError('pipe2', this.io.errno());
    const [r, w] = this.fds;
    // Refused past the user's pipe-buffer quota: the default size still works, only slower.
    const size = this.io.fcntl(w, F_SETPIPE_SZ, PIPE_SIZE);
    return { r, w, size: size > 0 ? size : 65536 };
  }

  /** Return an empty pipe. */
  give(pipe: Pipe): void {
    if (this.idle.length < POOL_MAX) this.idle.push(pipe);
    else this.destroy(pipe);
  }

  /** Close a pipe that may still hold bytes (its connection was aborted). */
  destroy(pipe: Pipe): void {
    this.io.close(pipe.r);
    this.io.close(pipe.w);
  }
}
