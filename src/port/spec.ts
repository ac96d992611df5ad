/** Port specs: RootlessKit's string grammar and the checks shared with the REST API's JSON. */

import { UserError } from '../errors.js';
import { ipFamily, isGoIP } from './ip.js';
import { MAX_PORT_RANGE, PROTOS, type PortRangeSpec, type PortSpec, type Proto } from './types.js';

type Field = keyof PortSpec;
/** Throws a UserError naming `field` and saying what is wrong with it, e.g. ('parentPort', 'is out of range'). */
type Fail = (field: Field, problem: string) => never;

const FORM = '[PARENT_IP]:PARENT_PORT[:CHILD_IP]:CHILD_PORT/PROTO (either port may be a range FIRST-LAST), e.g. 0.0.0.0:8080:80/tcp';
const PORT_RANGE = '(allowed: 1-65535)';
const PARENT_PORT_RANGE = '(allowed: 1-65535, or 0 for a free port the kernel picks)';
/** A port as Go's strconv.Atoi reads it (RootlessKit's): decimal digits, an optional sign. */
const PORT_TEXT = /^[+-]?[0-9]+$/;
/** nsgate's range of ports, FIRST-LAST. */
const RANGE_TEXT = /^([0-9]+)-([0-9]+)$/;
/** What Go's text/scanner skips between tokens: RootlessKit ignores it around the parts before the child port. */
const BLANK = /^[ \t\n\r]+|[ \t\n\r]+$/g;
const UNKNOWN_PROTO = `is unknown (allowed: ${PROTOS.join(', ')})`;
const LABELS: Record<Field, string> = {
  proto: 'proto',
  parentIP: 'parent IP',
  parentPort: 'parent port',
  childIP: 'child IP',
  childPort: 'child port',
};

/**
 * Parses `<parentIP>:<parentPort>[:<childIP>]:<childPort>/<proto>` as RootlessKit v2 does: the proto is
 * after the last "/", the child port after the last ":" before it; the parts before the child port may
 * be in brackets (needed only for IPv6) and surrounded by blanks; either IP may be empty.
 * nsgate's extensions: a parent port 0 (the kernel picks one when it binds), and both ports as ranges of
 * the same length (`8000-8009:80-89`), which come back with `parentPortEnd` and `childPortEnd`.
 */
export function parsePortSpec(text: string): PortRangeSpec {
  const fail = (problem: string): never => {
    throw new UserError(`invalid port spec ${JSON.stringify(text)}: ${problem}`);
  };
  const parts = splitSpec(text, fail);
  const failField: Fail = (field, problem) => fail(`${LABELS[field]} ${JSON.stringify(parts[field]?.raw)} ${problem}`);
  const ip = (field: 'parentIP' | 'childIP'): string | undefined => parts[field]?.value;
  const port = (field: 'parentPort' | 'childPort'): [number, number?] => {
    const range = RANGE_TEXT.exec(parts[field].value);
    if (range) return [Number(range[1]), Number(range[2])];
    if (!PORT_TEXT.test(parts[field].value)) failField(field, `is not a decimal number or a range like 8000-8009 ${field === 'parentPort' ? PARENT_PORT_RANGE : PORT_RANGE}`);
    return [Number(parts[field].value)];
  };
  const [parentPort, parentPortEnd] = port('parentPort');
  const [childPort, childPortEnd] = port('childPort');
  const spec = checkSpec(
    { proto: parts.proto.value, parentIP: ip('parentIP'), parentPort, childIP: ip('childIP'), childPort },
    failField,
  );
  if (parentPortEnd === undefined && childPortEnd === undefined) return spec;
  return checkRange(spec, parentPortEnd ?? parentPort, childPortEnd ?? childPort, (problem) =>
    fail(`${problem} (write equal ranges, e.g. ${formatIP(spec.parentIP ?? '')}:8000-8009:80-89/${spec.proto})`),
  );
}

/**
 * Adds the ends of a range to `spec` (a checked single port: its first one), or fails with `fail`:
 * both ranges the same length, ends not before starts, no parent port 0, at most MAX_PORT_RANGE ports.
 */
function checkRange(spec: PortSpec, parentPortEnd: number, childPortEnd: number, fail: (problem: string) => never): PortRangeSpec {
  const parentCount = parentPortEnd - spec.parentPort + 1;
  const childCount = childPortEnd - spec.childPort + 1;
  if (parentCount < 1) fail(`the parent range ${spec.parentPort}-${parentPortEnd} ends before it starts`);
  if (childCount < 1) fail(`the child range ${spec.childPort}-${childPortEnd} ends before it starts`);
  if (parentPortEnd > 65535 || childPortEnd > 65535) fail(`a range ends past port 65535`);
  if (spec.parentPort === 0) fail('a parent port 0 (a free port the kernel picks) cannot start a range: give a real first port');
  if (parentCount !== childCount) {
    const what = (count: number, first: number, last: number) => (count === 1 ? `one port (${first})` : `${count} ports (${first}-${last})`);
    fail(`the parent side is ${what(parentCount, spec.parentPort, parentPortEnd)} but the child side is ${what(childCount, spec.childPort, childPortEnd)}: both must have as many`);
  }
  if (parentCount > MAX_PORT_RANGE) fail(`a range of ${parentCount} ports is longer than the limit of ${MAX_PORT_RANGE}`);
  return { ...spec, parentPortEnd, childPortEnd };
}

/** The single ports of a range, in order (the spec itself when it is one port). */
export function expandPortRange(range: PortRangeSpec): PortSpec[] {
  const { parentPortEnd, childPortEnd, ...spec } = range;
  const count = parentPortEnd === undefined ? 1 : parentPortEnd - spec.parentPort + 1;
  return Array.from({ length: count }, (_, i) => ({ ...spec, parentPort: spec.parentPort + i, childPort: spec.childPort + i }));
}

interface Part {
  /** The part as written. */
  raw: string;
  /** Without the blanks and brackets around it. */
  value: string;
}

interface SpecParts {
  proto: Part;
  parentIP: Part;
  parentPort: Part;
  childIP?: Part;
  childPort: Part;
}

/** Cuts `text` into the grammar's parts; the values are checked later. */
function splitSpec(text: string, fail: (problem: string) => never): SpecParts {
  if (text === '') fail(`it is empty (the form is ${FORM})`);
  const slash = text.lastIndexOf('/');
  if (slash < 0) fail(`missing "/<proto>" (the form is ${FORM})`);
  const proto = text.slice(slash + 1);
  const protoName = /^[a-z0-9]*/.exec(proto)![0];
  if (protoName !== proto && isProto(protoName)) {
    fail(`unexpected ${JSON.stringify(proto.slice(protoName.length))} after proto "${protoName}"`);
  }
  // Checked before the rest, as RootlessKit does: a proto with a ":" in it would move the child port.
  if (!isProto(proto)) fail(`proto ${JSON.stringify(proto)} ${UNKNOWN_PROTO}`);
  const colon = text.lastIndexOf(':', slash);
  const childPort = text.slice(colon + 1, slash);
  const head = colon < 0 ? [] : splitHead(text.slice(0, colon), fail);
  const isPort = (part: string) => PORT_TEXT.test(part) || RANGE_TEXT.test(part);
  if (head.length === 1 && isPort(head[0]!.value) && isPort(childPort)) {
    fail(`missing the parent IP part, which may be empty: write ":${text}" (all addresses) or "0.0.0.0:${text}"`);
  }
  if (head.length < 2 || head.length > 3) {
    fail(`expected 3 or 4 ":"-separated parts before "/", got ${head.length + 1} (the form is ${FORM}; IPv6 addresses go in brackets, e.g. [::1]:8080:80/tcp6)`);
  }
  const [parentIP, parentPort, childIP] = head as [Part, Part, Part?];
  if (parentPort.value === '') fail(`the parent port (part 2) is empty (IPv6 addresses go in brackets, e.g. [::1]:8080:80/tcp6)`);
  return { proto: { raw: proto, value: proto }, parentIP, parentPort, ...(childIP ? { childIP } : {}), childPort: { raw: childPort, value: childPort } };
}

const HEAD_LABELS = [LABELS.parentIP, LABELS.parentPort, LABELS.childIP];

/** Splits the text before the child port at the colons outside brackets, and takes off blanks and brackets. */
function splitHead(head: string, fail: (problem: string) => never): Part[] {
  const misplaced = (at: number): never =>
    fail(`unbalanced or misplaced "${head[at]}" at offset ${at} (brackets go around a whole part, e.g. [::1]:8080:80/tcp6)`);
  const parts: Part[] = [];
  let start = 0;
  let open = -1;
  for (let i = 0; i <= head.length; i++) {
    const c = head[i];
    if (c === '[') {
      if (open >= 0 || head.slice(start, i).replace(BLANK, '') !== '') misplaced(i);
      open = i;
    } else if (c === ']') {
      if (open < 0) misplaced(i);
      open = -1;
    } else if (open < 0 && (c === ':' || c === undefined)) {
      parts.push(unwrap(head.slice(start, i), HEAD_LABELS[parts.length] ?? `part ${parts.length + 1}`, fail));
      start = i + 1;
    }
  }
  if (open >= 0) misplaced(open);
  return parts;
}

/** A part without the blanks and brackets around it; blanks inside, or text after "]", are refused. */
function unwrap(raw: string, label: string, fail: (problem: string) => never): Part {
  const trimmed = raw.replace(BLANK, '');
  if (!trimmed.startsWith('[')) {
    // RootlessKit's scanner would join the pieces ("1 27.0.0.1" is 127.0.0.1 to it): refused as surely a mistake.
    if (/[ \t\n\r]/.test(trimmed)) fail(`${label} ${JSON.stringify(raw)} has blanks inside (they may only surround it)`);
    return { raw, value: trimmed };
  }
  const close = trimmed.indexOf(']');
  // RootlessKit would silently drop one token there ("[::1]x" is ::1 to it).
  if (close !== trimmed.length - 1) fail(`unexpected ${JSON.stringify(trimmed.slice(close + 1))} after ${JSON.stringify(trimmed.slice(0, close + 1))} (expected ":")`);
  return { raw, value: trimmed.slice(1, -1).replace(BLANK, '') };
}

/** A port id as written in a URL or on a command line: a plain decimal integer; undefined otherwise. */
export function parsePortId(text: string): number | undefined {
  const id = /^\d+$/.test(text) ? Number(text) : NaN;
  return Number.isSafeInteger(id) ? id : undefined;
}

/** Formats `spec` in the grammar of parsePortSpec: parsePortSpec(formatPortSpec(s)) deep-equals s. */
export function formatPortSpec(spec: PortRangeSpec): string {
  const childIP = spec.childIP ? `${formatIP(spec.childIP)}:` : '';
  const ports = (first: number, last: number | undefined) => (last === undefined ? `${first}` : `${first}-${last}`);
  return `${formatIP(spec.parentIP ?? '')}:${ports(spec.parentPort, spec.parentPortEnd)}:${childIP}${ports(spec.childPort, spec.childPortEnd)}/${spec.proto}`;
}

function formatIP(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}

/**
 * Checks a spec that came as JSON (the REST API) and returns a clean copy: only the
 * PortSpec fields, optional ones absent when not given ('' and null count as not given,
 * like Go's zero value). Errors name the JSON field.
 */
export function validatePortSpec(spec: PortSpec): PortSpec {
  const prefix = `invalid port spec ${JSON.stringify(spec)}`;
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new UserError(`${prefix}: expected a JSON object like {"proto":"tcp","parentPort":8080,"childPort":80}`);
  }
  const fields: Partial<Record<Field, unknown>> = spec;
  const fail: Fail = (field, problem) => {
    throw new UserError(`${prefix}: ${field} ${JSON.stringify(fields[field])} ${problem}`);
  };
  for (const field of ['proto', 'parentPort', 'childPort'] as const) {
    if (fields[field] === undefined) throw new UserError(`${prefix}: ${field} is missing`);
  }
  return checkSpec(fields, fail);
}

/**
 * validatePortSpec for a spec that may be a range: `parentPortEnd` and `childPortEnd` (absent, or 0 like
 * Go's zero value, for one port; one alone stands for a range on that side only, which is refused).
 */
export function validatePortRangeSpec(input: PortRangeSpec): PortRangeSpec {
  const spec = validatePortSpec(input);
  const ends: Partial<Record<'parentPortEnd' | 'childPortEnd', unknown>> = input;
  const end = (field: 'parentPortEnd' | 'childPortEnd', start: number): number => {
    const value = ends[field];
    if (value === undefined || value === null || value === 0) return start;
    if (typeof value !== 'number' || !Number.isInteger(value)) throw new UserError(`invalid port spec ${JSON.stringify(input)}: ${field} ${JSON.stringify(value)} is not an integer port`);
    return value;
  };
  if (end('parentPortEnd', 0) === 0 && end('childPortEnd', 0) === 0) return spec;
  return checkRange(spec, end('parentPortEnd', spec.parentPort), end('childPortEnd', spec.childPort), (problem) => {
    throw new UserError(`invalid port spec ${JSON.stringify(input)}: ${problem} (send both ends, e.g. {"parentPort":8000,"parentPortEnd":8009,"childPort":80,"childPortEnd":89})`);
  });
}

/** The checks on field values shared by both entry points; builds the spec in field order. */
function checkSpec(fields: Partial<Record<Field, unknown>>, fail: Fail): PortSpec {
  const proto = fields.proto;
  if (!isProto(proto)) fail('proto', UNKNOWN_PROTO);
  const parentIP = checkIP('parentIP', fields.parentIP, fail);
  const childIP = checkIP('childIP', fields.childIP, fail);
  const family = protoFamily(proto);
  if (parentIP !== undefined && family !== undefined && ipFamily(parentIP) !== family) {
    const mapped = ipFamily(parentIP) === 4 && parentIP.includes(':') ? ' (IPv4-mapped, IPv4 to Go and RootlessKit)' : '';
    fail('parentIP', `is IPv${ipFamily(parentIP)}${mapped} but proto "${proto}" is IPv${family} only (use an IPv${family} address, or "${proto.slice(0, -1)}")`);
  }
  return {
    proto,
    ...(parentIP === undefined ? {} : { parentIP }),
    parentPort: checkPort('parentPort', fields.parentPort, fail),
    ...(childIP === undefined ? {} : { childIP }),
    childPort: checkPort('childPort', fields.childPort, fail),
  };
}

function isProto(value: unknown): value is Proto {
  return PROTOS.includes(value as Proto);
}

function checkIP(field: 'parentIP' | 'childIP', value: unknown, fail: Fail): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !isGoIP(value)) {
    fail(field, 'is not an IP address (allowed: IPv4 like 127.0.0.1 without leading zeros, or IPv6 like ::1 without a zone id)');
  }
  return value;
}

function checkPort(field: 'parentPort' | 'childPort', value: unknown, fail: Fail): number {
  const allowed = field === 'parentPort' ? PARENT_PORT_RANGE : PORT_RANGE;
  if (typeof value !== 'number') fail(field, `is not a number ${allowed}`);
  // Range first: a huge decimal string parses to Infinity, which is out of range rather than "not an integer".
  if (!(value >= (field === 'parentPort' ? 0 : 1) && value <= 65535)) fail(field, `is out of range ${allowed}`);
  if (!Number.isInteger(value)) fail(field, `is not an integer ${allowed}`);
  return value;
}

/** 4 or 6 for a proto restricted to one IP family (tcp4, udp6, ...), undefined for tcp, udp, sctp. */
function protoFamily(proto: Proto): 4 | 6 | undefined {
  return proto.endsWith('4') ? 4 : proto.endsWith('6') ? 6 : undefined;
}
