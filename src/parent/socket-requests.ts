import type { ChildProcess } from 'node:child_process';
import type { Socket as UdpSocket } from 'node:dgram';
import type { Server, Socket } from 'node:net';
import type { ChildMessage, ParentMessage } from '../child/protocol.js';

const SOCKET_TIMEOUT_MS = 10_000;

/** An error from inside the namespace while opening a socket there (ECONNREFUSED, ETIMEDOUT, ...). */
export class ChildSocketError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const gone = () => new ChildSocketError('ECHILD', 'the process in the namespace is gone');

interface Pending {
  resolve(handle: Socket | UdpSocket | Server): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Sockets opened inside the network namespace by a process that lives there (the child, or the
 * --detach-netns dialer), asked for over its IPC channel: requests carry ids, answers carry the socket.
 */
export class SocketRequests {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly proc: ChildProcess) {
    proc.on('message', (msg: ChildMessage, handle?: Socket | UdpSocket | Server) => {
      if (msg.t === 'socket') this.settle(msg.id, handle);
      else if (msg.t === 'socket-error') this.settle(msg.id, undefined, new ChildSocketError(msg.code, msg.message));
    });
    proc.once('exit', () => {
      for (const id of [...this.pending.keys()]) this.settle(id, undefined, gone());
    });
    // A send racing the process' death fails through its callback below; this keeps the event from crashing nsgate.
    proc.on('error', () => {});
  }

  /** A TCP connection to host:port made inside the namespace. */
  dial(host: string, port: number): Promise<Socket> {
    return this.request((id) => ({ t: 'dial', id, host, port })) as Promise<Socket>;
  }

  /** An unconnected UDP socket that lives in the namespace. */
  udpSocket(family: 4 | 6): Promise<UdpSocket> {
    return this.request((id) => ({ t: 'udp', id, family })) as Promise<UdpSocket>;
  }

  /** A TCP socket listening at host:port inside the namespace. */
  listen(host: string, port: number, ipv6Only: boolean): Promise<Server> {
    return this.request((id) => ({ t: 'listen', id, host, port, ipv6Only })) as Promise<Server>;
  }

  private request(make: (id: number) => ParentMessage): Promise<Socket | UdpSocket | Server> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ChildSocketError('ETIMEDOUT', `no answer from inside the namespace within ${SOCKET_TIMEOUT_MS / 1000} s`));
      }, SOCKET_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      if (!this.proc.connected) return this.settle(id, undefined, gone());
      this.proc.send(make(id), (err) => err && this.settle(id, undefined, gone()));
    });
  }

  private settle(id: number, handle: Socket | UdpSocket | Server | undefined, err?: Error): void {
    const p = this.pending.get(id);
    if (!p) {
      // Answered after its timeout: nobody wants it any more.
      if (handle && 'destroy' in handle) handle.destroy();
      else handle?.close();
      return;
    }
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (err || !handle) p.reject(err ?? new Error('socket answer without a socket'));
    else p.resolve(handle);
  }
}
