import type { RunningNetwork } from '../../network/driver.js';
import { slirp4netnsApiSocket } from '../../network/slirp4netns.js';
import { publishingDriverChoices, type LaunchOptions } from '../../options.js';
import type { Log } from '../../parent/log.js';
import type { PortDriver } from '../types.js';
import { BuiltinDriver, type Inside } from './builtin/parent.js';
import { BypassDriver, type BypassContext } from './bypass/parent.js';
import { IMPLICIT_PORTS } from './implicit.js';
import { Slirp4netnsDriver } from './slirp4netns.js';
import type { NamespacePaths } from './socat-argv.js';
import { SocatDriver } from './socat.js';

/** What a port driver may use: the launch options, the running network helper, and the child's sockets and namespaces. */
export interface PortDriverContext {
  options: LaunchOptions;
  network: RunningNetwork | undefined;
  child: Inside & BypassContext['inside'];
  /** --port-driver=bypass: the supervisor's end of the channel the seccomp listener comes on. */
  bypassChannel?: number;
  /** The child's namespaces as paths (the network namespace's bind mount with --detach-netns). */
  namespaces: NamespacePaths;
  stateDir: string;
  log: Log;
}

/** The parent half of `--port-driver`, or null for `none` and `implicit` (RootlessKit's nil port driver). */
export function createPortDriver(ctx: PortDriverContext): PortDriver | null {
  switch (ctx.options.portDriver) {
    case 'builtin':
      return new BuiltinDriver(ctx.child, ctx.options.sourceIpTransparent, ctx.log);
    case 'slirp4netns':
      return new Slirp4netnsDriver(slirp4netnsApiSocket(ctx.stateDir), networkChildIP(ctx.network));
    case 'socat':
      return new SocatDriver(ctx.namespaces, ctx.log);
    case 'bypass':
      return new BypassDriver({ channel: ctx.bypassChannel!, inside: ctx.child, log: ctx.log });
    case 'none':
    case 'implicit':
      return null;
  }
}

/** What the ports routes answer when createPortDriver gave none (400, RootlessKit's "no PortDriver is available"). */
export function noPortsMessage({ portDriver, net }: Pick<LaunchOptions, 'portDriver' | 'net'>): string {
  const why = portDriver === 'implicit' ? `, where ${IMPLICIT_PORTS}` : '';
  return `no port driver is available: nsgate was started with --port-driver=${portDriver}${why}; start it with ${publishingDriverChoices(net)} to publish ports one by one`;
}

function networkChildIP(network: RunningNetwork | undefined): string {
  const childIP = network?.info.childIP;
  // The flag checks allow this driver with --net=slirp4netns only, whose network always has a child address.
  if (!childIP) throw new Error('--port-driver=slirp4netns without a slirp4netns network');
  return childIP;
}
