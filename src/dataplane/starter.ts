/**
 * The relay in the main thread while the first worker thread boots (100 ms or more on a busy machine,
 * longer than the rest of the namespace process' start): the same TCP relay on a loop polled every millisecond, so
 * the first connections to a published port are served as soon as COMMAND listens. When a worker runs,
 * the starter hands it the connections it holds, where they stand, and stops: nothing polls after that,
 * however long those connections live. UDP waits for the workers (datagrams wait in the socket's queue).
 */
import { Loop } from './loop.js';
import { PipePool } from './pipe-pool.js';
import { TcpForward, type ConnectionState } from './tcp-relay.js';
import type { WorkerCommand } from './commands.js';
import type { TcpCounters } from './counters.js';

const POLL_MS = 1;

export class Starter {
  private readonly loop = new Loop();
  private readonly pipes = new PipePool(this.loop);
  private readonly forwards = new Map<number, TcpForward>();
  /** Polling from the first forward on; unreferenced: the relay never keeps the process alive, it ends with COMMAND. */
  private poller: NodeJS.Timeout | undefined;

  addTcp(cmd: Extract<WorkerCommand, { t: 'tcp' }>): void {
    this.poller ??= setInterval(() => this.loop.poll(), POLL_MS).unref();
    this.forwards.set(cmd.id, new TcpForward(this.loop, this.pipes, cmd.fd, cmd.target, cmd.sourceIp));
  }

  /** Forget forward `id`, closing the connections it holds here. */
  drop(id: number): void {
    this.forwards.get(id)?.drop();
    this.forwards.delete(id);
  }

  /** The counters of the forwards served here (until the hand-over). */
  reading(): Array<[number, TcpCounters]> {
    return [...this.forwards].map(([id, forward]) => [id, forward.reading()]);
  }

  /**
   * A worker runs: stop, and return the connections held here by forward id, for the worker to adopt
   * (TcpForward.adopt). The pipes that carry bytes go with them; the idle ones are closed.
   */
  handOver(): Array<[number, ConnectionState[]]> {
    clearInterval(this.poller);
    const held = [...this.forwards].map(([id, forward]): [number, ConnectionState[]] => [id, forward.release()]);
    this.forwards.clear();
    this.pipes.closeIdle();
    return held;
  }
}
