/**
 * How the namespace process runs COMMAND under --port-driver=bypass: `node exec-filtered.js COMMAND...` installs the bind
 * filter on its own thread, sends the listener to the parent on fd 3, and execs COMMAND, which inherits the
 * filter (as do its children, forks and execs alike). An exec wrapper rather than a filter on the namespace process' own
 * main thread: that process keeps opening sockets for the parent (and running setup tools) unfiltered, so it can
 * never wait on the supervisor that waits on it.
 */
import { errorMessage } from '../errors.js';
import { execvp } from '../sys/exec.js';
import { sendFds } from '../sys/fd-passing.js';
import { installSocketListener } from '../sys/seccomp.js';
import { socketCalls } from '../sys/socket.js';

/** The fd the wrapper finds the parent's socketpair end on. */
const CHANNEL = 3;

try {
  const { listener, noNewPrivs } = installSocketListener();
  if (noNewPrivs) process.stderr.write('nsgate: warning: the bypass filter needed no-new-privs here (no CAP_SYS_ADMIN in the namespace): setuid programs under COMMAND run without their privileges\n');
  sendFds(CHANNEL, Buffer.from('seccomp listener'), [listener]);
  const c = socketCalls()!;
  c.close(listener);
  c.close(CHANNEL);
  execvp(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`nsgate: error: ${errorMessage(err)}\n`);
  // 127: what a shell answers for a command it cannot run.
  process.exit(127);
}
