import type { ChildProcess } from 'node:child_process';
import type { Socket as UdpSocket } from 'node:dgram';
import type { Server, Socket } from 'node:net';
import type { InsideMessage } from '../ipc/messages.js';
import type { Target } from '../dataplane/commands.js';
import type { Counters } from '../dataplane/counters.js';
import { UserError, errorMessage } from '../errors.js';
import { receiveFdFor, sendFdFor } from '../ipc/fd-channel.js';
import type { DriverRequest, InsideProcess } from '../port/drivers/descriptor.js';

const SOCKET_TIMEOUT_MS = 10_000;

/** An error from inside the namespace while opening a socket there (ECONNREFUSED, ETIMEDOUT, ...). */
export class InsideSocketError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const gone = () => new InsideSocketError('ECHILD', 'the process in the namespace is gone');

type Handle = Socket | UdpSocket | Server;

interface Pending {
  resolve(handle: Handle | undefined, stats?: Array<[number, Counters]>): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * What a port driver's parent half asks of its inside half, in the process that runs it (the namespace
 * process, or the --detach-netns dialer), over its IPC channel, with request ids: serve a published port
 * from there with the native relay (the host socket travels on the fd channel), or open a socket there and
 * hand it back.
 */
export class InsideRequests implements InsideProcess {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** `fdChannel`: the parent's end of the fd channel, or null when the native relay is unavailable. */
  constructor(private readonly proc: ChildProcess, readonly fdChannel: number | null) {
    proc.on('message', (msg: InsideMessage, handle?: Handle) => {
      if (msg.t === 'socket') this.settle(msg.id, handle);
      else if (msg.t === 'socket-error') this.settle(msg.id, undefined, new InsideSocketError(msg.code, msg.message));
      else if (msg.t === 'forwarded') this.settle(msg.id, undefined, msg.error === undefined ? undefined : new Error(msg.error));
      else if (msg.t === 'stats') this.settle(msg.id, undefined, undefined, msg.stats);
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
    return (await this.request({ t: 'dial', id: this.nextId++, host, port })) as Socket;
  }

  /** An unconnected UDP socket that lives in the namespace. */
  async udpSocket(family: 4 | 6): Promise<UdpSocket> {
    return (await this.request({ t: 'udp', id: this.nextId++, family })) as UdpSocket;
  }

  /** A TCP socket listening at host:port inside the namespace (the bypass driver's in-namespace side). */
  async listen(host: string, port: number, ipv6Only: boolean): Promise<Server> {
    return (await this.request({ t: 'listen', id: this.nextId++, host, port, ipv6Only })) as Server;
  }

  /**
   * Serve the published port whose host socket is `fd` from inside the namespace; resolves with the
   * forward's id once the relay accepts on it. The caller still closes its own copy of `fd`.
   */
  async forward(fd: number, proto: 'tcp' | 'udp', target: Target, sourceIp: boolean): Promise<number> {
    const id = this.nextId++;
    // The fd first: it is queued on the fd channel when the message that announces it arrives.
    sendFdFor(this.fdChannel!, id, fd);
    await this.request({ t: 'forward', id, proto, target, sourceIp }, 'none');
    return id;
  }

  /**
   * Stop serving forward `id` inside, closing its connections. If the process inside is gone, so is
   * the forward (it held the only copy of the host socket): nothing left to do.
   */
  async unforward(id: number): Promise<void> {
    try {
      await this.request({ t: 'unforward', id }, 'none');
    } catch (err) {
      if (!(err instanceof InsideSocketError && err.code === 'ECHILD')) throw err;
    }
  }

  /**
   * A socket listening (TCP) or bound (UDP) at ip:port inside the namespace, for a reverse port: its fd,
   * which the caller closes. A UserError when the port is taken there.
   */
  async listenInside(proto: 'tcp' | 'udp', ip: string, port: number): Promise<number> {
    if (this.fdChannel === null) throw new UserError('reverse ports need the native relay (koffi) and --port-driver=builtin');
    const id = this.nextId++;
    try {
      await this.request({ t: 'listen-inside', id, proto, ip, port }, 'none');
    } catch (err) {
      // The inside's words for a bind that failed there (port taken, no such address) are for the user.
      throw err instanceof InsideSocketError ? err : new UserError(errorMessage(err));
    }
    return receiveFdFor(this.fdChannel, id);
  }

  /** The native relay's counters, by the ids `forward` returned. */
  async relayStats(): Promise<Map<number, Counters>> {
    let stats: Array<[number, Counters]> = [];
    await this.request({ t: 'stats', id: this.nextId++ }, 'none', (got) => (stats = got));
    return new Map(stats);
  }

  /** Send `msg` and wait for the answer to its id (`unforward` reuses its forward's); `onStats` takes a `stats` answer. */
  private request(msg: DriverRequest, expect: 'handle' | 'none' = 'handle', onStats?: (stats: Array<[number, Counters]>) => void): Promise<Handle | undefined> {
    const { id } = msg;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new InsideSocketError('ETIMEDOUT', `no answer from inside the namespace within ${SOCKET_TIMEOUT_MS / 1000} s`));
      }, SOCKET_TIMEOUT_MS);
      const settleAs = (handle: Handle | undefined, stats?: Array<[number, Counters]>) => {
        if (stats) onStats?.(stats);
        if (expect === 'handle' && !handle) reject(new Error('socket answer without a socket'));
        else resolve(handle);
      };
      this.pending.set(id, { resolve: settleAs, reject, timer });
      if (!this.proc.connected) return this.settle(id, undefined, gone());
      try {
        this.proc.send(msg, (err) => err && this.settle(id, undefined, gone()));
      } catch (err) {
        this.settle(id, undefined, err as Error);
      }
    });
  }

  private settle(id: number, handle: Handle | undefined, err?: Error, stats?: Array<[number, Counters]>): void {
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
    else p.resolve(handle, stats);
  }
}
