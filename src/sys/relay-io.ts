/**
 * The calls of the native relay: pipes and splice(2), epoll, eventfd, recvmmsg/sendmmsg, usleep, and the fd limit.
 * Like src/sys/socket.ts (which has close and fcntl) they return what libc returns; the relay reads errno
 * itself on -1.
 * Batch calls take raw addresses (numbers) of memory from `nativeBlock`, so a batch can start mid-array.
 */
import { check, native, perThread, type KoffiModule } from './libc.js';

export const SPLICE_F_MOVE = 1;
export const SPLICE_F_NONBLOCK = 2;
export const F_SETPIPE_SZ = 1031;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLLIN = 0x1;
export const EPOLLOUT = 0x4;
export const EPOLLERR = 0x8;
export const EPOLLHUP = 0x10;
export const EPOLLRDHUP = 0x2000;
export const EPOLLEXCLUSIVE = 1 << 28;
export const EPOLLET = 1 << 31;
/** struct epoll_event is packed on x86_64: u32 events, u64 data. */
export const EPOLL_EVENT_SIZE = 12;

export interface RelayCalls {
  readonly koffi: KoffiModule;
  pipe2(fds: [number, number], flags: number): number;
  splice(fdIn: number, offIn: null, fdOut: number, offOut: null, len: number, flags: number): number;
  epollCreate1(flags: number): number;
  epollCtl(epfd: number, op: number, fd: number, event: Buffer | null): number;
  epollWait(epfd: number, events: Buffer, max: number, timeoutMs: number): number;
  eventfd(initval: number, flags: number): number;
  read(fd: number, buf: Buffer, len: number): number;
  write(fd: number, buf: Buffer, len: number): number;
  recvmmsg(fd: number, vec: number, vlen: number, flags: number, timeout: null): number;
  sendmmsg(fd: number, vec: number, vlen: number, flags: number): number;
  usleep(us: number): number;
  errno(): number;
}

/** The relay's calls, or null without native support. */
export const relayCalls = perThread<RelayCalls>(({ koffi, lib }) => ({
  koffi,
  pipe2: lib.func('int pipe2(_Out_ int *fds, int)'),
  splice: lib.func('intptr_t splice(int, void *, int, void *, size_t, unsigned int)'),
  epollCreate1: lib.func('int epoll_create1(int)'),
  epollCtl: lib.func('int epoll_ctl(int, int, int, void *)'),
  epollWait: lib.func('int epoll_wait(int, void *, int, int)'),
  eventfd: lib.func('int eventfd(unsigned int, int)'),
  read: lib.func('intptr_t read(int, void *, size_t)'),
  write: lib.func('intptr_t write(int, void *, size_t)'),
  recvmmsg: lib.func('int recvmmsg(int, uintptr_t, unsigned int, int, void *)'),
  sendmmsg: lib.func('int sendmmsg(int, uintptr_t, unsigned int, int)'),
  usleep: lib.func('int usleep(uint32_t)'),
  errno: () => koffi.errno(),
}));

/** Native memory that stays put (batch headers point into it): a Buffer view and its address. */
export interface NativeBlock {
  readonly view: Buffer;
  readonly address: number;
  free(): void;
}

export function nativeBlock(c: RelayCalls, size: number): NativeBlock {
  const ptr = c.koffi.alloc('uint8_t', size);
  return {
    view: Buffer.from(c.koffi.view(ptr, size)),
    address: Number(c.koffi.address(ptr)),
    free: () => c.koffi.free(ptr),
  };
}

/**
 * Raise the soft limit on open files to the hard limit, as Go programs (RootlessKit among them) do at start:
 * every forwarded connection holds two fds. Returns the new limit, or null without native calls.
 */
export function raiseOpenFileLimit(): number | null {
  const n = native();
  if (!n) return null;
  const { koffi, lib } = n;
  const prlimit = lib.func('int prlimit(int, int, void *, void *)');
  const RLIMIT_NOFILE = 7;
  const limits = Buffer.alloc(16); // struct rlimit { u64 soft; u64 hard; }
  check(koffi, 'prlimit', prlimit(0, RLIMIT_NOFILE, null, limits));
  limits.writeBigUInt64LE(limits.readBigUInt64LE(8), 0);
  check(koffi, 'prlimit', prlimit(0, RLIMIT_NOFILE, limits, null));
  return Number(limits.readBigUInt64LE(8));
}
