/**
 * Passing file descriptors between processes over a UNIX socket (SCM_RIGHTS), with a small payload that
 * says what they are. Used for fds Node's IPC cannot carry (raw sockets, seccomp listeners).
 */
import { check, perThread, SysError } from './libc.js';
import { MSG_DONTWAIT, socketCalls, type SocketCalls } from './socket.js';

const SCM_RIGHTS = 1;
const MSG_CMSG_CLOEXEC = 0x40000000;
/** sizeof(struct cmsghdr) on 64-bit Linux: len (size_t), level (int), type (int). */
const CMSG_HEADER = 16;
const MAX_FDS = 16;
const MAX_PAYLOAD = 4096;

interface MsgCalls {
  sendmsg(fd: number, msg: object, flags: number): number;
  recvmsg(fd: number, msg: object, flags: number): number;
}

const msgCalls = perThread<MsgCalls>(({ koffi, lib }) => {
  const iovec = koffi.struct('nsgate_iovec', { base: 'void *', len: 'size_t' });
  const msghdr = koffi.struct('nsgate_msghdr', {
    name: 'void *',
    namelen: 'uint32_t',
    iov: koffi.pointer(iovec),
    iovlen: 'size_t',
    control: 'void *',
    controllen: 'size_t',
    flags: 'int',
  });
  return {
    sendmsg: lib.func('sendmsg', 'intptr_t', ['int', koffi.pointer(msghdr), 'int']),
    recvmsg: lib.func('recvmsg', 'intptr_t', ['int', koffi.inout(koffi.pointer(msghdr)), 'int']),
  };
});

function calls(): { sock: SocketCalls; msg: MsgCalls } {
  const sock = socketCalls();
  const msg = msgCalls();
  if (!sock || !msg) throw new Error('passing file descriptors needs native calls (koffi), which are unavailable here');
  return { sock, msg };
}

/** Send `payload` with `fds` attached on the UNIX socket `via` (blocking; a SEQPACKET socket keeps it one message). */
export function sendFds(via: number, payload: Buffer, fds: readonly number[]): void {
  const { sock, msg } = calls();
  if (payload.length === 0 || payload.length > MAX_PAYLOAD) throw new Error(`fd message payload must be 1..${MAX_PAYLOAD} bytes`);
  const control = Buffer.alloc(CMSG_HEADER + align8(4 * fds.length));
  control.writeBigUInt64LE(BigInt(CMSG_HEADER + 4 * fds.length), 0);
  control.writeInt32LE(1 /* SOL_SOCKET */, 8);
  control.writeInt32LE(SCM_RIGHTS, 12);
  fds.forEach((fd, i) => control.writeInt32LE(fd, CMSG_HEADER + 4 * i));
  const hdr = { name: null, namelen: 0, iov: [{ base: payload, len: payload.length }], iovlen: 1, control: fds.length ? control : null, controllen: fds.length ? control.length : 0, flags: 0 };
  check(sock.koffi, 'sendmsg', msg.sendmsg(via, hdr, 0));
}

/**
 * Receive one message: the payload and the fds that came with it (close-on-exec). Without `wait`, null if none
 * is queued; with it, blocking until one comes (an empty payload: the peer closed its end).
 */
export function receiveFds(via: number, { wait = false } = {}): { payload: Buffer; fds: number[] } | null {
  const { sock, msg } = calls();
  const data = Buffer.alloc(MAX_PAYLOAD);
  const control = Buffer.alloc(CMSG_HEADER + 4 * MAX_FDS);
  const hdr = { name: null, namelen: 0, iov: [{ base: data, len: data.length }], iovlen: 1, control, controllen: control.length, flags: 0 };
  const n = msg.recvmsg(via, hdr, (wait ? 0 : MSG_DONTWAIT) | MSG_CMSG_CLOEXEC);
  if (n === -1) {
    const err = new SysError('recvmsg', sock.errno());
    if (err.code === 'EAGAIN') return null;
    throw err;
  }
  const fds: number[] = [];
  for (let off = 0; off + CMSG_HEADER <= hdr.controllen; ) {
    const len = Number(control.readBigUInt64LE(off));
    if (len < CMSG_HEADER) break;
    if (control.readInt32LE(off + 8) === 1 && control.readInt32LE(off + 12) === SCM_RIGHTS) {
      for (let p = off + CMSG_HEADER; p + 4 <= off + len; p += 4) fds.push(control.readInt32LE(p));
    }
    off += align8(len);
  }
  return { payload: data.subarray(0, n), fds };
}

const align8 = (n: number) => (n + 7) & ~7;
