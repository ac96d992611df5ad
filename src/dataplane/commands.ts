/** Messages between the relay engine (the agent's main thread) and its worker threads. */
import type { MessagePort } from 'node:worker_threads';
import type { Counters } from './counters.js';
import type { ConnectionState } from './tcp-relay.js';

/** Where a forward's connections or datagrams go inside the namespace. */
export interface Target {
  ip: string;
  port: number;
}

/** A UDP flow ends when neither side has sent anything for this long (RootlessKit's figure); every UDP relay uses it. */
export const UDP_FLOW_IDLE_MS = 90_000;

export type WorkerCommand =
  /** Accept on `fd` (a listening host socket) and relay each connection to `target`. */
  | { t: 'tcp'; id: number; fd: number; target: Target; sourceIp: boolean }
  /**
   * Serve datagrams arriving on `fd` (a bound host socket): one flow per client, toward `target`; with source
   * IP, `replyTable` is the routing table the agent's rule for this forward looks in (else null).
   */
  | { t: 'udp'; id: number; fd: number; target: Target; replyTable: number | null }
  /** Carry on TCP connections of forward `id` that the starter held (sent after its `tcp` command). */
  | { t: 'adopt'; id: number; connections: ConnectionState[] }
  /** Stop using forward `id`'s socket and close its connections; the engine closes the socket itself. */
  | { t: 'drop'; id: number }
  /** Report every forward's counters (`id` only tells the answers apart). */
  | { t: 'stats'; id: number };

export interface RelayWorkerData {
  /** Where commands arrive (announced on the worker's own eventfd). */
  commands: MessagePort;
  /** Readable once the process exits: the worker leaves its loop (Node cannot end a thread blocked in epoll_wait). */
  stopFd: number;
}

export type WorkerReport =
  | { t: 'wake'; fd: number }
  /** Command `cmd` for forward `id` is carried out (or failed with `error`). */
  | { t: 'done'; cmd: WorkerCommand['t']; id: number; error?: string; stats?: Array<[number, Counters]> };
