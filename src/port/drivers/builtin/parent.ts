import { UserError } from '../../../errors.js';
import type { PortDriver, PortDriverInfo, PortForward, PortSpec, Proto } from '../../types.js';
import { openTcpForward, type Dial } from './tcp.js';
import { openUdpForward, type OpenUdp } from './udp.js';

const PROTOS: Proto[] = ['tcp', 'tcp4', 'tcp6', 'udp', 'udp4', 'udp6'];

/** The parent half of the builtin driver: host listeners whose peers are sockets opened inside the namespace. */
export class BuiltinDriver implements PortDriver {
  constructor(private readonly inner: { dial: Dial; udpSocket: OpenUdp }) {}

  info(): PortDriverInfo {
    return { driver: 'builtin', protos: [...PROTOS] };
  }

  open(spec: PortSpec): Promise<PortForward> {
    if (spec.proto.startsWith('tcp')) return openTcpForward(spec, (host, port) => this.inner.dial(host, port));
    if (spec.proto.startsWith('udp')) return openUdpForward(spec, (family) => this.inner.udpSocket(family));
    return Promise.reject(new UserError(`proto ${spec.proto} is not supported by the builtin driver (supported: ${PROTOS.join(', ')})`));
  }

  async stop(): Promise<void> {}
}
