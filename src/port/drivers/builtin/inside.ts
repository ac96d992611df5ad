/**
 * The builtin driver's inside half, in the process that lives in the network namespace (the namespace
 * process, or the dialer with --detach-netns): serve published ports with the native
 * relay (relay-agent.ts), or, where the parent has no native calls, open the socket the parent asked for
 * and hand it over on the IPC channel. A socket keeps the namespace it was created in, so the parent
 * can use it from the host side.
 */
import { createSocket, Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import type { InsideMessage } from '../../../ipc/messages.js';
import type { InsideHalf } from '../descriptor.js';
import { answerForwardRequest, listenInside, prepareRelay, relayStats } from './relay-agent.js';

export const builtinInside: InsideHalf = {
  start: prepareRelay,
  handlers: {
    dial: (msg) => dial(msg.id, msg.host, msg.port),
    udp: (msg) => openUdp(msg.id, msg.family),
    forward: (msg) => void answerForwardRequest(msg).then((answer) => send(answer)),
    unforward: (msg) => void answerForwardRequest(msg).then((answer) => send(answer)),
    'listen-inside': (msg) => send(listenInside(msg)),
    stats: (msg) => void relayStats().then((stats) => send({ t: 'stats', id: msg.id, stats })),
  },
};

/**
 * Answer the parent, handing over the socket if there is one. Our copy is dropped once sent (Node does that
 * itself for TCP, not for UDP, whose copy would race the parent for datagrams), or at once if the parent is gone.
 */
function send(msg: InsideMessage, sock?: Socket | UdpSocket): void {
  const drop = () => {
    if (sock instanceof UdpSocket) sock.close();
    else sock?.destroy();
  };
  if (!process.connected) return drop();
  process.send!(msg, sock, {}, (err) => {
    if (err || sock instanceof UdpSocket) drop();
  });
}

function dial(id: number, host: string, port: number): void {
  const sock = connect({ host, port, allowHalfOpen: true });
  // Paused, so the namespace process never starts reading: bytes the server sends first (a banner) must reach the parent.
  sock.pause();
  sock.once('connect', () => send({ t: 'socket', id }, sock));
  sock.once('error', (err: NodeJS.ErrnoException) => {
    send({ t: 'socket-error', id, code: err.code ?? 'EIO', message: err.message });
    sock.destroy();
  });
}

function openUdp(id: number, family: 4 | 6): void {
  const sock = createSocket(family === 4 ? 'udp4' : 'udp6');
  sock.once('error', (err: NodeJS.ErrnoException) => {
    send({ t: 'socket-error', id, code: err.code ?? 'EIO', message: err.message });
    sock.close();
  });
  sock.bind(0, () => send({ t: 'socket', id }, sock));
}
