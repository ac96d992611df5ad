/**
 * `--port-driver=builtin`: the parent binds each published port on the host (parent.ts) and hands the socket
 * over the fd channel to its inside half (inside.ts), whose native relay (relay-agent.ts, src/dataplane/)
 * accepts there and connects inside the namespace. Without native calls the parent relays in JavaScript to
 * sockets the inside half opens (tcp.ts, udp.ts).
 */
import { TCP_UDP_PROTOS } from '../../types.js';
import { NETNS_NETWORKS, type PortDriverDescriptor } from '../descriptor.js';

export const builtin = {
  name: 'builtin',
  networks: NETNS_NETWORKS,
  protos: TCP_UDP_PROTOS,
  publishes: true,
  launch: { fdChannel: true, insideRunsIn: 'network-namespace' },
  parent: async () => {
    const { BuiltinDriver } = await import('./parent.js');
    return (ctx) => new BuiltinDriver(ctx.inside, ctx.options.sourceIpTransparent, ctx.log);
  },
  inside: async () => (await import('./inside.js')).builtinInside,
} as const satisfies PortDriverDescriptor;
