/** execvp(3): Node has no exec that keeps the process (and with it a seccomp filter installed on its thread). */
import { native, SysError } from './libc.js';
import { F_SETFD, socketCalls } from './socket.js';

const SIG_SETMASK = 2;
const SIGKILL = 9;
const SIGSTOP = 19;
const LAST_STANDARD_SIGNAL = 31;
/** sizeof(sigset_t) in glibc. */
const SIGSET_SIZE = 128;

/**
 * Replace this process with `argv` (PATH searched); returns only by throwing. What Node changed is undone first,
 * as a fresh spawn would have it: stdin, stdout and stderr stay open (Node marks them close-on-exec), and signal
 * dispositions and the mask are reset (Node ignores SIGPIPE, and an ignored signal stays ignored across exec).
 */
export function execvp(argv: readonly string[]): never {
  const n = native();
  const sock = socketCalls();
  if (!n || !sock) throw new Error('exec needs native calls (koffi), which are unavailable here');
  const { koffi, lib } = n;
  const signal = lib.func('void *signal(int, void *)');
  const sigprocmask = lib.func('int sigprocmask(int, void *, void *)');
  const call = lib.func('int execvp(const char *, const char **)');
  for (const fd of [0, 1, 2]) sock.fcntl(fd, F_SETFD, 0);
  for (let sig = 1; sig <= LAST_STANDARD_SIGNAL; sig++) if (sig !== SIGKILL && sig !== SIGSTOP) signal(sig, null);
  sigprocmask(SIG_SETMASK, Buffer.alloc(SIGSET_SIZE), null);
  call(argv[0]!, [...argv, null]);
  throw new SysError(`cannot run ${argv[0]}`, koffi.errno());
}
