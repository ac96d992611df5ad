/** Port-forwarding types shared by the spec grammar, the manager, the drivers and the REST API. */

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

/**
 * Whether the app holds the port's host socket: only ports of drivers where the app binds the host port itself
 * (bypass) have a state.
 */
export const PORT_STATES = ['bound', 'unbound'] as const;
export type PortState = (typeof PORT_STATES)[number];

/** An entry of `GET /v1/ports`. `state` is nsgate's own (RootlessKit's clients ignore it). */
export interface PortStatus {
  id: number;
  spec: PortSpec;
  state?: PortState;
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
}

/** The parent half of a port driver. */
export interface PortDriver {
  info(): PortDriverInfo;
  /**
   * Start forwarding `spec`. On failure it throws (a UserError for anything the user
   * can fix: unsupported proto, port taken, privileged port) having left nothing open.
   */
  open(spec: PortSpec): Promise<PortForward>;
  /** Stop the driver itself; every forward has been closed before. */
  stop(): Promise<void>;
}

/** What the API server needs from the port manager. */
export interface PortService {
  list(): PortStatus[];
  add(spec: PortSpec): Promise<PortStatus>;
  remove(id: number): Promise<void>;
}
