/**
 * The bypass driver's inside half, in the namespace process: run COMMAND under the exec wrapper that installs the
 * bind filter, and open listening sockets in the namespace for the parent (the in-namespace side of a bypassed port).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { ENTRY } from '../../../entry/paths.js';
import { takeFdChannel } from '../../../ipc/fd-channel.js';
import type { InsideMessage, ParentMessage } from '../../../ipc/messages.js';
import { socketCalls } from '../../../sys/socket.js';
import type { InsideHalf } from '../descriptor.js';

/** The fd channel the parent passed, close-on-exec so that only the exec wrapper gets it. */
let channel: number | undefined;

export const bypassInside: InsideHalf = {
  start() {
    channel = takeFdChannel();
    if (channel === undefined) throw new Error('--port-driver=bypass needs native calls (koffi), which are unavailable in the child');
  },
  handlers: { listen: answerListenRequest },
  spawnCommand: (file, args, env) => spawnFiltered(channel!, [file, ...args], env),
};

/**
 * COMMAND run through the exec wrapper, which finds the channel on its fd 3. Our copy of the channel is closed
 * then, so that the supervisor sees a hang-up if the wrapper dies before sending the listener.
 */
function spawnFiltered(fd: number, command: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  const proc = spawn(process.execPath, [ENTRY.execFiltered, ...command], { stdio: ['inherit', 'inherit', 'inherit', fd], env });
  socketCalls()!.close(fd);
  return proc;
}

/** A listening TCP socket inside the namespace, handed to the parent (a net.Server travels over the IPC channel); our copy is closed once sent. */
function answerListenRequest(msg: Extract<ParentMessage, { t: 'listen' }>): void {
  const server = createServer();
  const reply = (answer: InsideMessage, handle?: Server) => {
    if (process.connected) process.send!(answer, handle, {}, () => server.close());
    else server.close();
  };
  server.once('error', (err: NodeJS.ErrnoException) => reply({ t: 'socket-error', id: msg.id, code: err.code ?? 'EIO', message: err.message }));
  server.listen({ host: msg.host, port: msg.port, ipv6Only: msg.ipv6Only, exclusive: true }, () => reply({ t: 'socket', id: msg.id }, server));
}
