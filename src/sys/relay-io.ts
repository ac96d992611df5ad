/**
 * The calls of the native relay: pipes and splice(2), epoll, eventfd, recvmmsg/sendmmsg, usleep, and the fd limit.
 * Like src/sys/socket.ts (which has close and fcntl) they return what libc returns; the relay reads errno
 * itself on -1.
 * The calls of the data path take raw addresses (numbers) of memory from `nativeBlock`: the batch calls, so
 * that a batch can start mid-array, and every call made per message or per connection (`epollWait`, the
 * `...At` calls, splice without offsets), because koffi checks and converts a Buffer argument on every call:
 * measured here, a 64-byte read(2) took 1,021 ns with a Buffer and 738 ns with an address.
 * `read` and `write` take Buffers, for the control path (eventfds, netlink).
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
  /** splice(2) between a pipe and a socket (no offsets). */
  splice(fdIn: number, fdOut: number, len: number, flags: number): number;
  epollCreate1(flags: number): number;
  /** `event`: the address of a struct epoll_event, or 0 (EPOLL_CTL_DEL). */
  epollCtl(epfd: number, op: number, fd: number, event: number): number;
  epollWait(epfd: number, events: number, max: number, timeoutMs: number): number;
  eventfd(initval: number, flags: number): number;
  read(fd: number, buf: Buffer, len: number): number;
  write(fd: number, buf: Buffer, len: number): number;
  readAt(fd: number, buf: number, len: number): number;
  writeAt(fd: number, buf: number, len: number): number;
  accept4At(fd: number, addr: number, addrLen: number, flags: number): number;
  connectAt(fd: number, addr: number, addrLen: number): number;
  setsockoptAt(fd: number, level: number, name: number, value: number, len: number): number;
  /** recvmmsg(2) without a timeout. */
  recvmmsg(fd: number, vec: number, vlen: number, flags: number): number;
  sendmmsg(fd: number, vec: number, vlen: number, flags: number): number;
  usleep(us: number): number;
  errno(): number;
}

/** The relay's calls, or null without native support. */
export const relayCalls = perThread<RelayCalls>(({ koffi, lib }) => {
  const splice = lib.func('intptr_t splice(int, uintptr_t, int, uintptr_t, size_t, unsigned int)');
  const recvmmsg = lib.func('int recvmmsg(int, uintptr_t, unsigned int, int, uintptr_t)');
  return {
    koffi,
    pipe2: lib.func('int pipe2(_Out_ int *fds, int)'),
    splice: (fdIn: number, fdOut: number, len: number, flags: number) => splice(fdIn, 0, fdOut, 0, len, flags),
    epollCreate1: lib.func('int epoll_create1(int)'),
    epollCtl: lib.func('int epoll_ctl(int, int, int, uintptr_t)'),
    epollWait: lib.func('int epoll_wait(int, uintptr_t, int, int)'),
    eventfd: lib.func('int eventfd(unsigned int, int)'),
    read: lib.func('intptr_t read(int, void *, size_t)'),
    write: lib.func('intptr_t write(int, void *, size_t)'),
    readAt: lib.func('intptr_t read(int, uintptr_t, size_t)'),
    writeAt: lib.func('intptr_t write(int, uintptr_t, size_t)'),
    accept4At: lib.func('int accept4(int, uintptr_t, uintptr_t, int)'),
    connectAt: lib.func('int connect(int, uintptr_t, uint32_t)'),
    setsockoptAt: lib.func('int setsockopt(int, int, int, uintptr_t, uint32_t)'),
    recvmmsg: (fd: number, vec: number, vlen: number, flags: number) => recvmmsg(fd, vec, vlen, flags, 0),
    sendmmsg: lib.func('int sendmmsg(int, uintptr_t, unsigned int, int)'),
    usleep: lib.func('int usleep(uint32_t)'),
    errno: () => koffi.errno(),
  };
});

/** Native memory that stays put (batch headers point into it): a Buffer view and its address. */
export interface NativeBlock {
  readonly view: Buffer;
  /**
   * The same bytes as a DataView, for fields read or written per message: Buffer's read and write methods
   * validate their arguments on every call, which showed in profiles of UDP at saturation; DataView's
   * accessors compile to plain loads and stores.
   */
  readonly fields: DataView;
  readonly address: number;
  free(): void;
}

export function nativeBlock(c: RelayCalls, size: number): NativeBlock {
  const ptr = c.koffi.alloc('uint8_t', size);
  const view = Buffer.from(c.koffi.view(ptr, size));
  return {
    view,
    fields: new DataView(view.buffer, view.byteOffset, view.byteLength),
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
