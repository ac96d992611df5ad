/**
 * What is compared: direct loopback, RootlessKit (the reference build, named with its version), pasta, and
 * nsgate with every port driver it has (read from its own option tables, so a new driver is benchmarked
 * without touching this file).
 */
import { availableParallelism } from 'node:os';
import { RelayEngine } from '../src/dataplane/engine.js';
import { PORT_DRIVERS, portDriverDescriptor, type PortDriverName } from '../src/port/drivers/registry.js';
import { referencePeer } from '../test/e2e/peers.js';
import { floorRelay, FLOOR_LAUNCHER } from './floor.js';
import type { Program } from './programs.js';

/** RootlessKit is named with the version that ran ("rootlesskit-2.3.4"); bare "rootlesskit" when there is none. */
export type Tool = 'direct' | 'rootlesskit' | `rootlesskit-${string}` | 'pasta' | 'nsgate' | 'floor';

/** Host ports, on 127.0.0.1, that the clients use. */
export interface Ports {
  iperf: number;
  http: number;
}

/** Where the servers listen inside a namespace. */
export const CHILD_PORTS: Ports = { iperf: 5201, http: 8080 };

export interface BenchCase {
  readonly tool: Tool;
  readonly driver: string;
  /** Programs that must be installed for it, besides the servers and clients. */
  readonly needs: readonly Program[];
  /**
   * argv up to the servers' command: it starts a fresh namespace publishing `ports` on 127.0.0.1
   * to CHILD_PORTS. null for direct: the servers listen on the host ports themselves.
   */
  readonly launcher: ((ports: Ports, stateDir: string) => string[]) | null;
  /**
   * True when the tool forwards whatever a server binds inside to the same port number on the host
   * (pasta's automatic mode): the servers then listen on the host ports and nothing is published.
   */
  readonly forwardsBoundPorts?: boolean;
  /**
   * True when the launcher's processes are not the forwarder (the floor: nsgate only makes the namespace):
   * its startup and memory figures would not be the forwarder's, so none is taken.
   */
  readonly dataPlaneOnly?: boolean;
}

export const caseName = (c: { tool: string; driver: string }): string => `${c.tool}/${c.driver}`;

/** The tool without its version: "rootlesskit-2.3.4" -> "rootlesskit". */
export const toolFamily = (tool: string): string => tool.replace(/-.*$/, '');

/** `name` is the case's name, or its tool family's ("rootlesskit/builtin" names whichever RootlessKit runs). */
export function isCase(c: { tool: string; driver: string }, name: string): boolean {
  return name === caseName(c) || name === caseName({ tool: toolFamily(c.tool), driver: c.driver });
}

/** Same MTU everywhere: RootlessKit's recommended setting for slirp4netns, and pasta's default. */
const MTU = '--mtu=65520';

function published(ports: Ports): string[] {
  const specs = [`${ports.iperf}:${CHILD_PORTS.iperf}/tcp`, `${ports.iperf}:${CHILD_PORTS.iperf}/udp`, `${ports.http}:${CHILD_PORTS.http}/tcp`];
  return specs.flatMap((spec) => ['-p', `127.0.0.1:${spec}`]);
}

/** RootlessKit and nsgate take the same flags. */
function rootlesskitStyle(argv0: string[], net: string, driver: string, publish = true): (ports: Ports, stateDir: string) => string[] {
  return (ports, stateDir) => [
    ...argv0,
    `--state-dir=${stateDir}`,
    `--net=${net}`,
    MTU,
    `--port-driver=${driver}`,
    ...(publish ? published(ports) : []),
    '--',
  ];
}

/** pasta forwarding the ports itself (`man pasta`: -t/-u host to namespace, -T/-U none the other way). */
function pasta(ports: Ports): string[] {
  const to = (port: keyof Ports) => `127.0.0.1/${ports[port]}:${CHILD_PORTS[port]}`;
  return ['pasta', '--config-net', '--foreground', '--quiet', '-t', to('iperf'), '-t', to('http'), '-u', to('iperf'), '-T', 'none', '-U', 'none', '--'];
}

/** Over slirp4netns where the driver allows it, as RootlessKit's are measured; else pasta (implicit). */
function nsgateCase(nsgate: string, driver: PortDriverName): BenchCase {
  const { networks, publishes } = portDriverDescriptor(driver);
  const net = (['slirp4netns', 'pasta'] as const).find((name) => networks.includes(name)) ?? 'slirp4netns';
  return {
    tool: 'nsgate',
    driver,
    needs: [net],
    launcher: rootlesskitStyle([process.execPath, nsgate], net, driver, publishes),
    forwardsBoundPorts: !publishes,
  };
}

/**
 * The C relay in builtin's place (see floor.ts), in a namespace made by nsgate with no port driver, with as
 * many threads as builtin has relay workers.
 */
function floorCase(nsgate: string): BenchCase {
  const forward = (proto: string, port: keyof Ports, ports: Ports) => `${proto} 127.0.0.1:${ports[port]} 127.0.0.1:${CHILD_PORTS[port]}`;
  return {
    tool: 'floor',
    driver: 'c-relay',
    needs: ['cc', 'slirp4netns'],
    dataPlaneOnly: true,
    launcher: (ports, stateDir) => {
      const threads = `-t ${RelayEngine.workersFor(availableParallelism())}`;
      const relayArgs = [threads, forward('tcp', 'http', ports), forward('tcp', 'iperf', ports), forward('udp', 'iperf', ports)].join(' ');
      const nsgateArgv = rootlesskitStyle([process.execPath, nsgate], 'slirp4netns', 'none', false)(ports, stateDir);
      return ['sh', FLOOR_LAUNCHER, floorRelay(), stateDir, relayArgs, '--', ...nsgateArgv];
    },
  };
}

/**
 * RootlessKit's cases run the reference peer (test/e2e/peers.ts: v2.3.4 when built, else Debian's). Without
 * one they keep the bare name and are skipped as not installed.
 */
function rootlesskitCases(): BenchCase[] {
  const peer = referencePeer();
  const tool: Tool = peer ? `rootlesskit-${peer.version}` : 'rootlesskit';
  const needs: Program[] = peer ? ['slirp4netns'] : ['rootlesskit', 'slirp4netns'];
  return (['builtin', 'slirp4netns'] as const).map((driver) => ({
    tool,
    driver,
    needs,
    launcher: rootlesskitStyle([peer?.rootlesskit ?? 'rootlesskit'], 'slirp4netns', driver),
  }));
}

/** Every case, in the order they run and are shown. `nsgate` is the path of nsgate.js. */
export function allCases(nsgate: string): BenchCase[] {
  return [
    { tool: 'direct', driver: 'loopback', needs: [], launcher: null },
    ...rootlesskitCases(),
    { tool: 'pasta', driver: 'implicit', needs: ['pasta'], launcher: pasta },
    ...PORT_DRIVERS.filter((driver) => driver !== 'none').map((driver) => nsgateCase(nsgate, driver)),
    floorCase(nsgate),
  ];
}
