/** Port specs: RootlessKit's string grammar and the checks shared with the REST API's JSON. */

import { isIPv4, isIPv6 } from 'node:net';

import { UserError } from '../errors.js';
import { PROTOS, type PortSpec, type Proto } from './types.js';

type Field = keyof PortSpec;
/** Throws a UserError naming `field` and saying what is wrong with it, e.g. ('parentPort', 'is out of range'). */
type Fail = (field: Field, problem: string) => never;

const FORM = '[PARENT_IP]:PARENT_PORT[:CHILD_IP]:CHILD_PORT/PROTO, e.g. 0.0.0.0:8080:80/tcp';
const PORT_RANGE = '(allowed: 1-65535)';
const DECIMAL = /^[0-9]+$/;
const LABELS: Record<Field, string> = {
  proto: 'proto',
  parentIP: 'parent IP',
  parentPort: 'parent port',
  childIP: 'child IP',
  childPort: 'child port',
};

/** Parses `<parentIP>:<parentPort>[:<childIP>]:<childPort>/<proto>` (parentIP may be empty). */
export function parsePortSpec(text: string): PortSpec {
  const fail = (problem: string): never => {
    throw new UserError(`invalid port spec ${JSON.stringify(text)}: ${problem}`);
  };
  const parts = splitSpec(text, fail);
  const failField: Fail = (field, problem) => fail(`${LABELS[field]} ${JSON.stringify(parts[field]?.raw)} ${problem}`);
  const ip = (field: 'parentIP' | 'childIP'): string | undefined => {
    const part = parts[field];
    if (part?.inner !== undefined && !isIPv6(part.inner)) {
      failField(field, 'is not an IPv6 address (only IPv6 addresses go in brackets, e.g. [::1])');
    }
    return part?.inner ?? part?.raw;
  };
  const port = (field: 'parentPort' | 'childPort'): number => {
    if (!DECIMAL.test(parts[field].raw)) failField(field, `is not a decimal number ${PORT_RANGE}`);
    return Number(parts[field].raw);
  };
  return checkSpec(
    { proto: parts.proto.raw, parentIP: ip('parentIP'), parentPort: port('parentPort'), childIP: ip('childIP'), childPort: port('childPort') },
    failField,
  );
}

interface Part {
  /** The part as written. */
  raw: string;
  /** The text inside the brackets, if the part is bracketed. */
  inner?: string;
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
  const slash = text.indexOf('/');
  if (slash < 0) fail(`missing "/<proto>" (the form is ${FORM})`);
  const proto = text.slice(slash + 1);
  const protoName = /^[a-z0-9]*/.exec(proto)![0];
  if (protoName !== proto && isProto(protoName)) {
    fail(`unexpected ${JSON.stringify(proto.slice(protoName.length))} after proto "${protoName}"`);
  }
  const parts = splitParts(text.slice(0, slash), fail);
  if (parts.length === 2 && parts.every((part) => DECIMAL.test(part.raw))) {
    fail(`missing the parent IP part, which may be empty: write ":${text}" (all addresses) or "0.0.0.0:${text}"`);
  }
  if (parts.length < 3 || parts.length > 4) {
    fail(`expected 3 or 4 ":"-separated parts before "/", got ${parts.length} (the form is ${FORM}; IPv6 addresses go in brackets, e.g. [::1]:8080:80/tcp6)`);
  }
  const empty = parts.findIndex((part, i) => i > 0 && part.raw === '');
  if (empty > 0) fail(`part ${empty + 1} is empty (only the parent IP may be; IPv6 addresses go in brackets, e.g. [::1])`);
  const [parentIP, parentPort, third, fourth] = parts as [Part, Part, Part, Part?];
  const child = fourth ? { childIP: third, childPort: fourth } : { childPort: third };
  return { proto: { raw: proto }, parentIP, parentPort, ...child };
}

/** Splits at the colons outside brackets. */
function splitParts(text: string, fail: (problem: string) => never): Part[] {
  // A part is an IPv6 address in brackets, or text without brackets or colons.
  const part = /\[([^[\]]*)\]|[^:[\]]*/y;
  const parts: Part[] = [];
  for (; ; part.lastIndex++) {
    const start = part.lastIndex;
    const match = part.exec(text)!;
    parts.push(match[1] === undefined ? { raw: match[0] } : { raw: match[0], inner: match[1] });
    const end = part.lastIndex;
    const next = text[end];
    if (next === undefined) return parts;
    if (next === '[' || next === ']') {
      fail(`unbalanced or misplaced "${next}" at offset ${end} (an IPv6 address goes in one pair of brackets, e.g. [::1])`);
    }
    if (next !== ':') fail(`unexpected ${JSON.stringify(text.slice(end))} after ${JSON.stringify(text.slice(start, end))} (expected ":")`);
  }
}

/** Formats `spec` in the grammar of parsePortSpec: parsePortSpec(formatPortSpec(s)) deep-equals s. */
/** A port id as written in a URL or on a command line: a plain decimal integer; undefined otherwise. */
export function parsePortId(text: string): number | undefined {
  const id = /^\d+$/.test(text) ? Number(text) : NaN;
  return Number.isSafeInteger(id) ? id : undefined;
}

export function formatPortSpec(spec: PortSpec): string {
  const childIP = spec.childIP ? `${formatIP(spec.childIP)}:` : '';
  return `${formatIP(spec.parentIP ?? '')}:${spec.parentPort}:${childIP}${spec.childPort}/${spec.proto}`;
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

/** The checks on field values shared by both entry points; builds the spec in field order. */
function checkSpec(fields: Partial<Record<Field, unknown>>, fail: Fail): PortSpec {
  const proto = fields.proto;
  if (!isProto(proto)) fail('proto', `is unknown (allowed: ${PROTOS.join(', ')})`);
  const parentIP = checkIP('parentIP', fields.parentIP, fail);
  const childIP = checkIP('childIP', fields.childIP, fail);
  const family = protoFamily(proto);
  if (parentIP !== undefined && family !== undefined && ipFamily(parentIP) !== family) {
    fail('parentIP', `is IPv${ipFamily(parentIP)} but proto "${proto}" is IPv${family} only (use an IPv${family} address, or "${proto.slice(0, -1)}")`);
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
  // isIPv6 accepts a zone id (fe80::1%eth0); RootlessKit's specs never carry one.
  if (typeof value !== 'string' || !(isIPv4(value) || isIPv6(value)) || value.includes('%')) {
    fail(field, 'is not an IP address (allowed: IPv4 like 127.0.0.1, or IPv6 like ::1 without a zone id)');
  }
  return value;
}

function checkPort(field: 'parentPort' | 'childPort', value: unknown, fail: Fail): number {
  if (typeof value !== 'number') fail(field, `is not a number ${PORT_RANGE}`);
  // Range first: a huge decimal string parses to Infinity, which is out of range rather than "not an integer".
  if (!(value >= 1 && value <= 65535)) fail(field, `is out of range ${PORT_RANGE}`);
  if (!Number.isInteger(value)) fail(field, `is not an integer ${PORT_RANGE}`);
  return value;
}

/** 4 or 6 for a proto restricted to one IP family (tcp4, udp6, ...), undefined for tcp, udp, sctp. */
function protoFamily(proto: Proto): 4 | 6 | undefined {
  return proto.endsWith('4') ? 4 : proto.endsWith('6') ? 6 : undefined;
}

function ipFamily(ip: string): 4 | 6 {
  return isIPv4(ip) ? 4 : 6;
}
