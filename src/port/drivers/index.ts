import type { RunningNetwork } from '../../network/driver.js';
import type { LaunchOptions } from '../../options.js';
import type { PortDriver } from '../types.js';
import { BuiltinDriver } from './builtin/parent.js';
import type { Dial } from './builtin/tcp.js';
import type { OpenUdp } from './builtin/udp.js';

/** What a port driver may use: the launch options, the running network helper, and the child's sockets. */
export interface PortDriverContext {
  options: LaunchOptions;
  network: RunningNetwork | undefined;
  child: { dial: Dial; udpSocket: OpenUdp };
}

/** Extra arguments a port driver needs its network helper started with. */
export function networkArgsFor(_options: LaunchOptions): string[] {
  return [];
}

/** The parent half of `--port-driver`, or null for `none`. */
export function createPortDriver(ctx: PortDriverContext): PortDriver | null {
  switch (ctx.options.portDriver) {
    case 'builtin':
      return new BuiltinDriver(ctx.child);
    case 'none':
      return null;
  }
}
