/** Blocking waits on fds, for worker threads that own a loop of their own (the bypass supervisor). */
import { check, native, SysError, type KoffiModule } from './libc.js';

export const POLLIN = 1;
export const POLLHUP = 0x10;
const O_CLOEXEC = 0o2000000;

interface Calls {
  koffi: KoffiModule;
  poll(fds: Buffer, nfds: number, timeout: number): number;
  pipe2(fds: [number, number], flags: number): number;
}

let calls: Calls | undefined;

function pollCalls(): Calls {
  if (calls) return calls;
  const n = native();
  if (!n) throw new Error('blocking waits need native calls (koffi), which are unavailable here');
  calls = { koffi: n.koffi, poll: n.lib.func('int poll(void *, unsigned long, int)'), pipe2: n.lib.func('int pipe2(_Out_ int *fds, int)') };
  return calls;
}

/** Block until one of `fds` is readable or hung up; returns each fd's revents (POLLIN, POLLHUP, ...; 0 if neither). */
export function waitReadable(fds: readonly number[]): number[] {
  const c = pollCalls();
  const b = Buffer.alloc(8 * fds.length); // struct pollfd { int fd; short events; short revents; }
  fds.forEach((fd, i) => {
    b.writeInt32LE(fd, i * 8);
    b.writeInt16LE(POLLIN, i * 8 + 4);
  });
  while (c.poll(b, fds.length, -1) === -1) {
    const err = new SysError('poll', c.koffi.errno());
    if (err.code !== 'EINTR') throw err;
  }
  return fds.map((_, i) => b.readInt16LE(i * 8 + 6));
}

/** A pipe, [read end, write end], both close-on-exec: another thread wakes a `waitReadable` by writing to it. */
export function pipe(): [number, number] {
  const c = pollCalls();
  const fds: [number, number] = [-1, -1];
  check(c.koffi, 'pipe2', c.pipe2(fds, O_CLOEXEC));
  return fds;
}
