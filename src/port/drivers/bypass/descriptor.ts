/**
 * `--port-driver=bypass`: COMMAND runs under a seccomp filter (inside.ts, src/entry/exec-filtered.ts) whose
 * listener comes back to the parent on the fd channel; the parent's supervisor thread (src/entry/bypass-supervisor.ts)
 * puts a host socket in the fd slot of each bind() to a published port (parent.ts), and of each connect() to an
 * outside address (outgoing.ts; --bypass-outgoing, --bypass-ignore).
 */
import { networkAddresses } from '../../../network/addresses.js';
import type { LaunchOptions } from '../../../options.js';
import { TCP_UDP_PROTOS } from '../../types.js';
import { NETNS_NETWORKS, type PortDriverDescriptor } from '../descriptor.js';

export const bypass = {
  name: 'bypass',
  networks: NETNS_NETWORKS,
  protos: TCP_UDP_PROTOS,
  publishes: true,
  notWithDetachNetns: 'COMMAND stays in the host network namespace there, so what it binds is on the host already',
  addition: 'bypass',
  flags: ['bypass-outgoing', 'bypass-ignore'],
  launch: {
    fdChannel: true,
    insideRunsIn: 'namespace-process',
    unsupported: async () => (await import('../../../sys/seccomp.js')).userNotificationUnsupported() ?? undefined,
  },
  parent: async () => {
    const { BypassDriver } = await import('./parent.js');
    return (ctx) =>
      new BypassDriver({ channel: ctx.fdChannel!, inside: ctx.inside, log: ctx.log, namespacePid: ctx.namespacePid, debug: ctx.options.debug, ...outgoing(ctx.options) });
  },
  inside: async () => (await import('./inside.js')).bypassInside,
} as const satisfies PortDriverDescriptor;

/** --bypass-outgoing: never the network's gateway and DNS (nor --bypass-ignore's networks). */
function outgoing(options: LaunchOptions): { outgoing?: { ignore: string[] } } {
  if (!options.bypassOutgoing) return {};
  const { gateway, dns } = networkAddresses(options.cidr);
  return { outgoing: { ignore: [gateway, dns, ...options.bypassIgnore] } };
}
