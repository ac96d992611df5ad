#!/usr/bin/env node
/** nsgatectl: rootlessctl's commands and output, against nsgate's (or RootlessKit's) api.sock. */
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../api/client.js';
import { toGoJSON } from '../api/schema.js';
import type { ApiInfo } from '../api/types.js';
import { UserError, errorMessage } from '../errors.js';
import { parsePortId, parsePortSpec } from '../port/spec.js';
import { MAX_PORT_RANGE } from '../port/types.js';
import type { ReverseStatus } from '../port/reverse.js';
import { parseReverseSpec, type ReverseSpec } from '../port/reverse-spec.js';
import type { ReverseStats } from '../port/stats.js';
import type { PortRangeSpec, PortSpec, PortStats, PortStatus } from '../port/types.js';
import { VERSION } from '../version.js';

export type CommandName = 'list-ports' | 'add-ports' | 'remove-ports' | 'info' | 'list-reverse-ports' | 'add-reverse-ports' | 'remove-reverse-ports';

export type Command =
  | { name: 'list-ports'; json: boolean; stats: boolean }
  | { name: 'add-ports'; json: boolean; specs: PortRangeSpec[] }
  | { name: 'remove-ports'; ids: number[] }
  | { name: 'info'; json: boolean }
  | { name: 'list-reverse-ports'; json: boolean; stats: boolean }
  | { name: 'add-reverse-ports'; json: boolean; specs: ReverseSpec[] }
  | { name: 'remove-reverse-ports'; ids: number[] };

/** What the command line asks for. */
export type Invocation =
  | { action: 'help'; command?: CommandName }
  | { action: 'version' }
  | { action: 'run'; socket: string | undefined; debug: boolean; command: Command };

export interface Writer {
  write(text: string): unknown;
}

export interface Io {
  stdout: Writer;
  stderr: Writer;
  env: Readonly<Record<string, string | undefined>>;
}

interface CommandDoc {
  usage: string;
  argsUsage: string;
  description?: string;
  /** Its boolean flags besides --help. */
  flags: readonly Flag[];
}

type Flag = 'json' | 'stats';

const FLAG_HELP: Readonly<Record<Flag, string>> = {
  json: 'Prints as JSON (default: false)',
  stats: "Prints each port's traffic counters (connections or flows, bytes, datagrams) as a table; --json always has them (default: false)",
};

const COMMANDS: Readonly<Record<CommandName, CommandDoc>> = {
  'list-ports': { usage: 'List ports', argsUsage: '[flags]', flags: ['json', 'stats'] },
  'add-ports': {
    usage: 'Add ports',
    argsUsage: '[flags] PARENTIP:PARENTPORT[:CHILDIP]:CHILDPORT/PROTO [PARENTIP:PARENTPORT[:CHILDIP]:CHILDPORT/PROTO...]',
    description:
      'Add exposed ports. The port spec is similar to `docker run -p`. e.g. "127.0.0.1:8080:80/tcp".\n' +
      `   A range of as many parent and child ports, e.g. "127.0.0.1:8000-8009:80-89/tcp" (at most ${MAX_PORT_RANGE}), is added all or nothing, one ID per port.\n` +
      '   A parent port 0, e.g. "127.0.0.1:0:80/tcp", takes a free port the kernel picks (builtin driver): list-ports shows it.',
    flags: ['json'],
  },
  'remove-ports': {
    usage: 'Remove ports',
    argsUsage: '[flags] ID [ID...]',
    description: 'Remove ports by ID (list-ports shows them). FIRST-LAST removes every ID in between, e.g. the ports of a range: "remove-ports 3-12".',
    flags: [],
  },
  info: { usage: 'Show info', argsUsage: '[flags]', flags: ['json'] },
  'list-reverse-ports': { usage: 'List reverse ports (nsgate)', argsUsage: '[flags]', flags: ['json', 'stats'] },
  'add-reverse-ports': {
    usage: 'Add reverse ports (nsgate)',
    argsUsage: '[flags] [CHILDIP:]CHILDPORT:[PARENTIP:]PARENTPORT/PROTO [...]',
    description:
      'Listen inside the namespace and make each connection (or UDP flow) on the host: "5432:5432/tcp" reaches the\n' +
      "   host's 127.0.0.1:5432 at 127.0.0.1:5432 inside, also with --disable-host-loopback. Both IPs default to 127.0.0.1;\n" +
      '   PROTO is tcp or udp, e.g. "127.0.0.1:8053:[::1]:53/udp". Needs nsgate --port-driver=builtin.',
    flags: ['json'],
  },
  'remove-reverse-ports': { usage: 'Remove reverse ports (nsgate)', argsUsage: '[flags] ID [ID...]', flags: [] },
};

/** The commands, in help order. */
export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];
const COMMAND_LIST = `commands: ${COMMAND_NAMES.join(', ')}, help`;

function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

function commandName(name: string): CommandName {
  if (isCommandName(name)) return name;
  // A singular or a word left out ("add-port", "list-reverse") is most likely the command meant.
  const meant = COMMAND_NAMES.find((command) => command === `${name}s` || command === `${name}-ports` || command.replace('-ports', '-port') === name);
  throw new UserError(`unknown command ${JSON.stringify(name)} (${meant ? `did you mean "${meant}"? ` : ''}${COMMAND_LIST})`);
}

/** `--name=value`, `--name` or Go's single-dash `-name` → [name, inline value]. */
function splitFlag(arg: string): [string, string | undefined] {
  const body = arg.replace(/^--?/, '');
  const eq = body.indexOf('=');
  return eq < 0 ? [body, undefined] : [body.slice(0, eq), body.slice(eq + 1)];
}

/** A boolean flag, bare or as Go's `--flag=true|false`. */
function boolFlag(arg: string, inline: string | undefined): boolean {
  if (inline === undefined || inline === 'true') return true;
  if (inline === 'false') return false;
  throw new UserError(`invalid value for ${arg}: expected true or false`);
}

/** Parses the arguments after the program name. Pure: throws UserError on bad usage. */
export function parseArgs(argv: readonly string[]): Invocation {
  let socket: string | undefined;
  let debug = false;
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    const arg = argv[i]!;
    const [name, inline] = splitFlag(arg);
    switch (name) {
      case 'socket':
        socket = inline ?? argv[++i];
        if (socket === undefined) throw new UserError('flag --socket needs a value: the path of api.sock');
        break;
      case 'debug':
        debug = boolFlag(arg, inline);
        break;
      case 'help':
      case 'h':
        return { action: 'help' };
      case 'version':
      case 'v':
        return { action: 'version' };
      default:
        throw new UserError(
          `unknown flag ${JSON.stringify(arg)} (global flags: --socket PATH, --debug, --version, --help; ${COMMAND_LIST})`,
        );
    }
  }
  const [name, ...rest] = argv.slice(i);
  if (name === undefined) return { action: 'help' };
  if (name === 'help' || name === 'h') {
    return rest[0] === undefined ? { action: 'help' } : { action: 'help', command: commandName(rest[0]) };
  }
  const command = commandName(name);
  const parsed = parseCommand(command, rest);
  return parsed === 'help' ? { action: 'help', command } : { action: 'run', socket, debug, command: parsed };
}

/** A command's flags (anywhere before `--`) and operands; 'help' for --help. */
function parseCommand(name: CommandName, args: readonly string[]): Command | 'help' {
  const set = new Set<Flag>();
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-')) {
      operands.push(arg);
      continue;
    }
    const [flag, inline] = splitFlag(arg);
    if (flag === 'help' || flag === 'h') return 'help';
    const known = COMMANDS[name].flags.find((f) => f === flag);
    if (!known) {
      const flags = [...COMMANDS[name].flags.map((f) => `--${f}`), '--help'].join(', ');
      throw new UserError(`unknown flag ${JSON.stringify(arg)} for ${name} (its flags: ${flags})`);
    }
    if (boolFlag(arg, inline)) set.add(known);
    else set.delete(known);
  }
  const json = set.has('json');
  switch (name) {
    case 'list-ports':
    case 'list-reverse-ports':
    case 'info':
      if (operands.length > 0) throw new UserError(`${name} takes no arguments, got ${JSON.stringify(operands[0])}`);
      return name === 'info' ? { name, json } : { name, json, stats: set.has('stats') };
    case 'add-reverse-ports':
      if (operands.length === 0) throw new UserError('no reverse port specified: give one like 5432:5432/tcp');
      return { name, json, specs: operands.map((spec) => parseReverseSpec(spec)) };
    case 'add-ports':
      if (operands.length === 0) throw new UserError('no port specified');
      return { name, json, specs: operands.map((spec) => parsePortSpec(spec)) };
    case 'remove-ports':
    case 'remove-reverse-ports':
      if (operands.length === 0) throw new UserError(`no ID specified${name === 'remove-reverse-ports' ? ' (list-reverse-ports shows them)' : ''}`);
      return { name, ids: operands.flatMap(portIds) };
  }
}

/** An ID, or (nsgate's, for the ports of a range) FIRST-LAST: every ID from FIRST to LAST. */
function portIds(text: string): number[] {
  const [first, last, ...more] = text.split('-');
  const ids = [first, last ?? first].map((part) => (part === undefined || more.length > 0 ? undefined : parsePortId(part)));
  const [from, to] = ids;
  if (from === undefined || to === undefined) throw new UserError(`invalid port ID ${JSON.stringify(text)}: expected an integer, or a range of them like 3-12`);
  if (to < from || to - from >= MAX_PORT_RANGE) throw new UserError(`invalid ID range ${JSON.stringify(text)}: expected FIRST-LAST with FIRST <= LAST, at most ${MAX_PORT_RANGE} IDs`);
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** `--socket`, else `$ROOTLESSKIT_STATE_DIR/api.sock` (an empty value counts as unset, as in rootlessctl). */
export function resolveSocket(socket: string | undefined, env: Io['env']): string {
  if (socket) return socket;
  const stateDir = env['ROOTLESSKIT_STATE_DIR'];
  if (!stateDir) throw new UserError('please specify --socket or set $ROOTLESSKIT_STATE_DIR');
  return join(stateDir, 'api.sock');
}

/** Runs nsgatectl; returns the exit code. */
export async function main(argv: readonly string[], io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  try {
    const invocation = parseArgs(argv);
    switch (invocation.action) {
      case 'help':
        io.stdout.write(invocation.command ? commandHelp(invocation.command) : appHelp());
        break;
      case 'version':
        io.stdout.write(`nsgatectl version ${VERSION}\n`);
        break;
      case 'run': {
        const log = invocation.debug ? (line: string) => io.stderr.write(`debug: ${line}\n`) : undefined;
        const client = new ApiClient(resolveSocket(invocation.socket, io.env), { log });
        await run(invocation.command, client, io.stdout);
      }
    }
    return 0;
  } catch (err) {
    io.stderr.write(`error: ${errorMessage(err)}\n`);
    return 1;
  }
}

async function run(command: Command, client: ApiClient, out: Writer): Promise<void> {
  switch (command.name) {
    case 'list-ports': {
      const ports = await client.listPorts();
      out.write(command.json ? ports.map(jsonLine).join('') : command.stats ? statsTable(ports) : portTable(ports));
      return;
    }
    case 'add-ports':
      for (const spec of command.specs) writeAdded(out, command.json, await client.addPorts(spec));
      return;
    case 'remove-ports':
      return removeEach(out, command.ids, (id) => client.removePort(id));
    case 'list-reverse-ports': {
      const ports = await client.listReversePorts();
      out.write(command.json ? ports.map(jsonLine).join('') : reverseTable(ports, command.stats));
      return;
    }
    case 'add-reverse-ports':
      for (const spec of command.specs) writeAdded(out, command.json, [await client.addReversePort(spec)]);
      return;
    case 'remove-reverse-ports':
      return removeEach(out, command.ids, (id) => client.removeReversePort(id));
    case 'info': {
      const info = await client.info();
      out.write(command.json ? `${toGoJSON(info, '    ')}\n` : infoText(info));
    }
  }
}

/** Each new entry's id on its own line, as rootlessctl prints them, or (--json) the entry. */
function writeAdded(out: Writer, json: boolean, added: readonly (PortStatus | ReverseStatus)[]): void {
  for (const status of added) out.write(json ? jsonLine(status) : `${status.id}\n`);
}

/** Removes the ids one after the other, printing each once removed (the first failure stops). */
async function removeEach(out: Writer, ids: readonly number[], remove: (id: number) => Promise<void>): Promise<void> {
  for (const id of ids) {
    await remove(id);
    out.write(`${id}\n`);
  }
}

function jsonLine(status: PortStatus | ReverseStatus): string {
  return `${toGoJSON(status)}\n`;
}

function portTable(ports: readonly PortStatus[]): string {
  // STATE only from drivers that have one (bypass): rootlessctl's own table otherwise.
  const stated = ports.some((p) => p.state !== undefined);
  const header = ['ID', 'PROTO', 'PARENTIP', 'PARENTPORT', 'CHILDIP', 'CHILDPORT', ...(stated ? ['STATE'] : [])];
  const rows = ports.map(({ id, spec, state }) => [...portCells(id, spec), ...(stated ? [state ?? ''] : [])]);
  return formatTable([header, ...rows]);
}

/** list-ports --stats: who and what, then the counters ("-" where a column does not apply, or nothing counts). */
function statsTable(ports: readonly PortStatus[]): string {
  const header = ['ID', 'PROTO', 'PARENTIP', 'PARENTPORT', 'CHILDIP', 'CHILDPORT', ...statsHeader('CHILD')];
  const rows = ports.map(({ id, spec, stats }) => [...portCells(id, spec), ...statsCells(stats, 'Child')]);
  return formatTable([header, ...rows]);
}

/** list-reverse-ports: the listener inside first, then where it connects on the host; --stats adds the counters. */
function reverseTable(ports: readonly ReverseStatus[], withStats: boolean): string {
  const header = ['ID', 'PROTO', 'CHILDIP', 'CHILDPORT', 'PARENTIP', 'PARENTPORT', ...(withStats ? statsHeader('PARENT') : [])];
  const rows = ports.map(({ id, spec, stats }) => [
    String(id),
    spec.proto,
    spec.childIP,
    String(spec.childPort),
    spec.parentIP,
    String(spec.parentPort),
    ...(withStats ? statsCells(stats, 'Parent') : []),
  ]);
  return formatTable([header, ...rows]);
}

/** The counters' columns, named after the side the relay connects to. */
function statsHeader(side: 'CHILD' | 'PARENT'): string[] {
  return ['CONNS/FLOWS', 'ACTIVE', `BYTES_TO_${side}`, `BYTES_FROM_${side}`, `DGRAMS_TO_${side}`, `DGRAMS_FROM_${side}`, 'REFUSED/DROPPED'];
}

/** rootlessctl's columns: ID PROTO PARENTIP PARENTPORT CHILDIP CHILDPORT. */
function portCells(id: number, spec: PortSpec): string[] {
  return [String(id), spec.proto, spec.parentIP ?? '', String(spec.parentPort), spec.childIP ?? '', String(spec.childPort)];
}

function statsCells(stats: PortStats | ReverseStats | undefined, side: 'Child' | 'Parent'): string[] {
  const fields = stats as Readonly<Record<string, number | undefined>> | undefined;
  const keys = ['connections' in (stats ?? {}) ? 'connections' : 'flows', 'active', `bytesTo${side}`, `bytesFrom${side}`, `datagramsTo${side}`, `datagramsFrom${side}`];
  return [...keys, 'connections' in (stats ?? {}) ? 'refused' : 'dropped'].map((key) => String(fields?.[key] ?? '-'));
}

/**
 * Go's `tabwriter.NewWriter(w, 4, 8, 4, ' ', 0)` with every cell tab-terminated, as rootlessctl
 * prints it: each column as wide as its widest cell plus 4 (at least 4), trailing spaces kept.
 */
function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(4, ...rows.map((row) => row[column]!.length + 4)));
  return rows.map((row) => `${row.map((cell, column) => cell.padEnd(widths[column]!)).join('')}\n`).join('');
}

/** Go's `%v` of a string slice. */
function goList(items: readonly string[]): string {
  return `[${items.join(' ')}]`;
}

function infoText(info: ApiInfo): string {
  const lines = [
    `- REST API version: ${info.apiVersion}`,
    `- Implementation version: ${info.version}`,
    `- State Directory: ${info.stateDir}`,
    `- Child PID: ${info.childPID}`,
  ];
  const { networkDriver: net, portDriver: port } = info;
  if (net) {
    lines.push(`- Network Driver: ${net.driver}`, `  - DNS: ${goList(net.dns ?? [])}`);
    if (net.childIP) lines.push(`  - IP: ${net.childIP}`);
  }
  if (port) lines.push(`- Port Driver: ${port.driver}`, `  - Supported protocols: ${goList(port.protos)}`);
  return lines.map((line) => `${line}\n`).join('');
}

/** Help in urfave/cli's layout, as rootlessctl prints it. */
function appHelp(): string {
  const entries: [string, string][] = [
    ...Object.entries(COMMANDS).map(([name, doc]): [string, string] => [name, doc.usage]),
    ['help, h', 'Shows a list of commands or help for one command'],
  ];
  return `NAME:
   nsgatectl - nsgate API client (RootlessKit-compatible)

USAGE:
   nsgatectl [global options] command [command options] [arguments...]

VERSION:
   ${VERSION}

COMMANDS:
${optionLines(entries)}
GLOBAL OPTIONS:
${optionLines([
  ['--debug', 'debug mode: log each API request to stderr (default: false)'],
  ['--socket value', 'Path to api.sock (under the "nsgate --state-dir" directory), defaults to $ROOTLESSKIT_STATE_DIR/api.sock'],
  ['--help, -h', 'show help (default: false)'],
  ['--version, -v', 'print the version (default: false)'],
])}`;
}

function commandHelp(name: CommandName): string {
  const doc = COMMANDS[name];
  const description = doc.description ? `\nDESCRIPTION:\n   ${doc.description}\n` : '';
  const flags = doc.flags.map((flag): [string, string] => [`--${flag}`, FLAG_HELP[flag]]);
  return `NAME:
   nsgatectl ${name} - ${doc.usage}

USAGE:
   nsgatectl ${name} [command options] ${doc.argsUsage}
${description}
OPTIONS:
${optionLines([...flags, ['--help, -h', 'show help (default: false)']])}`;
}

/** Indented two-column lines, the first column padded to its widest entry plus two. */
function optionLines(entries: readonly [string, string][]): string {
  const width = Math.max(...entries.map(([name]) => name.length)) + 2;
  return entries.map(([name, text]) => `   ${name.padEnd(width)}${text}\n`).join('');
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  return script !== undefined && realpathSync(script) === fileURLToPath(import.meta.url);
}

// No top-level await: the bundle is CommonJS (tools/bundle.ts).
if (isEntryPoint()) void main(process.argv.slice(2)).then((status) => (process.exitCode = status));
