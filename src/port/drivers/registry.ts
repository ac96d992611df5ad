/**
 * Every port driver, in --help's order: adding a driver is adding its folder and one line here. What the rest
 * of nsgate asks about drivers is answered from their descriptors (descriptor.ts).
 */
import type { LaunchOptions, NetDriverName } from '../../options.js';
import { orList } from '../../text.js';
import type { PortDriver } from '../types.js';
import { builtin } from './builtin/descriptor.js';
import { bypass } from './bypass/descriptor.js';
import type { InsideContext, InsideHalf, PortDriverContext, PortDriverDescriptor } from './descriptor.js';
import { implicit } from './implicit/descriptor.js';
import { none } from './none/descriptor.js';
import { slirp4netns } from './slirp4netns/descriptor.js';
import { socat } from './socat/descriptor.js';

export const PORT_DRIVER_DESCRIPTORS = [none, builtin, slirp4netns, socat, implicit, bypass] as const;

export type PortDriverName = (typeof PORT_DRIVER_DESCRIPTORS)[number]['name'];

export const PORT_DRIVERS: readonly PortDriverName[] = PORT_DRIVER_DESCRIPTORS.map((d) => d.name);

export function portDriverDescriptor(name: PortDriverName): PortDriverDescriptor {
  return PORT_DRIVER_DESCRIPTORS.find((d) => d.name === name)!;
}

/** "--port-driver=builtin, ... or --port-driver=bypass": the drivers that publish on `net` (all of them if none does). */
export function publishingDriverChoices(net: NetDriverName): string {
  const publishing: readonly PortDriverDescriptor[] = PORT_DRIVER_DESCRIPTORS.filter((d) => d.publishes);
  const usable = publishing.filter((d) => d.networks.includes(net));
  return orList((usable.length > 0 ? usable : publishing).map((d) => `--port-driver=${d.name}`));
}

/** Extra arguments the port driver needs its network helper started with. */
export function networkArgsFor(options: Pick<LaunchOptions, 'portDriver'>): string[] {
  return [...(portDriverDescriptor(options.portDriver).launch.networkArgs ?? [])];
}

/** The parent half of `--port-driver`, or null for a driver without one (RootlessKit's nil port driver). */
export function createPortDriver(ctx: PortDriverContext): Promise<PortDriver> | null {
  const load = portDriverDescriptor(ctx.options.portDriver).parent;
  return load ? load().then((create) => create(ctx)) : null;
}

/** What the ports routes answer when createPortDriver gave none (400, RootlessKit's "no PortDriver is available"). */
export function noPortsMessage({ portDriver, net }: Pick<LaunchOptions, 'portDriver' | 'net'>): string {
  const implicitPorts = portDriverDescriptor(portDriver).portsImplicit;
  const why = implicitPorts ? `, where ${implicitPorts}` : '';
  return `no port driver is available: nsgate was started with --port-driver=${portDriver}${why}; start it with ${publishingDriverChoices(net)} to publish ports one by one`;
}

/** Load and start the inside half of driver `name` (from PORT_DRIVER_ENV, in a process inside), if it has one. */
export async function startInsideHalf(name: string | undefined, ctx: InsideContext): Promise<InsideHalf | undefined> {
  const descriptor: PortDriverDescriptor | undefined = PORT_DRIVER_DESCRIPTORS.find((d) => d.name === name);
  const inside = await descriptor?.inside?.();
  inside?.start?.(ctx);
  return inside;
}
