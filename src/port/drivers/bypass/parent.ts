/**
 * `--port-driver=bypass`: COMMAND's `bind()` calls go to a supervisor (seccomp user notification), which puts a
 * host socket in the app's fd slot for each published port, so published traffic never crosses a relay.
 * Publishing a port only tells the supervisor; the host port is taken when the app binds (the next bind, for
 * ports added at run time).
 */
import { writeSync } from 'node:fs';
import { ENTRY } from '../../../entry/paths.js';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { UserError } from '../../../errors.js';
import type { Log } from '../../../log.js';
import { pipe } from '../../../sys/poll.js';
import { socketCalls } from '../../../sys/socket.js';
import { bindProbe } from '../../bind-probe.js';
import { listenAddress, listenError } from '../../listen.js';
import { liveSocketInodes } from '../../proc-sockets.js';
import { formatPortSpec } from '../../spec.js';
import type { PortDriver, PortDriverInfo, PortForward, PortSpec, PortState, Proto } from '../../types.js';
import type { InsideProcess } from '../descriptor.js';
import { bypass } from './descriptor.js';
import { InnerRelay } from './inner-relay.js';
import type { Bound, FromSupervisor, SupervisorData, ToSupervisor } from './messages.js';

const PROTOS: readonly Proto[] = bypass.protos;

/**
 * What the driver needs: the parent's end of the fd channel (the seccomp listener comes back on it from the
 * exec wrapper), and listening sockets inside the namespace.
 */
export interface BypassContext {
  channel: number;
  /** The namespace process' pid: a process in nsgate's network namespace for the whole run. */
  namespacePid: number;
  /** --bypass-outgoing: what is never bypassed beyond the namespaces' routes (the network's gateway and DNS, --bypass-ignore); absent when off. */
  outgoing?: { ignore: string[] };
  debug: boolean;
  inside: Pick<InsideProcess, 'listen'>;
  log: Log;
}

export class BypassDriver implements PortDriver {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #wake: [number, number];
  readonly #exited: Promise<void>;
  readonly #forwards = new Map<number, BypassForward>();
  #nextKey = 1;

  constructor(private readonly ctx: BypassContext) {
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.#wake = pipe();
    const data: SupervisorData = {
      channel: ctx.channel,
      wake: this.#wake[0],
      port: port2,
      namespacePid: ctx.namespacePid,
      ...(ctx.outgoing ? { outgoing: ctx.outgoing } : {}),
      debug: ctx.debug,
    };
    this.#worker = new Worker(ENTRY.bypassSupervisor, { workerData: data, transferList: [port2] });
    this.#worker.on('message', (msg: FromSupervisor) => this.#onMessage(msg));
    this.#worker.on('error', (err) => ctx.log.error(`bypass supervisor: ${err.message}`));
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
  }

  info(): PortDriverInfo {
    return { driver: bypass.name, protos: [...PROTOS] };
  }

  async open(spec: PortSpec): Promise<PortForward> {
    if (!PROTOS.includes(spec.proto)) {
      throw new UserError(`proto ${spec.proto} is not supported by the bypass driver (supported: ${PROTOS.join(', ')})`);
    }
    // The port is taken only when the app binds; a port that is busy now is refused now rather than then.
    const busy = await bindProbe(spec.proto.startsWith('udp') ? 'udp' : 'tcp', listenAddress(spec), spec.parentPort);
    if (busy) throw listenError(spec, busy);
    const key = this.#nextKey++;
    const forward = new BypassForward(spec, () => {
      this.#forwards.delete(key);
      this.#tell({ t: 'unpublish', key });
      if (forward.state() === 'bound') {
        this.ctx.log.warn(`bypass: ${formatPortSpec(spec)} is removed, but the app keeps its host socket until it closes it (the next bind of the port stays inside)`);
      }
    });
    this.#forwards.set(key, forward);
    this.#tell({ t: 'publish', key, spec });
    return forward;
  }

  async stop(): Promise<void> {
    this.#tell({ t: 'stop' });
    await this.#exited;
    const c = socketCalls()!;
    for (const fd of this.#wake) c.close(fd);
  }

  /** Post, then wake the supervisor, which may be blocked waiting for a notification. */
  #tell(msg: ToSupervisor): void {
    this.#port.postMessage(msg);
    writeSync(this.#wake[1], 'x');
  }

  #onMessage(msg: FromSupervisor): void {
    const { log } = this.ctx;
    switch (msg.t) {
      case 'bound': {
        const forward = this.#forwards.get(msg.key);
        log.debug(`bypass: ${msg.command} bound ${forward ? formatPortSpec(forward.spec) : 'a removed port'} on the host at ${msg.host.ip}:${msg.host.port}`);
        forward?.bound(msg, this.ctx.inside, log);
        return;
      }
      case 'refused': {
        const forward = this.#forwards.get(msg.key);
        log.warn(`bypass: the bind() of ${msg.command} for ${forward ? formatPortSpec(forward.spec) : 'a removed port'} failed with ${msg.code}: ${msg.message}`);
        return;
      }
      case 'warning':
        log.warn(`bypass: ${msg.message}`);
        return;
      case 'debug':
        log.debug(`bypass: ${msg.message}`);
        return;
      case 'ended':
        log.debug('bypass: every process under the bind filter has exited');
        return;
      case 'failed':
        log.error(`bypass supervisor failed: ${msg.message}; COMMAND's bind() and connect() calls now fail with ENOSYS`);
    }
  }
}

/** A published port: the host sockets the app was given for it, and the in-namespace relays to them. */
class BypassForward implements PortForward {
  /** Host socket inodes, to tell from /proc/net whether the app still holds one. */
  readonly #sockets = new Set<string>();
  readonly #relays = new Map<string, InnerRelay>();
  #target: { host: string; port: number } | undefined;
  #closed = false;

  constructor(
    readonly spec: PortSpec,
    private readonly unpublish: () => void,
  ) {}

  state(): PortState {
    const live = liveSocketInodes();
    return [...this.#sockets].some((inode) => live.has(inode)) ? 'bound' : 'unbound';
  }

  bound(msg: Bound, inside: BypassContext['inside'], log: Log): void {
    this.#sockets.add(String(msg.inode));
    this.#target = { host: connectable(msg.host.ip), port: msg.host.port };
    if (this.spec.proto.startsWith('udp')) return; // in-namespace UDP clients are not relayed (see README)
    const where = JSON.stringify(msg.inside);
    if (this.#relays.has(where) || this.#closed) return;
    inside.listen(msg.inside.ip, msg.inside.port, msg.inside.v6only).then(
      (server) => {
        if (this.#closed) {
          server.close();
          return;
        }
        const relay = new InnerRelay(server, () => (this.state() === 'bound' ? this.#target! : null));
        server.once('close', () => this.#relays.delete(where));
        this.#relays.set(where, relay);
      },
      (err: Error) => log.warn(`bypass: in-namespace clients cannot reach ${formatPortSpec(this.spec)}: ${err.message}`),
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const relay of this.#relays.values()) relay.close();
    this.unpublish();
  }
}

/** Where a client on the host reaches a socket bound at `ip`: loopback for a wildcard, the IPv4 address of a v4-mapped one. */
function connectable(ip: string): string {
  if (ip === '0.0.0.0' || ip === '::ffff:0.0.0.0') return '127.0.0.1';
  if (ip === '::') return '::1';
  return ip.startsWith('::ffff:') ? ip.slice('::ffff:'.length) : ip;
}
