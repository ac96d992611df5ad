/** Blocking waits on fds, for worker threads that own a loop of their own (the bypass supervisor). */
import { check, perThread, SysError } from './libc.js';
import { relayCalls, type RelayCalls } from './relay-io.js';
import { O_CLOEXEC } from './socket.js';

export const POLLIN = 1;
export const POLLHUP = 0x10;

type Poll = (fds: Buffer, nfds: number, timeout: number) => number;
const pollCall = perThread<Poll>(({ lib }) => lib.func('int poll(void *, unsigned long, int)'));

/** poll, and the relay's pipe2 and errno. */
function calls(): { poll: Poll; io: RelayCalls } {
  const poll = pollCall();
  const io = relayCalls();
  if (!poll || !io) throw new Error('blocking waits need native calls (koffi), which are unavailable here');
  return { poll, io };
}

/** Block until one of `fds` is readable or hung up; returns each fd's revents (POLLIN, POLLHUP, ...; 0 if neither). */
export function waitReadable(fds: readonly number[]): number[] {
  const { poll, io } = calls();
  const b = Buffer.alloc(8 * fds.length); // struct pollfd { int fd; short events; short revents; }
  fds.forEach((fd, i) => {
    b.writeInt32LE(fd, i * 8);
    b.writeInt16LE(POLLIN, i * 8 + 4);
  });
  while (poll(b, fds.length, -1) === -1) {
    const err = new SysError('poll', io.errno());
    if (err.code !== 'EINTR') throw err;
  }
  return fds.map((_, i) => b.readInt16LE(i * 8 + 6));
}

/** A pipe, [read end, write end], both close-on-exec: another thread wakes a `waitReadable` by writing to it. */
export function pipe(): [number, number] {
  const { io } = calls();
  const fds: [number, number] = [-1, -1];
  check(io.koffi, 'pipe2', io.pipe2(fds, O_CLOEXEC));
  return fds;
}
