/**
 * Seccomp user notification (Linux >= 5.9 for ADDFD): the filter that sends `bind()` to a supervisor,
 * the supervisor's ioctls on the listener, and the pidfd calls that reach the notifying process' fds.
 * Struct layouts are the kernel's (include/uapi/linux/seccomp.h), 64-bit.
 */
import { fstatSync } from 'node:fs';
import { release } from 'node:os';
import { check, native, perThread, SysError, type KoffiModule, type Library } from './libc.js';

/** Per-architecture numbers the filter and the calls need (syscall numbers are not in libc's headers here). */
interface Arch {
  audit: number;
  bind: number;
  connect: number;
  /** sendto, sendmsg, sendmmsg: number and the index of their flags argument. */
  sends: readonly (readonly [nr: number, flagsArg: number])[];
  ioUring: readonly number[];
  seccomp: number;
  pidfdOpen: number;
  pidfdGetfd: number;
}

const IO_URING = [425, 426, 427]; // io_uring_setup, io_uring_enter, io_uring_register: the same everywhere

const ARCHES: Readonly<Record<string, Arch>> = {
  x64: { audit: 0xc000003e, bind: 49, connect: 42, sends: [[44, 3], [46, 2], [307, 3]], ioUring: IO_URING, seccomp: 317, pidfdOpen: 434, pidfdGetfd: 438 },
  arm64: { audit: 0xc00000b7, bind: 200, connect: 203, sends: [[206, 3], [211, 2], [269, 3]], ioUring: IO_URING, seccomp: 277, pidfdOpen: 434, pidfdGetfd: 438 },
};

const PR_SET_NO_NEW_PRIVS = 38;
const EACCES = 13;
/** ioctl on a socket: an fd of the network namespace the socket belongs to (needs CAP_NET_ADMIN over it). */
const SIOCGSKNS = 0x894c;
const SECCOMP_SET_MODE_FILTER = 1;
const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
const SECCOMP_RET_ERRNO = 0x00050000;
const IOCTL_NOTIF_RECV = 0xc0502100;
const IOCTL_NOTIF_SEND = 0xc0182101;
const IOCTL_NOTIF_ID_VALID = 0x40082102;
const IOCTL_NOTIF_ADDFD = 0x40182103;
const ADDFD_FLAG_SETFD = 1;
const USER_NOTIF_FLAG_CONTINUE = 1;
/** sizeof(struct seccomp_notif). */
const NOTIF_SIZE = 80;

/** Why user notification cannot work here, or null when it can (checked before anything starts). */
export function userNotificationUnsupported(kernel = release(), arch: string = process.arch): string | null {
  if (!ARCHES[arch]) return `it supports x86_64 and arm64 only, not ${arch}`;
  const [major = 0, minor = 0] = kernel.split('.').map((n) => Number.parseInt(n, 10));
  if (major < 5 || (major === 5 && minor < 9)) {
    return `it needs Linux >= 5.9 (seccomp user notification with SECCOMP_IOCTL_NOTIF_ADDFD); this kernel is ${kernel}`;
  }
  if (!native()) return 'it needs native calls (the koffi package), which are unavailable here';
  return null;
}

/** One notified system call. */
export interface Notification {
  id: bigint;
  /** Thread id (in the supervisor's pid namespace) of the caller. */
  pid: number;
  nr: number;
  args: bigint[];
}

interface Calls {
  koffi: KoffiModule;
  arch: Arch;
  prctl(option: number, a: number, b: number, c: number, d: number): number;
  seccomp(nr: number, op: number, flags: number, prog: object): number;
  ioctl(fd: number, request: number, arg: Buffer): number;
  syscall3(nr: number, a: number, b: number, c: number): number;
  close(fd: number): number;
}

/** Null where native calls are missing or the architecture is not one the filter knows. */
const declared = perThread<Calls | null>(({ koffi, lib }) => {
  const arch = ARCHES[process.arch];
  if (!arch) return null;
  const fprog = koffi.struct('nsgate_sock_fprog', { len: 'uint16_t', filter: 'void *' });
  return {
    koffi,
    arch,
    prctl: lib.func('int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)'),
    // syscall(2) is variadic; these fixed prototypes pass integer and pointer arguments the same way.
    seccomp: declare(lib, 'syscall', 'long', ['long', 'unsigned int', 'unsigned int', koffi.pointer(fprog)]),
    syscall3: declare(lib, 'syscall', 'long', ['long', 'long', 'long', 'long']),
    ioctl: declare(lib, 'ioctl', 'int', ['int', 'unsigned long', 'void *']),
    close: lib.func('int close(int)'),
  };
});

function seccompCalls(): Calls {
  const c = declared();
  if (!c) throw new Error(`seccomp user notification is unavailable: ${userNotificationUnsupported()}`);
  return c;
}

function declare(lib: Library, name: string, result: string, params: unknown[]) {
  return lib.func(name, result, params as string[]);
}

/**
 * The classic-BPF program. To the listener go `bind` (which may get a host socket) and what could make a host
 * socket connect out: `connect`, and sends with MSG_FASTOPEN (which connect implicitly). io_uring fails with
 * ENOSYS, because its operations skip seccomp altogether (Docker's default profile refuses it too).
 * Everything else, and other ABIs (x32, i386, whose binds then simply stay in the namespace), is allowed.
 */
function filterProgram(arch: Arch): Buffer {
  const LD_W_ABS = 0x20;
  const JEQ_K = 0x15;
  const JSET_K = 0x45;
  const RET_K = 0x06;
  const ENOSYS = 38;
  const MSG_FASTOPEN = 0x20000000;
  const argLow = (i: number) => 16 + 8 * i; // seccomp_data.args[i], low 32 bits (little-endian)
  type Insn = [code: number, jt: number, jf: number, k: number];
  const rule = (nr: number, body: Insn[]): Insn[] => [[JEQ_K, 0, body.length, nr], ...body];
  const prog: Insn[] = [
    [LD_W_ABS, 0, 0, 4], // seccomp_data.arch
    [JEQ_K, 1, 0, arch.audit],
    [RET_K, 0, 0, SECCOMP_RET_ALLOW],
    [LD_W_ABS, 0, 0, 0], // seccomp_data.nr
    ...rule(arch.bind, [[RET_K, 0, 0, SECCOMP_RET_USER_NOTIF]]),
    ...rule(arch.connect, [[RET_K, 0, 0, SECCOMP_RET_USER_NOTIF]]),
    ...arch.sends.flatMap(([nr, flags]) =>
      rule(nr, [
        [LD_W_ABS, 0, 0, argLow(flags)],
        [JSET_K, 0, 1, MSG_FASTOPEN],
        [RET_K, 0, 0, SECCOMP_RET_USER_NOTIF],
        [RET_K, 0, 0, SECCOMP_RET_ALLOW],
      ]),
    ),
    ...arch.ioUring.flatMap((nr) => rule(nr, [[RET_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS]])),
    [RET_K, 0, 0, SECCOMP_RET_ALLOW],
  ];
  const b = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, i * 8);
    b.writeUInt8(jt, i * 8 + 2);
    b.writeUInt8(jf, i * 8 + 3);
    b.writeUInt32LE(k, i * 8 + 4);
  });
  return b;
}

/**
 * Install the filter on the calling thread (inherited by what it execs and forks). The kernel takes a filter
 * without no-new-privs from a thread with CAP_SYS_ADMIN in its user namespace (uid 0 in nsgate's): setuid
 * programs and file capabilities (sudo, ping) then keep working under it. Without that capability it sets
 * no-new-privs first, as the kernel then requires. Returns the listener fd (close-on-exec) and which way it went.
 */
export function installSocketListener(): { listener: number; noNewPrivs: boolean } {
  const c = seccompCalls();
  const filter = filterProgram(c.arch);
  const install = () => c.seccomp(c.arch.seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, { len: filter.length / 8, filter });
  const fd = install();
  if (fd >= 0) return { listener: fd, noNewPrivs: false };
  if (c.koffi.errno() !== EACCES) check(c.koffi, 'seccomp(SECCOMP_SET_MODE_FILTER)', fd);
  check(c.koffi, 'prctl(PR_SET_NO_NEW_PRIVS)', c.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
  return { listener: check(c.koffi, 'seccomp(SECCOMP_SET_MODE_FILTER)', install()), noNewPrivs: true };
}

/** What a notified call is: bind, connect, or a send with MSG_FASTOPEN (which connects). */
export function notifiedCall(nr: number): 'bind' | 'connect' | 'send' | undefined {
  const { arch } = seccompCalls();
  if (nr === arch.bind) return 'bind';
  if (nr === arch.connect) return 'connect';
  if (arch.sends.some(([send]) => send === nr)) return 'send';
  return undefined;
}

/** The next notification, or null when there is none after all (ENOENT: its caller was interrupted meanwhile). */
export function receiveNotification(listener: number): Notification | null {
  const c = seccompCalls();
  const b = Buffer.alloc(NOTIF_SIZE);
  if (c.ioctl(listener, IOCTL_NOTIF_RECV, b) === -1) {
    const err = new SysError('ioctl(SECCOMP_IOCTL_NOTIF_RECV)', c.koffi.errno());
    if (err.code === 'ENOENT' || err.code === 'EINTR') return null;
    throw err;
  }
  const args: bigint[] = [];
  for (let i = 0; i < 6; i++) args.push(b.readBigUInt64LE(32 + i * 8));
  return { id: b.readBigUInt64LE(0), pid: b.readUInt32LE(8), nr: b.readInt32LE(16), args };
}

/** Whether the notification is still pending: its caller has not been interrupted, so its pid and memory are still its own. */
export function notificationValid(listener: number, id: bigint): boolean {
  const c = seccompCalls();
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(id);
  return c.ioctl(listener, IOCTL_NOTIF_ID_VALID, b) === 0;
}

/** Let the call run as if there were no filter. */
export function continueCall(listener: number, id: bigint): void {
  respond(listener, id, 0, USER_NOTIF_FLAG_CONTINUE);
}

/** Answer the call: success (errno 0) or failure with `errno`. */
export function answerCall(listener: number, id: bigint, errno: number): void {
  respond(listener, id, -errno, 0);
}

function respond(listener: number, id: bigint, error: number, flags: number): void {
  const c = seccompCalls();
  const b = Buffer.alloc(24); // id u64, val s64, error s32, flags u32
  b.writeBigUInt64LE(id, 0);
  b.writeInt32LE(error, 16);
  b.writeUInt32LE(flags, 20);
  // ENOENT: the caller was interrupted meanwhile and will restart or fail the call itself; nothing to answer.
  if (c.ioctl(listener, IOCTL_NOTIF_SEND, b) === -1 && c.koffi.errno() !== 2) throw new SysError('ioctl(SECCOMP_IOCTL_NOTIF_SEND)', c.koffi.errno());
}

/** Put our `srcFd` in the caller's fd slot `targetFd` (replacing what is there); throws ENOENT if the call is gone. */
export function installFd(listener: number, id: bigint, srcFd: number, targetFd: number, cloexec: boolean): void {
  const c = seccompCalls();
  const b = Buffer.alloc(24); // id u64, flags u32, srcfd u32, newfd u32, newfd_flags u32
  b.writeBigUInt64LE(id, 0);
  b.writeUInt32LE(ADDFD_FLAG_SETFD, 8);
  b.writeUInt32LE(srcFd, 12);
  b.writeUInt32LE(targetFd, 16);
  b.writeUInt32LE(cloexec ? 0o2000000 : 0, 20);
  check(c.koffi, 'ioctl(SECCOMP_IOCTL_NOTIF_ADDFD)', c.ioctl(listener, IOCTL_NOTIF_ADDFD, b));
}

/** A pidfd for process `pid` (close-on-exec). */
export function pidfdOpen(pid: number): number {
  const c = seccompCalls();
  return check(c.koffi, 'pidfd_open', c.syscall3(c.arch.pidfdOpen, pid, 0, 0));
}

/** A duplicate, in this process, of fd `fd` of the process behind `pidfd` (close-on-exec). */
export function pidfdGetfd(pidfd: number, fd: number): number {
  const c = seccompCalls();
  return check(c.koffi, 'pidfd_getfd', c.syscall3(c.arch.pidfdGetfd, pidfd, fd, 0));
}

/**
 * The inode of the network namespace socket `fd` belongs to (a socket keeps the namespace it was made in,
 * whichever namespace its process is in now). Throws a SysError where the kernel refuses (EPERM).
 */
export function socketNetns(fd: number): number {
  const c = seccompCalls();
  const ns = check(c.koffi, 'ioctl(SIOCGSKNS)', c.ioctl(fd, SIOCGSKNS, Buffer.alloc(8)));
  try {
    return fstatSync(ns).ino;
  } finally {
    c.close(ns);
  }
}
