/**
 * A relay event loop: an epoll set whose entries are fds with a handler, plus coarse timers. In a worker
 * thread it runs synchronously (koffi calls block the thread, not Node's main loop), and commands from the
 * main thread arrive on a MessagePort, announced by an eventfd. In the main thread it is polled instead.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import {
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_EVENT_SIZE,
  EPOLLIN,
  relayCalls,
  type RelayCalls,
} from '../sys/relay-io.js';
import { F_SETFL, O_CLOEXEC, O_NONBLOCK, socketCalls, type SocketCalls } from '../sys/socket.js';
import { SysError } from '../sys/libc.js';
import { MAX_EVENTS, Scratch } from './scratch.js';

export interface Handler {
  onEvents(fd: number, events: number): void;
}

interface Timer {
  at: number;
  run(): void;
}

/**
 * See `coalesce`; the thread's timer slack adds about 50 µs. In iperf3's UDP benchmark 10-25 µs helped less
 * and 50-300 µs all alike: the shortest of those, for the least latency.
 */
const COALESCE_US = 50;

export class Loop {
  readonly io: RelayCalls;
  readonly sock: SocketCalls;
  private readonly epfd: number;
  private readonly handlers = new Map<number, Handler>();
  private readonly timers: Timer[] = [];
  private deferred: Array<() => unknown> = [];
  /** The loop's native memory, for its own calls and its handlers' (see scratch.ts). */
  readonly scratch: Scratch;
  private stopped = false;
  private coalescing = false;

  constructor() {
    const io = relayCalls();
    const sock = socketCalls();
    if (!io || !sock) throw new Error('the native relay needs koffi, which does not load here');
    this.io = io;
    this.sock = sock;
    this.scratch = new Scratch(io);
    this.epfd = this.checked('epoll_create1', io.epollCreate1(O_CLOEXEC));
  }

  /**
   * A worker's loop takes commands from `commands`, each announced on the eventfd returned here, and
   * returns from run() once `stopFd` (an eventfd it never reads) becomes readable.
   */
  serve(commands: MessagePort, stopFd: number, onCommand: (msg: unknown) => void): number {
    const wakeFd = this.checked('eventfd', this.io.eventfd(0, O_NONBLOCK | O_CLOEXEC));
    const wakeBuf = Buffer.alloc(8);
    this.add(wakeFd, EPOLLIN, {
      onEvents: () => {
        this.io.read(wakeFd, wakeBuf, 8);
        for (let m = receiveMessageOnPort(commands); m; m = receiveMessageOnPort(commands)) onCommand(m.message);
      },
    });
    this.add(stopFd, EPOLLIN, { onEvents: () => (this.stopped = true) });
    return wakeFd;
  }

  /** Make a socket handed over by the parent non-blocking: the loop must never wait in a call. */
  nonBlocking(fd: number): void {
    this.checked('fcntl', this.sock.fcntl(fd, F_SETFL, O_NONBLOCK));
  }

  /** Watch `fd` for `events` (EPOLLIN, EPOLLOUT, EPOLLEXCLUSIVE...). Throws if the kernel refuses. */
  add(fd: number, events: number, handler: Handler): void {
    this.ctl(EPOLL_CTL_ADD, fd, events);
    this.handlers.set(fd, handler);
  }

  /** Stop watching `fd` (before closing it, when another process or thread may still hold it). */
  remove(fd: number): void {
    if (!this.handlers.delete(fd)) return;
    this.io.epollCtl(this.epfd, EPOLL_CTL_DEL, fd, 0);
  }

  /** Forget `fd` without a system call: the caller closes it, which takes it out of the epoll set. */
  forget(fd: number): void {
    this.handlers.delete(fd);
  }

  /** Run `fn` after the events at hand: a handler that stopped to be fair takes its next turn. */
  defer(fn: () => unknown): void {
    this.deferred.push(fn);
  }

  /**
   * Pause briefly before the next wait: a reader that found a stream (more than one datagram waiting, yet
   * less than a full batch) lets more of it arrive, so that the next read takes them in one batch. Waking
   * for every few datagrams costs the relay, the sender and the receiver a wakeup each, and on 2 cores the
   * receiving app then waits for the CPU while its own small socket queue overflows. Only run() pauses:
   * the polled starter carries no UDP.
   */
  coalesce(): void {
    this.coalescing = true;
  }

  /** Run `fn` once, about `ms` from now (the loop's resolution is its epoll timeout). */
  after(ms: number, fn: () => void): Timer {
    const timer = { at: Date.now() + ms, run: fn };
    this.timers.push(timer);
    return timer;
  }

  cancel(timer: Timer): void {
    const i = this.timers.indexOf(timer);
    if (i >= 0) this.timers.splice(i, 1);
  }

  /** Wait for events and handle them until the stop fd is readable (a worker thread). */
  run(): void {
    while (!this.stopped) {
      this.turn(this.timeout());
      if (this.coalescing) {
        this.coalescing = false;
        this.io.usleep(COALESCE_US);
      }
    }
  }

  /** Handle what is ready now, without waiting (a loop polled from Node's event loop). */
  poll(): void {
    this.turn(0);
  }

  private turn(timeoutMs: number): void {
    const { events, eventsView } = this.scratch;
    const n = this.io.epollWait(this.epfd, events, MAX_EVENTS, timeoutMs);
    for (let i = 0; i < n; i++) {
      const off = i * EPOLL_EVENT_SIZE;
      const fd = eventsView.getInt32(off + 4, true);
      this.handlers.get(fd)?.onEvents(fd, eventsView.getUint32(off, true));
    }
    if (this.deferred.length > 0) {
      const turns = this.deferred;
      this.deferred = [];
      for (const turn of turns) turn();
    }
    if (this.timers.length > 0) this.runTimers();
  }

  private timeout(): number {
    if (this.deferred.length > 0) return 0;
    if (this.timers.length === 0) return -1;
    let next = Infinity;
    for (const t of this.timers) next = Math.min(next, t.at);
    return Math.max(0, next - Date.now());
  }

  private runTimers(): void {
    const now = Date.now();
    const due = this.timers.filter((t) => t.at <= now);
    for (const t of due) {
      this.cancel(t);
      t.run();
    }
  }

  private ctl(op: number, fd: number, events: number): void {
    const { ctlEvent, ctlEventView } = this.scratch;
    ctlEventView.setUint32(0, events >>> 0, true);
    ctlEventView.setInt32(4, fd, true);
    ctlEventView.setInt32(8, 0, true);
    this.checked('epoll_ctl', this.io.epollCtl(this.epfd, op, fd, ctlEvent));
  }

  private checked(syscall: string, ret: number): number {
    if (ret === -1) throw new SysError(syscall, this.io.errno());
    return ret;
  }
}
