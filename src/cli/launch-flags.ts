/**
 * `nsgate [flags] COMMAND [ARGS...]`: argv -> LaunchOptions, with RootlessKit's flag names,
 * forms and defaults. One table drives parsing, validation and --help.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { posix, resolve } from 'node:path';

import { UserError } from '../errors.js';
import { NET_DRIVERS, type LaunchOptions, type NetDriverName } from '../options.js';
import { ipv4, ipv4ToNumber, networkAddresses } from '../network/addresses.js';
import { parseCidr } from '../port/drivers/bypass/outgoing.js';
import { PORT_DRIVER_DESCRIPTORS, PORT_DRIVERS, portDriverDescriptor, publishingDriverChoices } from '../port/drivers/registry.js';
import { parsePortSpec } from '../port/spec.js';
import { parseReverseSpec } from '../port/reverse-spec.js';
import { MAX_PORT_RANGE } from '../port/types.js';
import { orList } from '../text.js';
import { ROOTLESSKIT_VERSION } from '../version.js';

export type LaunchCommand =
  | { kind: 'help'; text: string }
  | { kind: 'version' }
  /** --print-semver: one component of ROOTLESSKIT_VERSION. */
  | { kind: 'semver'; component: number }
  /** `warnings`: what RootlessKit would warn about these flags, in nsgate's words. */
  | { kind: 'run'; options: LaunchOptions; warnings: string[] };

type Kind = 'boolean' | 'string' | 'int' | 'repeatable';

interface FlagSpec {
  /** Long name, without the dashes. */
  readonly name: string;
  /** One-letter alias, without the dash. */
  readonly alias?: string;
  readonly kind: Kind;
  /** The only values accepted; booleans accept true and false. */
  readonly values?: readonly string[];
  /** Values RootlessKit knows that nsgate refuses, each with why. */
  readonly refused?: Readonly<Record<string, string>>;
  /** As written on the command line; booleans default to false. */
  readonly default?: string;
  readonly help: string;
  /** Heading in --help, as RootlessKit groups its flags. */
  readonly group: string;
  /** Checks one value beyond `kind` and `values` and returns it normalized; throws UserError. */
  readonly normalize?: (value: string) => string;
  /** What nsgate adds to RootlessKit v2.3.4 here (the flag itself, or some of its values), marked in --help. */
  readonly addition?: string;
}

const USAGE = 'nsgate [flags] COMMAND [ARGS...]';
const BOOL = ['true', 'false'];
/** Unicode white space as Go's strings.TrimSpace takes it off the ends (String.trim also takes U+FEFF, not U+0085). */
const GO_SPACE_CHAR = '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const GO_SPACE = new RegExp(`^${GO_SPACE_CHAR}+|${GO_SPACE_CHAR}+$`, 'g');
const AUTO_BOOL = ['auto', 'true', 'false'] as const;
const CIDR_EXAMPLE = '10.0.2.0/24';
const MTU_MIN = 68;
const MTU_MAX = 65520;
const SEMVER_COMPONENTS = ['major', 'minor', 'patch'] as const;
/** RootlessKit's network drivers that nsgate lacks. */
const OTHER_NETWORKS: Readonly<Record<string, string>> = {
  vpnkit: 'nsgate has no VPNKit network driver (slirp4netns and pasta give the same kind of user-mode network)',
  'lxc-user-nic': 'nsgate has no lxc-user-nic network driver (it needs the setuid lxc-user-nic helper and a host bridge)',
  'gvisor-tap-vsock': 'nsgate has no gvisor-tap-vsock network driver (RootlessKit v3 has one; slirp4netns and pasta give the same kind of user-mode network)',
};
/** Ignored, as RootlessKit ignores them unless --net names their network, which nsgate refuses. */
const OTHER_NETWORK_FLAG = (net: string) => `for --net=${net}, which nsgate does not have: accepted and ignored`;

const FLAGS = [
  { name: 'debug', kind: 'boolean', group: 'Misc', help: 'debug mode' },
  { name: 'help', alias: 'h', kind: 'boolean', group: 'Misc', help: 'show help' },
  { name: 'version', alias: 'v', kind: 'boolean', group: 'Misc', help: `print the version: RootlessKit's that nsgate stands in for (${ROOTLESSKIT_VERSION}), then nsgate's` },
  {
    name: 'print-semver',
    kind: 'string',
    values: SEMVER_COMPONENTS,
    group: 'Misc',
    help: `print a component of the RootlessKit version nsgate stands in for (${ROOTLESSKIT_VERSION}) as a decimal integer`,
  },
  {
    name: 'copy-up',
    kind: 'repeatable',
    group: 'Mount',
    help: 'mount a filesystem and copy-up the contents. e.g. "--copy-up=/etc" (typically required for non-host network)',
    normalize: checkCopyUp,
  },
  { name: 'copy-up-mode', kind: 'string', values: ['tmpfs+symlink'], default: 'tmpfs+symlink', group: 'Mount', help: 'copy-up mode' },
  { name: 'propagation', kind: 'string', values: ['rprivate', 'rslave', 'rshared'], default: 'rprivate', group: 'Mount', help: 'mount propagation' },
  { name: 'net', kind: 'string', values: NET_DRIVERS, refused: OTHER_NETWORKS, default: 'host', group: 'Network', help: 'network driver' },
  {
    name: 'mtu',
    kind: 'int',
    default: '0',
    group: 'Network',
    help: `MTU for non-host network, ${MTU_MIN}-${MTU_MAX}; 0 = auto: 65520 for slirp4netns and pasta, 1500 for others`,
    normalize: checkMtu,
  },
  {
    name: 'cidr',
    kind: 'string',
    default: CIDR_EXAMPLE,
    group: 'Network',
    help: 'CIDR for slirp4netns and pasta network (the child is .100, the gateway .2, the DNS .3)',
    normalize: checkCidr,
  },
  { name: 'ifname', kind: 'string', default: 'tap0', group: 'Network', help: 'network interface name', normalize: checkIfname },
  { name: 'disable-host-loopback', kind: 'boolean', group: 'Network', help: 'prohibit connecting to 127.0.0.1:* on the host namespace' },
  { name: 'ipv6', kind: 'boolean', group: 'Network', help: 'enable IPv6 routing. Unrelated to port forwarding. (experimental)' },
  {
    name: 'detach-netns',
    kind: 'boolean',
    group: 'Network',
    help: 'keep the network namespace at STATE_DIR/netns (for nsenter -n) and run COMMAND in the host network namespace',
  },
  {
    name: 'slirp4netns-binary',
    kind: 'string',
    default: 'slirp4netns',
    group: 'Network [slirp4netns]',
    help: 'path of slirp4netns binary for --net=slirp4netns',
  },
  { name: 'slirp4netns-sandbox', kind: 'string', values: AUTO_BOOL, default: 'auto', group: 'Network [slirp4netns]', help: 'enable slirp4netns sandbox' },
  { name: 'slirp4netns-seccomp', kind: 'string', values: AUTO_BOOL, default: 'auto', group: 'Network [slirp4netns]', help: 'enable slirp4netns seccomp' },
  { name: 'pasta-binary', kind: 'string', default: 'pasta', group: 'Network [pasta]', help: 'path of pasta binary for --net=pasta' },
  { name: 'vpnkit-binary', kind: 'string', group: 'Network [vpnkit]', help: `path of VPNKit binary, ${OTHER_NETWORK_FLAG('vpnkit')}` },
  { name: 'lxc-user-nic-binary', kind: 'string', group: 'Network [lxc-user-nic]', help: `path of lxc-user-nic binary, ${OTHER_NETWORK_FLAG('lxc-user-nic')}` },
  { name: 'lxc-user-nic-bridge', kind: 'string', group: 'Network [lxc-user-nic]', help: `lxc-user-nic bridge name, ${OTHER_NETWORK_FLAG('lxc-user-nic')}` },
  {
    name: 'port-driver',
    kind: 'string',
    values: PORT_DRIVERS,
    default: 'none',
    group: 'Port',
    help: 'port driver for non-host network',
    addition: PORT_DRIVER_DESCRIPTORS.flatMap((d) => ('addition' in d ? [d.addition] : [])).join(', '),
  },
  {
    name: 'publish',
    alias: 'p',
    kind: 'repeatable',
    group: 'Port',
    help: 'publish ports. e.g. "127.0.0.1:8080:80/tcp"',
    addition: `ranges of as many ports, "127.0.0.1:8000-8009:80-89/tcp" (at most ${MAX_PORT_RANGE}); parent port 0 for a free one the kernel picks (builtin)`,
  },
  {
    name: 'reverse-publish',
    kind: 'repeatable',
    group: 'Port',
    help: 'builtin driver: listen inside the namespace and make the connections on the host, e.g. "5432:5432/tcp" reaches the host\'s 127.0.0.1:5432 at 127.0.0.1:5432 inside, also with --disable-host-loopback. Form: [CHILD_IP:]CHILD_PORT:[PARENT_IP:]PARENT_PORT/PROTO, IPs 127.0.0.1 by default, PROTO tcp or udp',
    addition: 'the flag',
  },
  {
    name: 'source-ip-transparent',
    kind: 'boolean',
    default: 'true',
    group: 'Port',
    help: 'builtin driver: servers inside see the real address of non-loopback TCP clients (needs IP_TRANSPARENT, set up inside the namespace)',
    addition: 'the flag, as RootlessKit v3 has it',
  },
  {
    name: 'bypass-outgoing',
    kind: 'boolean',
    default: 'true',
    group: 'Port',
    help: 'bypass driver: connect() of TCP and UDP sockets to addresses outside the namespaces (not loopback, link-local, multicast, the namespaces\' subnets, the gateway and DNS, --bypass-ignore) gets a host socket, for containers too',
    addition: 'the flag',
  },
  {
    name: 'bypass-ignore',
    kind: 'repeatable',
    group: 'Port',
    help: 'bypass driver: a network (CIDR, or one address) whose connects stay in the namespace, e.g. 192.0.2.0/24',
    addition: 'the flag',
    normalize: checkBypassIgnore,
  },
  { name: 'pidns', kind: 'boolean', group: 'Process', help: 'create a PID namespace' },
  { name: 'cgroupns', kind: 'boolean', group: 'Process', help: 'create a cgroup namespace' },
  { name: 'utsns', kind: 'boolean', group: 'Process', help: 'create a UTS namespace' },
  { name: 'ipcns', kind: 'boolean', group: 'Process', help: 'create an IPC namespace' },
  { name: 'reaper', kind: 'string', values: AUTO_BOOL, default: 'auto', group: 'Process', help: 'enable process reaper. Requires --pidns.' },
  {
    name: 'evacuate-cgroup2',
    kind: 'string',
    group: 'Process',
    help: "move every process of nsgate's cgroup (v2) into this new subgroup, and enable the cgroup's controllers for its subgroups. Requires --pidns and --cgroupns",
    normalize: checkCgroupName,
  },
  {
    name: 'state-dir',
    kind: 'string',
    group: 'State',
    help: 'state directory (default: a fresh private temporary directory, removed at exit)',
    // Made absolute as RootlessKit does: the namespace process and API clients get it through ROOTLESSKIT_STATE_DIR.
    normalize: (dir: string) => resolve(dir),
  },
  {
    name: 'subid-source',
    kind: 'string',
    values: ['auto', 'dynamic', 'static'],
    default: 'auto',
    group: 'SubID',
    help: 'the source of the subids. "dynamic" executes getsubids. "static" reads /etc/{subuid,subgid}.',
  },
] as const satisfies readonly FlagSpec[];

type Row = (typeof FLAGS)[number];
type Name = Row['name'];
type DefaultedName = Extract<Row, { default: string }>['name'];
type ChoiceName = Extract<Row, { values: readonly string[]; default: string }>['name'];
type ChoiceOf<N extends ChoiceName> = Extract<Row, { name: N }>['values'][number];

/** Names and aliases to their flag. */
const LOOKUP = new Map<string, FlagSpec>(
  FLAGS.flatMap((flag: FlagSpec) => (flag.alias ? [[flag.name, flag], [flag.alias, flag]] : [[flag.name, flag]])),
);

/**
 * Parses `nsgate`'s argv (without node and the script). Throws UserError for any bad input.
 * `_env` is unused: no flag reads the environment (RootlessKit's don't either).
 */
export function parseLaunchArgs(argv: string[], _env?: NodeJS.ProcessEnv): LaunchCommand {
  const { given, command } = scan(argv);
  // Booleans are checked by scan: help and version win over any other bad value, as in RootlessKit.
  const raw = new FlagValues(given);
  if (raw.flag('help')) return { kind: 'help', text: helpText() };
  if (raw.flag('version')) return { kind: 'version' };
  const semver = raw.optional('print-semver');
  if (semver !== undefined) return { kind: 'semver', component: semverComponent(semver) };
  if (command.length === 0) throw new UserError(`no command specified: usage: ${USAGE} (see nsgate --help)`);
  const values = new FlagValues(normalizeAll(given));
  const options = toOptions(values, command);
  return { kind: 'run', options, warnings: flagWarnings(values, options) };
}

/**
 * Splits argv into raw flag values (by long name, in order) and COMMAND. Like Go's flag package,
 * which RootlessKit uses, it stops at the first non-flag argument or `--`, and takes `-name` as `--name`.
 */
function scan(argv: string[]): { given: Map<string, string[]>; command: string[] } {
  const given = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return { given, command: argv.slice(i + 1) };
    if (arg.length < 2 || !arg.startsWith('-')) return { given, command: argv.slice(i) };
    const [name = '', inline] = splitOnce(arg.replace(/^--?/, ''), '=');
    const flag = LOOKUP.get(name);
    if (flag === undefined) throw unknownFlag(arg.split('=')[0]!, name);
    let value: string;
    if (flag.kind === 'boolean') {
      value = inline ?? 'true';
      if (!BOOL.includes(value)) throw badValue(flag, value, BOOL);
    } else if (inline !== undefined) {
      value = inline;
    } else if (i + 1 < argv.length) {
      value = argv[++i]!;
    } else {
      throw new UserError(`flag --${flag.name} needs a value, e.g. --${flag.name}=${flag.default ?? 'VALUE'}`);
    }
    given.set(flag.name, [...(given.get(flag.name) ?? []), ...(flag.kind === 'repeatable' ? splitList(value) : [value])]);
  }
  return { given, command: [] };
}

/**
 * RootlessKit's list flags (urfave/cli string slices) take several values in one, split at commas and each
 * trimmed of white space: `-p "127.0.0.1:8080:80/tcp, 127.0.0.1:8443:443/tcp"` publishes two ports.
 */
function splitList(value: string): string[] {
  return value.split(',').map((item) => item.replace(GO_SPACE, ''));
}

function splitOnce(text: string, separator: string): [string, string?] {
  const at = text.indexOf(separator);
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + separator.length)];
}

function normalizeAll(given: Map<string, string[]>): Map<string, string[]> {
  return new Map([...given].map(([name, values]) => [name, values.map((value) => checkValue(LOOKUP.get(name)!, value))]));
}

function checkValue(flag: FlagSpec, value: string): string {
  const refusal = flag.refused?.[value];
  if (refusal) throw new UserError(`--${flag.name}=${value} is not supported: ${refusal}; allowed values are ${flag.values!.join(', ')}`);
  if (flag.values && !flag.values.includes(value)) throw badValue(flag, value, flag.values);
  if (value === '') throw new UserError(`--${flag.name} needs a non-empty value`);
  if (flag.kind === 'int' && !/^-?[0-9]+$/.test(value)) throw new UserError(`--${flag.name} expects an integer, got ${JSON.stringify(value)}`);
  return flag.normalize ? flag.normalize(value) : value;
}

function badValue(flag: FlagSpec, value: string, allowed: readonly string[]): UserError {
  return new UserError(`invalid value ${JSON.stringify(value)} for --${flag.name}: allowed values are ${allowed.join(', ')}`);
}

function unknownFlag(shown: string, name: string): UserError {
  const near = closestName(name);
  return new UserError(`unknown flag ${shown}${near === undefined ? '' : `: did you mean --${near}?`} (see nsgate --help)`);
}

/** The flag name nearest to `name`, if it is close enough to be a typo. */
function closestName(name: string): string | undefined {
  // Short names allow fewer edits, or every one-letter typo would "mean" some flag.
  const limit = Math.min(2, Math.floor(name.length / 2));
  let best: { name: string; distance: number } | undefined;
  for (const candidate of FLAGS.map((flag) => flag.name)) {
    const distance = editDistance(name, candidate);
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** Normalized flag values by long name, read with their table defaults. */
class FlagValues {
  constructor(private readonly values: Map<string, string[]>) {}

  list(name: Name): string[] {
    return this.values.get(name) ?? [];
  }

  optional(name: Name): string | undefined {
    return this.list(name).at(-1) ?? LOOKUP.get(name)!.default;
  }

  text(name: DefaultedName): string {
    return this.optional(name)!;
  }

  flag(name: Name): boolean {
    return this.optional(name) === 'true';
  }

  choice<N extends ChoiceName>(name: N): ChoiceOf<N> {
    // checkValue has matched it against the flag's values.
    return this.text(name) as ChoiceOf<N>;
  }
}

function toOptions(values: FlagValues, command: string[]): LaunchOptions {
  const net = values.choice('net');
  const options: LaunchOptions = {
    stateDir: values.optional('state-dir'),
    net,
    mtu: Number(values.text('mtu')) || autoMtu(net),
    cidr: values.text('cidr'),
    ifname: values.text('ifname'),
    disableHostLoopback: values.flag('disable-host-loopback'),
    ipv6: values.flag('ipv6'),
    copyUp: [...new Set(values.list('copy-up'))],
    propagation: values.choice('propagation'),
    pidns: values.flag('pidns'),
    cgroupns: values.flag('cgroupns'),
    utsns: values.flag('utsns'),
    ipcns: values.flag('ipcns'),
    reaper: values.choice('reaper'),
    evacuateCgroup2: values.optional('evacuate-cgroup2'),
    detachNetns: values.flag('detach-netns'),
    slirp4netnsBinary: values.text('slirp4netns-binary'),
    pastaBinary: values.text('pasta-binary'),
    slirp4netnsSandbox: values.choice('slirp4netns-sandbox'),
    slirp4netnsSeccomp: values.choice('slirp4netns-seccomp'),
    subidSource: values.choice('subid-source'),
    portDriver: values.choice('port-driver'),
    publish: values.list('publish').map((text) => flagValue('--publish', () => parsePortSpec(text))),
    reversePublish: values.list('reverse-publish').map((text) => flagValue('--reverse-publish', () => parseReverseSpec(text))),
    sourceIpTransparent: values.flag('source-ip-transparent'),
    bypassOutgoing: values.flag('bypass-outgoing'),
    bypassIgnore: values.list('bypass-ignore'),
    debug: values.flag('debug'),
    command,
  };
  checkCombination(options);
  checkNetworkFlags(values, net);
  checkDriverFlags(values, options.portDriver);
  return options;
}

/** --print-semver's answer; a bad component is refused even without COMMAND, as in RootlessKit. */
function semverComponent(component: string): number {
  const index = SEMVER_COMPONENTS.indexOf(component as (typeof SEMVER_COMPONENTS)[number]);
  if (index < 0) throw badValue(LOOKUP.get('print-semver')!, component, SEMVER_COMPONENTS);
  return Number(ROOTLESSKIT_VERSION.split('.')[index]);
}

function autoMtu(net: NetDriverName): number {
  return net === 'slirp4netns' || net === 'pasta' ? 65520 : 1500;
}

/** A flag's parsed value, its errors prefixed with the flag. */
function flagValue<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof UserError) throw new UserError(`${flag}: ${err.message}`);
    throw err;
  }
}

function checkCombination(options: LaunchOptions): void {
  checkPortDriver(options);
  if (options.detachNetns && options.net === 'host') throw needsNetns('--detach-netns');
  if (options.reaper === 'true' && !options.pidns) throw new UserError('--reaper=true requires --pidns');
  // The copy-up moves a mount into the tmpfs it mounts, and the kernel refuses to move a mount under a shared one
  // (RootlessKit's child fails there too, and its parent then waits forever).
  if (options.propagation === 'rshared' && options.copyUp.length > 0) {
    throw new UserError('--copy-up cannot be used with --propagation=rshared: a copy-up moves a mount, which the kernel refuses under a shared mount; use --propagation=rslave or rprivate');
  }
  // In RootlessKit's order: --cgroupns first.
  if (options.evacuateCgroup2 !== undefined && !options.cgroupns) throw new UserError('--evacuate-cgroup2 requires --cgroupns (and --pidns)');
  if (options.evacuateCgroup2 !== undefined && !options.pidns) throw new UserError('--evacuate-cgroup2 requires --pidns');
  const notWithDetachNetns = portDriverDescriptor(options.portDriver).notWithDetachNetns;
  if (notWithDetachNetns && options.detachNetns) {
    throw new UserError(`--port-driver=${options.portDriver} cannot be used with --detach-netns: ${notWithDetachNetns}`);
  }
}

/** The port driver/network matrix, --publish only with a driver that publishes, --reverse-publish only with builtin. */
function checkPortDriver({ portDriver, net, publish, reversePublish }: LaunchOptions): void {
  const flag = `--port-driver=${portDriver}`;
  if (reversePublish.length > 0 && portDriver !== 'builtin') {
    throw new UserError(`--reverse-publish needs --port-driver=builtin (its relay serves reverse ports), not ${flag}`);
  }
  const driver = portDriverDescriptor(portDriver);
  const nets = driver.networks;
  if (!nets.includes(net)) {
    if (net === 'host') throw needsNetns(flag, nets);
    const why = driver.networksWhy;
    throw new UserError(`${flag} works only with ${orList(nets.map((n) => `--net=${n}`))}, not --net=${net}${why ? `: ${why}` : ''}`);
  }
  if (publish.length === 0 || driver.publishes) return;
  const choices = publishingDriverChoices(net);
  if (driver.portsImplicit) {
    throw new UserError(`--publish cannot be used with ${flag}: ${driver.portsImplicit}. Drop --publish, or choose the ports with ${choices}`);
  }
  throw new UserError(`--publish needs a port driver: add ${choices} (${flag} publishes nothing)`);
}

/** A driver's own flags (its descriptor's) mean nothing to another driver: refused there rather than ignored. */
function checkDriverFlags(values: FlagValues, portDriver: string): void {
  for (const driver of PORT_DRIVER_DESCRIPTORS) {
    if (driver.name === portDriver || !('flags' in driver)) continue;
    for (const name of driver.flags) {
      if (values.list(name as Name).length > 0) throw new UserError(`--${name} applies to --port-driver=${driver.name} only, not --port-driver=${portDriver}`);
    }
  }
}

/** RootlessKit refuses a custom --cidr or --ifname where there is no network of its own to apply them to. */
function checkNetworkFlags(values: FlagValues, net: NetDriverName): void {
  if (net !== 'host' && net !== 'none') return;
  for (const name of ['cidr', 'ifname'] as const) {
    if (values.list(name).length > 0) throw new UserError(`--${name} cannot be used with --net=${net}: it applies to the slirp4netns and pasta networks`);
  }
}

/** What RootlessKit warns about in these flags, in nsgate's words. */
function flagWarnings(values: FlagValues, options: LaunchOptions): string[] {
  const warnings: string[] = [];
  const userMode = options.net === 'slirp4netns' || options.net === 'pasta';
  if (userMode && !options.disableHostLoopback) {
    const { gateway } = networkAddresses(options.cidr);
    warnings.push(
      `specifying --disable-host-loopback is highly recommended: without it, processes in the namespace can connect to the host's 127.0.0.1:* through ${gateway}`,
    );
  }
  if (!userMode && values.list('mtu').some((mtu) => mtu !== '0')) warnings.push(`--mtu has no effect with --net=${options.net}`);
  if (!userMode && options.ipv6) warnings.push(`--ipv6 has no effect with --net=${options.net}`);
  return warnings;
}

function needsNetns(what: string, drivers: readonly NetDriverName[] = NET_DRIVERS): UserError {
  const netns = drivers.filter((driver) => driver !== 'host');
  return new UserError(`${what} needs a network namespace: use --net=${orList(netns)}`);
}

function checkMtu(text: string): string {
  const mtu = Number(text);
  if (mtu !== 0 && !(mtu >= MTU_MIN && mtu <= MTU_MAX)) {
    throw new UserError(`--mtu must be 0 (auto) or ${MTU_MIN}-${MTU_MAX}, got ${text}`);
  }
  return String(mtu);
}

/** An IPv4 network with room for the namespace process (.100), the gateway (.2) and the DNS (.3). */
function checkCidr(text: string): string {
  const fail = (problem: string) => new UserError(`--cidr ${text}: ${problem}; expected an IPv4 network like ${CIDR_EXAMPLE}`);
  const [address = '', prefix] = splitOnce(text, '/');
  if (isIPv6(address)) throw fail('IPv6 networks are not supported (--ipv6 adds IPv6 routing)');
  if (!isIPv4(address)) throw fail(`${JSON.stringify(address)} is not an IPv4 address`);
  if (prefix === undefined || !/^[0-9]+$/.test(prefix)) throw fail('the prefix length after "/" is missing or not a number');
  const bits = Number(prefix);
  if (bits < 8 || bits > 25) throw fail(`the prefix length must be 8-25 to hold the child's .100, got /${bits}`);
  const ip = ipv4ToNumber(address);
  const hostBits = ip % 2 ** (32 - bits);
  if (hostBits !== 0) throw fail(`host bits are set (the network is ${ipv4(ip - hostBits)}/${bits})`);
  return `${address}/${bits}`;
}

/** A cgroup name, as RootlessKit checks it: not empty, no "/"; nor "." or "..", which name no new group. */
function checkCgroupName(name: string): string {
  if (name.includes('/') || name === '.' || name === '..') {
    throw new UserError(`--evacuate-cgroup2 ${JSON.stringify(name)}: expected the name of a new cgroup, without "/" (e.g. rootlesskit_evacuation), not "." or ".."`);
  }
  return name;
}

/** A name the kernel accepts (dev_valid_name): at most 15 bytes, no "/", ":" or whitespace, not "." or "..". */
function checkIfname(name: string): string {
  if (Buffer.byteLength(name) > 15 || /[\s/:]/.test(name) || name === '.' || name === '..') {
    throw new UserError(`--ifname ${JSON.stringify(name)} is not a valid interface name: 1-15 characters, no "/", ":" or whitespace`);
  }
  return name;
}

function checkBypassIgnore(text: string): string {
  try {
    parseCidr(text);
  } catch (err) {
    throw new UserError(`--bypass-ignore ${(err as Error).message}`);
  }
  return text;
}

function checkCopyUp(dir: string): string {
  if (!posix.isAbsolute(dir)) throw new UserError(`--copy-up ${dir}: must be an absolute path, e.g. /etc`);
  const normalized = posix.normalize(dir);
  if (normalized === '/') throw new UserError('--copy-up /: the root directory cannot be copied up; name a directory such as /etc');
  const clean = normalized.replace(/\/$/, '');
  if (clean === '/tmp') {
    throw new UserError(`--copy-up ${dir}: /tmp cannot be copied up (it holds the mounts a copy-up moves, as in RootlessKit); name a directory such as /etc`);
  }
  return clean;
}

function helpText(): string {
  const width = Math.max(...FLAGS.map((flag) => signature(flag).length)) + 2;
  const groups = new Map<string, string[]>();
  for (const flag of FLAGS) {
    groups.set(flag.group, [...(groups.get(flag.group) ?? []), `    ${signature(flag).padEnd(width)}${description(flag)}`]);
  }
  const sections = [...groups].map(([group, lines]) => `  ${group}:\n${lines.join('\n')}`);
  return [
    `Usage: ${USAGE}`,
    'Run COMMAND as root in new user, mount and (optionally) network namespaces, like rootlesskit.',
    `Options (grouped as RootlessKit ${ROOTLESSKIT_VERSION} groups them; "nsgate adds:" marks what it does not have):\n${sections.join('\n\n')}`,
  ].join('\n\n') + '\n';
}

/** `--publish value, -p value` */
function signature(flag: FlagSpec): string {
  const arg = flag.kind === 'boolean' ? '' : ' value';
  const names = flag.alias ? [`--${flag.name}`, `-${flag.alias}`] : [`--${flag.name}`];
  return names.map((name) => name + arg).join(', ');
}

/** `network driver [host, none, slirp4netns, pasta] (default: "host")` */
function description(flag: FlagSpec): string {
  const values = flag.values ? ` [${flag.values.join(', ')}]` : '';
  const repeatable = flag.kind === 'repeatable' ? ' (repeatable; a comma separates several in one)' : '';
  const shown = flag.kind === 'boolean' ? flag.default ?? 'false' : flag.kind === 'string' && flag.default ? JSON.stringify(flag.default) : flag.default;
  const addition = flag.addition ? ` (nsgate adds: ${flag.addition})` : '';
  return `${flag.help}${values}${repeatable}${shown === undefined ? '' : ` (default: ${shown})`}${addition}`;
}
