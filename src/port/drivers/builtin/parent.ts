import { UserError } from '../../../errors.js';
import type { Log } from '../../../log.js';
import { nativeUnavailableReason } from '../../../sys/libc.js';
import { localAddress, socketCalls } from '../../../sys/socket.js';
import type { Counters } from '../../../dataplane/counters.js';
import { childAddress } from '../../listen.js';
import type { PortDriver, PortDriverInfo, PortForward, PortSpec, Proto } from '../../types.js';
import type { InsideProcess } from '../descriptor.js';
import { builtin } from './descriptor.js';
import { openPublishedSocket } from './host-socket.js';
import { openTcpForward } from './tcp.js';
import { openUdpForward } from './udp.js';

const PROTOS: readonly Proto[] = builtin.protos;

type Inside = Pick<InsideProcess, 'dial' | 'udpSocket' | 'forward' | 'unforward' | 'relaysNatively' | 'relayStats'>;

/**
 * The parent half of the builtin driver: host sockets for published ports. Normally each one is handed to
 * the native relay inside the namespace and the parent carries no bytes; without native calls (koffi
 * missing) the parent relays in JavaScript to sockets opened inside.
 */
export class BuiltinDriver implements PortDriver {
  readonly picksParentPort = true;
  /** Only the native relay counts; the JavaScript one has no counters. */
  readonly counters?: () => Promise<Map<number, Counters>>;

  constructor(private readonly inside: Inside, private readonly sourceIp: boolean, log: Log) {
    if (inside.relaysNatively) this.counters = () => inside.relayStats();
    else log.warn(`native relay unavailable (${nativeUnavailableReason() ?? 'no fd channel'}): the builtin driver relays in JavaScript, slower`);
  }

  info(): PortDriverInfo {
    return { driver: builtin.name, protos: [...PROTOS] };
  }

  open(spec: PortSpec): Promise<PortForward> {
    const proto = spec.proto.startsWith('tcp') ? 'tcp' : spec.proto.startsWith('udp') ? 'udp' : null;
    if (!proto) return Promise.reject(new UserError(`proto ${spec.proto} is not supported by the builtin driver (supported: ${PROTOS.join(', ')})`));
    if (this.inside.relaysNatively) return this.openNative(spec, proto);
    if (proto === 'tcp') return openTcpForward(spec, (host, port) => this.inside.dial(host, port));
    return openUdpForward(spec, (family) => this.inside.udpSocket(family));
  }

  async stop(): Promise<void> {}

  private async openNative(spec: PortSpec, proto: 'tcp' | 'udp'): Promise<PortForward> {
    const c = socketCalls()!;
    const fd = openPublishedSocket(c, spec, proto);
    try {
      const id = await this.inside.forward(fd, proto, { ip: childAddress(spec), port: spec.childPort }, this.sourceIp);
      return { close: () => this.inside.unforward(id), parentPort: localAddress(c, fd).port, countersKey: id };
    } finally {
      // The relay inside holds its own copy; with ours closed, the port closes when the relay lets it go.
      c.close(fd);
    }
  }
}
