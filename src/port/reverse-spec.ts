/**
 * Reverse ports (nsgate's, RootlessKit #238): a listener inside the namespace whose connections and datagrams
 * are made on the host, so that a host loopback service is reachable from inside, even with
 * --disable-host-loopback. Spec: `[CHILD_IP:]CHILD_PORT:[PARENT_IP:]PARENT_PORT/PROTO`, both IPs 127.0.0.1 by default.
 */
import { UserError } from '../errors.js';
import { isGoIP } from './ip.js';

export const REVERSE_PROTOS = ['tcp', 'udp'] as const;
export type ReverseProto = (typeof REVERSE_PROTOS)[number];

/** A reverse port, as the API has it: every field present (the IPs defaulted). */
export interface ReverseSpec {
  proto: ReverseProto;
  childIP: string;
  childPort: number;
  parentIP: string;
  parentPort: number;
}

const DEFAULT_IP = '127.0.0.1';
const FORM = '[CHILD_IP:]CHILD_PORT:[PARENT_IP:]PARENT_PORT/PROTO, e.g. 5432:5432/tcp or 127.0.0.1:8053:[::1]:53/udp';
const PORT_TEXT = /^[0-9]+$/;

/** Parses the flag's and add-reverse-ports' form. */
export function parseReverseSpec(text: string): ReverseSpec {
  const fail = (problem: string): never => {
    throw new UserError(`invalid reverse port spec ${JSON.stringify(text)}: ${problem} (the form is ${FORM})`);
  };
  const slash = text.lastIndexOf('/');
  if (slash < 0) fail('missing "/tcp" or "/udp" at the end');
  const parts = splitColons(text.slice(0, slash), fail);
  const port = (part: string, what: string): number => (PORT_TEXT.test(part) ? Number(part) : fail(`the ${what} ${JSON.stringify(part)} is not a port number`));
  let fields: [string, string, string, string];
  if (parts.length === 2) fields = [DEFAULT_IP, parts[0]!, DEFAULT_IP, parts[1]!];
  // Three parts: the IP is on the side whose first part is not a port.
  else if (parts.length === 3) fields = PORT_TEXT.test(parts[0]!) ? [DEFAULT_IP, parts[0]!, parts[1]!, parts[2]!] : [parts[0]!, parts[1]!, DEFAULT_IP, parts[2]!];
  else if (parts.length === 4) fields = parts as [string, string, string, string];
  else fields = fail(`expected 2 to 4 ":"-separated parts, got ${parts.length} (IPv6 addresses go in brackets)`);
  const [childIP, childPort, parentIP, parentPort] = fields;
  return validateReverseSpec({ proto: text.slice(slash + 1), childIP, childPort: port(childPort, 'child port'), parentIP, parentPort: port(parentPort, 'parent port') }, fail);
}

/** Splits at the colons outside brackets and takes the brackets off. */
function splitColons(text: string, fail: (problem: string) => never): string[] {
  const parts: string[] = [];
  let current = '';
  let inBrackets = false;
  for (const c of text) {
    if (c === '[' && !inBrackets && current === '') inBrackets = true;
    else if (c === ']' && inBrackets) inBrackets = false;
    else if (c === ':' && !inBrackets) {
      parts.push(current);
      current = '';
    } else if (c === '[' || c === ']') fail(`misplaced "${c}" (brackets go around a whole IPv6 address, e.g. [::1]:5432:5432/tcp)`);
    else current += c;
  }
  if (inBrackets) fail('unclosed "["');
  parts.push(current);
  return parts;
}

/**
 * Checks a reverse spec (from the API's JSON, or parsed) and returns a clean copy, the IPs defaulted to
 * 127.0.0.1 ("" and null count as not given). `fail` says what is wrong.
 */
export function validateReverseSpec(
  input: Partial<Record<keyof ReverseSpec, unknown>>,
  fail: (problem: string) => never = (problem) => {
    throw new UserError(`invalid reverse port spec ${JSON.stringify(input)}: ${problem}`);
  },
): ReverseSpec {
  const { proto } = input;
  if (!REVERSE_PROTOS.includes(proto as ReverseProto)) fail(`proto ${JSON.stringify(proto)} is not tcp or udp (the IPs choose IPv4 or IPv6)`);
  const ip = (field: 'childIP' | 'parentIP'): string => {
    const value = input[field];
    if (value === undefined || value === null || value === '') return DEFAULT_IP;
    if (typeof value !== 'string' || !isGoIP(value)) fail(`${field} ${JSON.stringify(value)} is not an IP address (e.g. 127.0.0.1 or ::1)`);
    return value as string;
  };
  const port = (field: 'childPort' | 'parentPort'): number => {
    const value = input[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) fail(`${field} ${JSON.stringify(value)} is not a port (allowed: 1-65535)`);
    return value as number;
  };
  return { proto: proto as ReverseProto, childIP: ip('childIP'), childPort: port('childPort'), parentIP: ip('parentIP'), parentPort: port('parentPort') };
}

/** In the grammar of parseReverseSpec, with both IPs. */
export function formatReverseSpec(spec: ReverseSpec): string {
  const ip = (address: string) => (address.includes(':') ? `[${address}]` : address);
  return `${ip(spec.childIP)}:${spec.childPort}:${ip(spec.parentIP)}:${spec.parentPort}/${spec.proto}`;
}
