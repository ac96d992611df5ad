/** Messages between the bypass driver (main thread) and its supervisor (worker thread). */
import type { MessagePort } from 'node:worker_threads';
import type { PortSpec } from '../../types.js';

/** What the supervisor is started with. */
export interface SupervisorData {
  /** Our end of the socketpair the namespace process' exec wrapper sends the seccomp listener on. */
  channel: number;
  /** Read end of a pipe: a byte there means messages are waiting on `port`. */
  wake: number;
  port: MessagePort;
  /** A process in nsgate's network namespace (the child), whose binds alone get host sockets and whose routes say what is inside. */
  namespacePid: number;
  /** --bypass-outgoing: the addresses and networks never bypassed beyond the routes (gateway, DNS, --bypass-ignore); absent when off. */
  outgoing?: { ignore: string[] };
  /** --debug: report each bypassed connect. */
  debug: boolean;
}

export type ToSupervisor = { t: 'publish'; key: number; spec: PortSpec } | { t: 'unpublish'; key: number } | { t: 'stop' };


/** A host socket is in the app's fd slot. */
export interface Bound {
  t: 'bound';
  key: number;
  /** Where it is bound on the host. */
  host: { ip: string; port: number };
  /** Where the app asked to bind inside the namespace (what its in-namespace clients connect to). */
  inside: { ip: string; port: number; v6only: boolean };
  /** Identifies the host socket in /proc/net (alive while the app holds it). */
  inode: number;
  command: string;
}

export type FromSupervisor =
  | Bound
  /** The host bind failed: the app's bind failed with the same errno. */
  | { t: 'refused'; key: number; code: string; message: string; command: string }
  | { t: 'warning'; message: string }
  | { t: 'debug'; message: string }
  /** Every process under the filter has exited: no bind can come any more. */
  | { t: 'ended' }
  | { t: 'failed'; message: string };
