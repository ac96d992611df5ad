/** `--port-driver=none` (the default): no ports are published; any network. */
import { NET_DRIVERS } from '../../../options.js';
import type { PortDriverDescriptor } from '../descriptor.js';

export const none = {
  name: 'none',
  networks: NET_DRIVERS,
  protos: [],
  publishes: false,
  launch: {},
} as const satisfies PortDriverDescriptor;
