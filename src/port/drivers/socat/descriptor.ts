/** `--port-driver=socat` (RootlessKit v1's, deprecated): a socat per published port on the host, nsenter'ing for each connection. */
import { TCP_UDP_PROTOS } from '../../types.js';
import { NETNS_NETWORKS, type PortDriverDescriptor } from '../descriptor.js';

export const socat = {
  name: 'socat',
  networks: NETNS_NETWORKS,
  protos: TCP_UDP_PROTOS,
  publishes: true,
  addition: 'socat (RootlessKit v1 had it; v2 has not)',
  launch: {},
  parent: async () => {
    const { SocatDriver } = await import('./parent.js');
    return (ctx) => new SocatDriver(ctx.namespaces, ctx.log);
  },
} as const satisfies PortDriverDescriptor;
