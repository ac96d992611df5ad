/**
 * The builtin driver's child half: inside the network namespace, open the socket the parent asked for
 * and hand it over on the IPC channel. A socket keeps the namespace it was created in, so the parent
 * can use it from the host side.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import type { ChildMessage, ParentMessage } from '../../../child/protocol.js';

type Send = (msg: ChildMessage, handle?: Socket | UdpSocket, options?: object, callback?: () => void) => boolean;

export function answerPortRequest(msg: ParentMessage, send: Send): void {
  if (msg.t === 'dial') return dial(msg.id, msg.host, msg.port, send);
  if (msg.t === 'udp') return openUdp(msg.id, msg.family, send);
}

function dial(id: number, host: string, port: number, send: Send): void {
  const sock = connect({ host, port, allowHalfOpen: true });
  // Paused, so the child never starts reading: bytes the server sends first (a banner) must reach the parent.
  sock.pause();
  sock.once('connect', () => send({ t: 'socket', id }, sock));
  sock.once('error', (err: NodeJS.ErrnoException) => {
    send({ t: 'socket-error', id, code: err.code ?? 'EIO', message: err.message });
    sock.destroy();
  });
}

function openUdp(id: number, family: 4 | 6, send: Send): void {
  const sock = createSocket(family === 4 ? 'udp4' : 'udp6');
  sock.once('error', (err: NodeJS.ErrnoException) => {
    send({ t: 'socket-error', id, code: err.code ?? 'EIO', message: err.message });
    sock.close();
  });
  // Node keeps the sender's copy of a UDP handle open: close it once sent, or it would race the parent for replies.
  sock.bind(0, () => send({ t: 'socket', id }, sock, {}, () => sock.close()));
}
