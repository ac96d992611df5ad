import type { ChildProcess } from 'node:child_process';
import type { Socket as UdpSocket } from 'node:dgram';
import type { Server, Socket } from 'node:net';
import type { ChildMessage, ParentMessage } from '../child/protocol.js';
import type { Target } from '../dataplane/commands.js';
import { sendFds } from '../sys/fd-passing.js';

const SOCKET_TIMEOUT_MS = 10_000;

/** An error from inside the namespace while opening a socket there (ECONNREFUSED, ETIMEDOUT, ...). */
export class ChildSocketError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const gone = () => new ChildSocketError('ECHILD', 'the process in the namespace is gone');

type Handle = Socket | UdpSocket | Server;

interface Pending {
  resolve(handle: Handle | undefined): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * What the builtin driver asks of a process that lives in the network namespace (the child, or the
 * --detach-netns dialer), over its IPC channel, with request ids: serve a published port from there with
 * the native relay (the host socket travels on the fd channel), or, without native calls, open a socket
 * there and hand it back.
 */
export class SocketRequests {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** `fdChannel`: the parent's end of the fd channel, or null when the native relay is unavailable. */
  constructor(private readonly proc: ChildProcess, private readonly fdChannel: number | null) {
    proc.on('message', (msg: ChildMessage, handle?: Handle) => {
      if (msg.t === 'socket') this.settle(msg.id, handle);
      else if (msg.t === 'socket-error') this.settle(msg.id, undefined, new ChildSocketError(msg.code, msg.message));
      else if (msg.t === 'forwarded') this.settle(msg.id, undefined, msg.error === undefined ? undefined : new Error(msg.error));
    });
    proc.once('exit', () => {
      for (const id of [...this.pending.keys()]) this.settle(id, undefined, gone());
    });
    // A send racing the process' death fails through its callback below; this keeps the event from crashing nsgate.
    proc.on('error', () => {});
  }

  /** Whether `forward` is available (the native relay runs inside). */
  get relaysNatively(): boolean {
    return this.fdChannel !== null;
  }

  /** A TCP connection to host:port made inside the namespace. */
  async dial(host: string, port: number): Promise<Socket> {
    return (await this.request((id) => ({ t: 'dial', id, host, port }))) as Socket;
  }

  /** An unconnected UDP socket that lives in the namespace. */
  async udpSocket(family: 4 | 6): Promise<UdpSocket> {
    return (await this.request((id) => ({ t: 'udp', id, family }))) as UdpSocket;
  }

  /** A TCP socket listening at host:port inside the namespace (the bypass driver's in-namespace side). */
  async listen(host: string, port: number, ipv6Only: boolean): Promise<Server> {
    return (await this.request((id) => ({ t: 'listen', id, host, port, ipv6Only }))) as Server;
  }

  /**
   * Serve the published port whose host socket is `fd` from inside the namespace; resolves with the
   * forward's id once the relay accepts on it. The caller still closes its own copy of `fd`.
   */
  async forward(fd: number, proto: 'tcp' | 'udp', target: Target, sourceIp: boolean): Promise<number> {
    let forwardId = 0;
    await this.request((id) => {
      // Queued on the fd channel before the message that announces it can arrive.
      sendFds(this.fdChannel!, Buffer.from(String(id)), [fd]);
      forwardId = id;
      return { t: 'forward', id, proto, target, sourceIp };
    }, 'none');
    return forwardId;
  }

  /**
   * Stop serving forward `id` inside, closing its connections. If the process inside is gone, so is
   * the forward (it held the only copy of the host socket): nothing left to do.
   */
  async unforward(id: number): Promise<void> {
    try {
      await this.request(() => ({ t: 'unforward', id }), 'none', id);
    } catch (err) {
      if (!(err instanceof ChildSocketError && err.code === 'ECHILD')) throw err;
    }
  }

  private request(make: (id: number) => ParentMessage, expect: 'handle' | 'none' = 'handle', reuseId?: number): Promise<Handle | undefined> {
    const id = reuseId ?? this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ChildSocketError('ETIMEDOUT', `no answer from inside the namespace within ${SOCKET_TIMEOUT_MS / 1000} s`));
      }, SOCKET_TIMEOUT_MS);
      const settleAs = (handle: Handle | undefined) =>
        expect === 'handle' && !handle ? reject(new Error('socket answer without a socket')) : resolve(handle);
      this.pending.set(id, { resolve: settleAs, reject, timer });
      if (!this.proc.connected) return this.settle(id, undefined, gone());
      try {
        this.proc.send(make(id), (err) => err && this.settle(id, undefined, gone()));
      } catch (err) {
        this.settle(id, undefined, err as Error);
      }
    });
  }

  private settle(id: number, handle: Handle | undefined, err?: Error): void {
    const p = this.pending.get(id);
    if (!p) {
      // Answered after its timeout: nobody wants it any more.
      if (handle && 'destroy' in handle) handle.destroy();
      else handle?.close();
      return;
    }
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(handle);
  }
}
