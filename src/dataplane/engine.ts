/**
 * The relay engine, in the process that lives in the network namespace (the namespace process, or the
 * --detach-netns dialer): worker threads, each with its own epoll loop, that accept on published
 * ports' host sockets and splice bytes to connections made inside. Sockets keep the namespace they were
 * made in, so one process serves both sides and no connection crosses a process boundary. Until the
 * first worker runs, the main thread serves TCP (starter.ts).
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { SysError } from '../sys/libc.js';
import { relayCalls, type RelayCalls } from '../sys/relay-io.js';
import { O_CLOEXEC, O_NONBLOCK } from '../sys/socket.js';
import type { RelayWorkerData, Target, WorkerCommand, WorkerReport } from './commands.js';
import { sumReadings, type Counters } from './counters.js';
import { Starter } from './starter.js';

const ONE = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);
/** Relay workers at most, however many cores. */
const MAX_WORKERS = 4;
/**
 * A worker's young generation, where V8 would let it grow to tens of MiB: with 10,000 idle connections this
 * keeps about 5 MiB per worker, and connection rate and keep-alive were unchanged (the loop allocates little).
 */
const WORKER_YOUNG_GENERATION_MB = 2;

interface RelayWorker {
  readonly thread: Worker;
  readonly commands: MessagePort;
  readonly wakeFd: number;
  /** Answers awaited from this worker, by command and forward id ("tcp 3"). */
  readonly waiting: Map<string, { resolve(report: WorkerReport): void; reject(err: Error): void }>;
}

type TcpCommand = Extract<WorkerCommand, { t: 'tcp' }>;
type UdpCommand = Extract<WorkerCommand, { t: 'udp' }>;

/** What the engine is started with: the worker's entry point, and how it reports. */
export interface EngineSetup {
  /** The file each worker thread runs (src/entry/relay-worker.ts). */
  worker: string;
  /** The relay cannot go on (a worker died with its connections): the process must report this and end. */
  fatal(message: string): void;
  warn(message: string): void;
}

export class RelayEngine {
  private next = 0;
  private readonly workers: RelayWorker[] = [];
  /** TCP forwards by id, for workers that join later. */
  private readonly tcpForwards = new Map<number, TcpCommand>();
  /** UDP forwards added before the first worker runs, for it. */
  private readonly queuedUdp = new Map<number, UdpCommand>();
  private readonly starter = new Starter();
  /** What the starter counted before it handed its connections over (the workers count from there on). */
  private starterReading: Array<[number, Counters]> = [];
  private statsRequests = 0;
  private firstStarted = false;

  private constructor(private readonly io: RelayCalls, private readonly setup: EngineSetup, private toStart: number) {}

  /**
   * One worker per core (at most MAX_WORKERS): connections spread over them, each listener is shared. None runs
   * before the first forward (a process that publishes nothing starts none), then the first starts (the
   * starter serves TCP meanwhile); the others once a TCP port is served (a UDP port is one worker's anyway),
   * so that they do not compete for the CPU with everything else that runs while nsgate starts.
   */
  static start(setup: EngineSetup): RelayEngine {
    const io = relayCalls();
    if (!io) throw new Error('the native relay needs koffi, which does not load here');
    return new RelayEngine(io, setup, RelayEngine.workersFor(availableParallelism()));
  }

  /** How many workers relay on a machine with `cores` (see start). */
  static workersFor(cores: number): number {
    return Math.max(1, Math.min(MAX_WORKERS, cores));
  }

  /** Relay TCP connections accepted on `fd` (every worker accepts on it; the starter until a worker runs). */
  async addTcp(id: number, fd: number, target: Target, sourceIp: boolean): Promise<void> {
    const cmd: TcpCommand = { t: 'tcp', id, fd, target, sourceIp };
    if (this.workers.length === 0) {
      this.starter.addTcp(cmd);
      this.startTheFirst();
    }
    this.tcpForwards.set(id, cmd);
    await Promise.all(this.workers.map((w) => this.ask(w, cmd)));
    if (this.workers.length > 0) this.startTheOthers();
  }

  /**
   * Serve UDP datagrams on `fd` (one worker owns a UDP port: its flows live there). Before the first worker
   * runs, the port waits for it (so do its datagrams, in the socket's queue) and this resolves at once.
   * `replyTable`: see the udp command.
   */
  async addUdp(id: number, fd: number, target: Target, replyTable: number | null): Promise<void> {
    const cmd: UdpCommand = { t: 'udp', id, fd, target, replyTable };
    if (this.workers.length === 0) {
      this.queuedUdp.set(id, cmd);
      this.startTheFirst();
    } else await this.ask(this.workers[this.next++ % this.workers.length]!, cmd);
  }

  /** Every forward's counters, summed over the loops that serve it. */
  async stats(): Promise<Map<number, Counters>> {
    const id = ++this.statsRequests;
    const reports = await Promise.all(this.workers.map((w) => this.ask(w, { t: 'stats', id })));
    const live = this.workers.length === 0 ? this.starter.reading() : [];
    return sumReadings([this.starterReading, live, ...reports.map((r) => (r.t === 'done' && r.stats) || [])]);
  }

  /** Stop forward `id` everywhere, closing its connections; then the socket can be closed. */
  async drop(id: number): Promise<void> {
    this.tcpForwards.delete(id);
    this.queuedUdp.delete(id);
    this.starter.drop(id);
    this.starterReading = this.starterReading.filter(([forward]) => forward !== id);
    await Promise.all(this.workers.map((w) => this.ask(w, { t: 'drop', id })));
  }

  /**
   * A worker that runs takes up the TCP forwards (and the first one the queued UDP ports); the first also
   * adopts the starter's connections, and the starter stops. Unawaited: the forwards are already served.
   */
  private join(w: RelayWorker): void {
    this.workers.push(w);
    for (const cmd of this.tcpForwards.values()) this.tell(w, cmd);
    for (const cmd of this.queuedUdp.values()) {
      this.ask(w, cmd).catch((err: Error) => this.setup.fatal(`the relay for port ${cmd.id} did not start: ${err.message}`));
    }
    this.queuedUdp.clear();
    // Its connections go on in the worker, which counts them as active from now on.
    if (this.workers.length === 1) this.starterReading = this.starter.reading().map(([id, counters]) => [id, { ...counters, active: 0 }]);
    for (const [id, connections] of this.starter.handOver()) if (connections.length > 0) this.tell(w, { t: 'adopt', id, connections });
    if (this.tcpForwards.size > 0) this.startTheOthers();
  }

  /** A first worker that cannot start is fatal: the relay would be half there. */
  private startTheFirst(): void {
    if (this.firstStarted) return;
    this.firstStarted = true;
    this.toStart--;
    this.startWorker().then(
      (w) => this.join(w),
      (err: Error) => this.setup.fatal(`the relay's worker thread did not start: ${err.message}`),
    );
  }

  private startTheOthers(): void {
    for (; this.toStart > 0; this.toStart--) {
      this.startWorker().then(
        (w) => this.join(w),
        (err: Error) => this.setup.warn(`an extra relay worker did not start: ${err.message}`),
      );
    }
  }

  private ask(w: RelayWorker, cmd: WorkerCommand): Promise<WorkerReport> {
    return new Promise((resolve, reject) => {
      w.waiting.set(`${cmd.t} ${cmd.id}`, { resolve, reject });
      this.tell(w, cmd);
    });
  }

  private tell(w: RelayWorker, cmd: WorkerCommand): void {
    w.commands.postMessage(cmd);
    this.io.write(w.wakeFd, ONE, 8);
  }

  private startWorker(): Promise<RelayWorker> {
    const { port1, port2 } = new MessageChannel();
    const workerData: RelayWorkerData = { commands: port2, stopFd: workersStopFd() };
    const thread = new Worker(this.setup.worker, { workerData, transferList: [port2], resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
    return new Promise((resolve, reject) => {
      thread.once('error', reject);
      thread.once('message', (first: WorkerReport) => {
        if (first.t !== 'wake') return reject(new Error('relay worker: unexpected first message'));
        const w: RelayWorker = { thread, commands: port1, wakeFd: first.fd, waiting: new Map() };
        thread.on('message', (msg: WorkerReport) => {
          if (msg.t !== 'done') return;
          const key = `${msg.cmd} ${msg.id}`;
          const waiter = w.waiting.get(key);
          w.waiting.delete(key);
          if (msg.error) waiter?.reject(new Error(msg.error));
          else waiter?.resolve(msg);
        });
        thread.off('error', reject);
        // Workers must not keep the process alive: it ends with COMMAND. (After the listeners: adding one refs again.)
        thread.unref();
        // A worker that dies has lost its connections; the process cannot serve its ports any more.
        thread.on('error', (err) => this.setup.fatal(`relay worker failed: ${err.message}`));
        resolve(w);
      });
    });
  }
}

let stopFd: number | undefined;

/** Written once at exit, never read: every worker's loop sees it readable and returns, even one still starting. */
function workersStopFd(): number {
  if (stopFd !== undefined) return stopFd;
  const io = relayCalls()!;
  const fd = io.eventfd(0, O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw new SysError('eventfd', io.errno());
  // Node joins worker threads at exit, and one blocked in epoll_wait would never be joined.
  process.once('exit', () => io.write(fd, ONE, 8));
  return (stopFd = fd);
}
