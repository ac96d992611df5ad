/**
 * The bypass driver's child half: run COMMAND under the exec wrapper that installs the bind filter, and open
 * listening sockets in the namespace for the parent (the in-namespace side of a bypassed port).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { F_GETFD, F_SETFD, FD_CLOEXEC, socketCalls } from '../../../sys/socket.js';
import { BYPASS_CHANNEL_ENV, type ChildMessage, type ParentMessage } from '../../../child/protocol.js';

const EXEC_FILTERED = fileURLToPath(new URL('./exec-filtered.js', import.meta.url));

/** The channel fd the parent passed (with --port-driver=bypass only), made close-on-exec so that only the exec wrapper gets it. */
export function takeChannel(): number | undefined {
  const fd = Number(process.env[BYPASS_CHANNEL_ENV]);
  if (!Number.isInteger(fd)) return undefined;
  const c = socketCalls();
  if (!c) throw new Error('--port-driver=bypass needs native calls (koffi), which are unavailable in the child');
  c.fcntl(fd, F_SETFD, c.fcntl(fd, F_GETFD, 0) | FD_CLOEXEC);
  return fd;
}

/**
 * COMMAND run through the exec wrapper, which finds the channel on its fd 3. Our copy of the channel is closed
 * then, so that the supervisor sees a hang-up if the wrapper dies before sending the listener.
 */
export function spawnFiltered(channel: number, command: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  const proc = spawn(process.execPath, [EXEC_FILTERED, ...command], { stdio: ['inherit', 'inherit', 'inherit', channel], env });
  socketCalls()!.close(channel);
  return proc;
}

/** A listening TCP socket inside the namespace, handed to the parent (a net.Server travels over the IPC channel); our copy is closed once sent. */
export function answerListenRequest(msg: Extract<ParentMessage, { t: 'listen' }>): void {
  const server = createServer();
  const reply = (answer: ChildMessage, handle?: Server) => {
    if (process.connected) process.send!(answer, handle, {}, () => server.close());
    else server.close();
  };
  server.once('error', (err: NodeJS.ErrnoException) => reply({ t: 'socket-error', id: msg.id, code: err.code ?? 'EIO', message: err.message }));
  server.listen({ host: msg.host, port: msg.port, ipv6Only: msg.ipv6Only, exclusive: true }, () => reply({ t: 'socket', id: msg.id }, server));
}
