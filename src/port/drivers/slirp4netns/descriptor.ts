/** `--port-driver=slirp4netns` (with --net=slirp4netns): slirp4netns forwards each port itself (parent.ts, api.ts). */
import type { PortDriverDescriptor } from '../descriptor.js';

export const slirp4netns = {
  name: 'slirp4netns',
  networks: ['slirp4netns'],
  networksWhy: "it publishes ports through slirp4netns' own API",
  protos: ['tcp', 'tcp4', 'udp', 'udp4'],
  publishes: true,
  launch: {},
  parent: async () => {
    const [{ Slirp4netnsDriver, networkChildIP }, { slirp4netnsApiSocket }] = await Promise.all([import('./parent.js'), import('../../../network/slirp4netns.js')]);
    return (ctx) => new Slirp4netnsDriver(slirp4netnsApiSocket(ctx.stateDir), networkChildIP(ctx.network));
  },
} as const satisfies PortDriverDescriptor;
