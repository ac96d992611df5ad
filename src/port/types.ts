/** Port-forwarding types shared by the spec grammar, the manager, the drivers and the REST API. */
import type { Counters } from '../dataplane/counters.js';

export const PROTOS = ['tcp', 'tcp4', 'tcp6', 'udp', 'udp4', 'udp6', 'sctp', 'sctp4', 'sctp6'] as const;
export type Proto = (typeof PROTOS)[number];

/** The protos of every driver that forwards TCP and UDP on both IP families. */
export const TCP_UDP_PROTOS: readonly Proto[] = ['tcp', 'tcp4', 'tcp6', 'udp', 'udp4', 'udp6'];

/**
 * RootlessKit's PortSpec. Field names are the JSON names of the REST API.
 * Optional fields are absent (never null or '') when not given.
 */
export interface PortSpec {
  proto: Proto;
  parentIP?: string;
  parentPort: number;
  childIP?: string;
  childPort: number;
}

/** The most ports one range may hold (`8000-8999:8000-8999`): a range is added, and refused, as a whole. */
export const MAX_PORT_RANGE = 1000;

/**
 * A spec as `-p`, `add-ports` and `POST /v1/ports` take it: one port, or with both ends, a range of as many
 * consecutive parent and child ports (nsgate's extension; GET /v1/ports lists each port on its own).
 */
export interface PortRangeSpec extends PortSpec {
  parentPortEnd?: number;
  childPortEnd?: number;
}

/**
 * Whether the app holds the port's host socket: only ports of drivers where the app binds the host port itself
 * (bypass) have a state.
 */
export const PORT_STATES = ['bound', 'unbound'] as const;
export type PortState = (typeof PORT_STATES)[number];

/** A TCP port's traffic, in `GET /v1/ports` (see src/dataplane/counters.ts for what each counts). */
export interface TcpPortStats {
  connections: number;
  active: number;
  bytesToChild: number;
  bytesFromChild: number;
  refused: number;
}

/** A UDP port's traffic. */
export interface UdpPortStats {
  flows: number;
  active: number;
  datagramsToChild: number;
  datagramsFromChild: number;
  bytesToChild: number;
  bytesFromChild: number;
  dropped: number;
}

export type PortStats = TcpPortStats | UdpPortStats;

/**
 * An entry of `GET /v1/ports`. `state` and `stats` are nsgate's own (RootlessKit's clients ignore them):
 * `stats` from drivers whose relay counts (builtin with its native relay).
 */
export interface PortStatus {
  id: number;
  spec: PortSpec;
  state?: PortState;
  stats?: PortStats;
}

/** `portDriver` of `GET /v1/info`. */
export interface PortDriverInfo {
  driver: string;
  protos: Proto[];
  disallowLoopbackChildIP?: boolean;
}

/** One forwarded port, as opened by a driver. */
export interface PortForward {
  /** Stop listening and close the port's open connections. */
  close(): Promise<void>;
  /** Drivers whose host socket comes and goes with the app say which it is. */
  state?(): PortState;
  /** The parent port bound, when the spec asked for 0 (the kernel's pick). */
  parentPort?: number;
  /** Its key in the driver's `counters()`, for drivers that count. */
  countersKey?: number;
}

/** The parent half of a port driver. */
export interface PortDriver {
  info(): PortDriverInfo;
  /**
   * Start forwarding `spec`. On failure it throws (a UserError for anything the user
   * can fix: unsupported proto, port taken, privileged port) having left nothing open.
   */
  open(spec: PortSpec): Promise<PortForward>;
  /** Whether open() takes a parent port 0 (and returns the port the kernel picked). */
  readonly picksParentPort?: boolean;
  /** The traffic of every open forward, by `countersKey`, for drivers that count. */
  counters?(): Promise<Map<number, Counters>>;
  /** Stop the driver itself; every forward has been closed before. */
  stop(): Promise<void>;
}

/** What the API server needs from the port manager. */
export interface PortService {
  list(): PortStatus[];
  add(spec: PortSpec): Promise<PortStatus>;
  /** A range (nsgate's extension), all or nothing: one entry per port. */
  addRange?(spec: PortRangeSpec): Promise<PortStatus[]>;
  remove(id: number): Promise<void>;
  /** Each port's traffic by id, when the driver counts. */
  stats?(): Promise<Map<number, PortStats> | undefined>;
}
