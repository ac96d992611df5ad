/**
 * The relay in the main thread while the first worker thread boots (100 ms or more on a busy machine,
 * longer than the rest of the child's start): the same TCP relay on a loop polled every millisecond, so
 * the first connections to a published port are served as soon as COMMAND listens. Once a worker runs,
 * the starter stops accepting; the connections it holds stay until they end, then it stops polling.
 * UDP waits for the workers (datagrams wait in the socket's queue meanwhile).
 */
import { Loop } from './loop.js';
import { PipePool } from './pipe-pool.js';
import { TcpForward } from './tcp-relay.js';
import type { WorkerCommand } from './commands.js';

const POLL_MS = 1;

export class Starter {
  private readonly loop = new Loop();
  private readonly pipes = new PipePool(this.loop);
  private readonly forwards = new Map<number, TcpForward>();
  private poller: NodeJS.Timeout | undefined;
  private handedOver = false;

  constructor() {
    // Unreferenced: the relay never keeps the process alive, it ends with COMMAND.
    this.poller = setInterval(() => this.tick(), POLL_MS).unref();
  }

  addTcp(cmd: Extract<WorkerCommand, { op: 'tcp' }>): void {
    this.forwards.set(cmd.id, new TcpForward(this.loop, this.pipes, cmd.fd, cmd.target, cmd.sourceIp));
  }

  /** Forget forward `id`, closing the connections it holds here. */
  drop(id: number): void {
    this.forwards.get(id)?.drop();
    this.forwards.delete(id);
    this.tick();
  }

  /** The workers accept from now on. */
  handOver(): void {
    if (this.handedOver) return;
    this.handedOver = true;
    for (const forward of this.forwards.values()) forward.stopAccepting();
    this.tick();
  }

  private tick(): void {
    if (!this.poller) return;
    this.loop.poll();
    if (!this.handedOver) return;
    for (const forward of this.forwards.values()) if (forward.connections.size > 0) return;
    clearInterval(this.poller);
    this.poller = undefined;
    this.pipes.closeIdle();
  }
}
