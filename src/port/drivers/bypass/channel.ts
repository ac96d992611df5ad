/**
 * The socketpair the seccomp listener travels on: created by the parent before the child starts, one end
 * passed down to the child (and on to its exec wrapper), the other read by the supervisor.
 */
import { check } from '../../../sys/libc.js';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_SEQPACKET, socketCalls } from '../../../sys/socket.js';
import { CHANNEL_ARG } from './child.js';

/**
 * The child end's fd in the child: 3 is the IPC channel, 4 the gate, and 5 the reaper shell's copy of stdin
 * (see parent/child.ts), so 6.
 */
const CHILD_FD = 6;

export class ListenerChannel {
  #open: Set<number>;

  private constructor(
    /** The supervisor's end. */
    readonly parentEnd: number,
    private readonly childEnd: number,
  ) {
    this.#open = new Set([parentEnd, childEnd]);
  }

  static open(): ListenerChannel {
    const c = socketCalls();
    if (!c) throw new Error('--port-driver=bypass needs native calls (koffi), which are unavailable here');
    const pair: [number, number] = [-1, -1];
    check(c.koffi, 'socketpair', c.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair));
    return new ListenerChannel(pair[0], pair[1]);
  }

  /** What the child's spawn adds: its argument, and stdio entries that put the child end on CHILD_FD. */
  forChild(): { args: string[]; stdio: Array<'ignore' | number> } {
    const gap = Array<'ignore'>(CHILD_FD - 5).fill('ignore');
    return { args: [`${CHANNEL_ARG}${CHILD_FD}`], stdio: [...gap, this.childEnd] };
  }

  /** Once the child is spawned it holds its end; ours goes, so the supervisor sees a hang-up if the child dies first. */
  childSpawned(): void {
    this.#close(this.childEnd);
  }

  close(): void {
    for (const fd of this.#open) this.#close(fd);
  }

  #close(fd: number): void {
    if (this.#open.delete(fd)) socketCalls()!.close(fd);
  }
}
