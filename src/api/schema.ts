/**
 * The JSON shapes of the REST API, declared once and used both ways: to check what a
 * client sent (or a server answered) and to write our own answers exactly as RootlessKit does.
 */
import { UserError } from '../errors.js';
import { JsonFraction } from './go-json.js';
import { validatePortRangeSpec, validatePortSpec } from '../port/spec.js';
import { PORT_STATES, PROTOS, type PortRangeSpec, type PortSpec, type PortStatus } from '../port/types.js';
import type { ReverseStatus } from '../port/reverse.js';
import { REVERSE_PROTOS, validateReverseSpec, type ReverseSpec } from '../port/reverse-spec.js';
import type { ApiInfo } from './types.js';

type FieldType =
  | 'string'
  | 'integer'
  | 'boolean'
  | { readonly oneOf: readonly string[] }
  | { readonly arrayOf: FieldType }
  /** An object of any keys, each value of this type, in the order given. */
  | { readonly recordOf: FieldType }
  | { readonly object: Schema };

/**
 * `optional` mirrors Go's `omitempty`: an optional field that is null, "", 0, false or []
 * counts as not given, and is left out of what we write.
 */
interface Field {
  readonly type: FieldType;
  readonly optional?: boolean;
}

/** Field name → field, in the order of RootlessKit's Go structs (the order it writes them). */
type Schema = Readonly<Record<string, Field>>;

const PORT_SPEC: Schema = {
  proto: { type: { oneOf: PROTOS } },
  parentIP: { type: 'string', optional: true },
  parentPort: { type: 'integer' },
  childPort: { type: 'integer' },
  childIP: { type: 'string', optional: true },
};

/** A POST /v1/ports body: a PortSpec, or with nsgate's two extra fields a range of ports. */
const PORT_RANGE_SPEC: Schema = {
  ...PORT_SPEC,
  parentPortEnd: { type: 'integer', optional: true },
  childPortEnd: { type: 'integer', optional: true },
};

const PORT_STATUS: Schema = {
  id: { type: 'integer' },
  spec: { type: { object: PORT_SPEC } },
  state: { type: { oneOf: PORT_STATES }, optional: true },
  stats: { type: { recordOf: 'integer' }, optional: true },
};

const REVERSE_SPEC: Schema = {
  proto: { type: { oneOf: REVERSE_PROTOS } },
  childIP: { type: 'string', optional: true },
  childPort: { type: 'integer' },
  parentIP: { type: 'string', optional: true },
  parentPort: { type: 'integer' },
};

const REVERSE_STATUS: Schema = {
  id: { type: 'integer' },
  spec: { type: { object: REVERSE_SPEC } },
  stats: { type: { recordOf: 'integer' }, optional: true },
};

const API_INFO: Schema = {
  apiVersion: { type: 'string' },
  version: { type: 'string' },
  stateDir: { type: 'string' },
  childPID: { type: 'integer' },
  networkDriver: {
    optional: true,
    type: {
      object: {
        driver: { type: 'string' },
        dns: { type: { arrayOf: 'string' }, optional: true },
        childIP: { type: 'string', optional: true },
        dynamicChildIP: { type: 'boolean', optional: true },
      },
    },
  },
  portDriver: {
    optional: true,
    type: {
      object: {
        driver: { type: 'string' },
        protos: { type: { arrayOf: { oneOf: PROTOS } } },
        disallowLoopbackChildIP: { type: 'boolean', optional: true },
      },
    },
  },
};

/** A short description of a JSON value for error messages. */
function describe(value: unknown): string {
  if (value instanceof JsonFraction) return value.literal;
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function typeError(path: string, expected: string, value: unknown): UserError {
  return new UserError(`${path || 'body'}: expected ${expected}, got ${describe(value)}`);
}

function isEmpty(value: unknown): boolean {
  return value === null || value === '' || value === 0 || value === false || (Array.isArray(value) && value.length === 0);
}

function conformValue(value: unknown, type: FieldType, path: string): unknown {
  if (type === 'string' || type === 'boolean') {
    if (typeof value !== type) throw typeError(path, `a ${type}`, value);
    return value;
  }
  if (type === 'integer') {
    if (!Number.isSafeInteger(value)) throw typeError(path, 'an integer', value);
    return value;
  }
  if ('oneOf' in type) {
    if (typeof value !== 'string' || !type.oneOf.includes(value)) {
      throw typeError(path, `one of ${type.oneOf.join(', ')}`, value);
    }
    return value;
  }
  if ('recordOf' in type) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof JsonFraction) throw typeError(path, 'a JSON object', value);
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, conformValue(item, type.recordOf, `${path}.${key}`)]));
  }
  if ('arrayOf' in type) {
    if (!Array.isArray(value)) throw typeError(path, 'an array', value);
    return value.map((item, i) => conformValue(item, type.arrayOf, `${path}[${i}]`));
  }
  return conformObject(value, type.object, path);
}

/**
 * Checks `value` against `schema` and returns a copy holding only the schema's fields, in schema order,
 * without empty optional ones. As Go's decoder: unknown keys are ignored, a key names a field whatever
 * its case ("Proto"), a later key for a field wins over an earlier one, and null leaves a field as it was.
 */
function conformObject(value: unknown, schema: Schema, path: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof JsonFraction) {
    throw typeError(path, 'a JSON object', value);
  }
  const names = new Map(Object.keys(schema).map((name) => [goFold(name), name]));
  const given = new Map<string, unknown>();
  for (const [key, fieldValue] of Object.entries(value)) {
    const name = names.get(goFold(key));
    if (name !== undefined && fieldValue !== null) given.set(name, fieldValue);
  }
  const output: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(schema)) {
    const fieldPath = path ? `${path}.${name}` : name;
    const fieldValue = given.get(name);
    if (fieldValue === undefined || (field.optional && isEmpty(fieldValue))) {
      if (!field.optional) throw new UserError(`${fieldPath}: required field is missing`);
      continue;
    }
    output[name] = conformValue(fieldValue, field.type, fieldPath);
  }
  return output;
}

/** A JSON key as Go's decoder matches it to a field name: ASCII case folded, and the two other runes that fold to ASCII letters. */
function goFold(key: string): string {
  return key.replace(/[a-z\u017f\u212a]/g, (c) => (c === '\u017f' ? 'S' : c === '\u212a' ? 'K' : c.toUpperCase()));
}

/** A `POST /v1/ports` body → a checked PortSpec (UserError naming the field otherwise). */
export function decodePortSpec(body: unknown): PortSpec {
  return validatePortSpec(conformObject(body, PORT_SPEC, '') as unknown as PortSpec);
}

/** A `POST /v1/ports` body that may be a range (`parentPortEnd`, `childPortEnd`) → a checked spec. */
export function decodePortRangeSpec(body: unknown): PortRangeSpec {
  return validatePortRangeSpec(conformObject(body, PORT_RANGE_SPEC, '') as unknown as PortRangeSpec);
}

/** Type-checks and canonicalizes a `{id, spec}` (a server's answer, or ours before sending it). */
export function conformPortStatus(value: unknown): PortStatus {
  return conformObject(value, PORT_STATUS, '') as unknown as PortStatus;
}

/** A `POST /v1/reverse-ports` body → a checked ReverseSpec, IPs defaulted. */
export function decodeReverseSpec(body: unknown): ReverseSpec {
  return validateReverseSpec(conformObject(body, REVERSE_SPEC, ''));
}

/** Type-checks and canonicalizes a `{id, spec, stats}` of /v1/reverse-ports. */
export function conformReverseStatus(value: unknown): ReverseStatus {
  return conformObject(value, REVERSE_STATUS, '') as unknown as ReverseStatus;
}

/** Type-checks and canonicalizes `GET /v1/info`. */
export function conformApiInfo(value: unknown): ApiInfo {
  return conformObject(value, API_INFO, '') as unknown as ApiInfo;
}

/** Go's HTML-safe escaping, which json.Marshal applies and JSON.stringify does not. */
const GO_ESCAPES: Readonly<Record<string, string>> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** JSON text byte-identical to Go's json.Marshal (or MarshalIndent with `indent`) for these shapes. */
export function toGoJSON(value: unknown, indent?: string): string {
  return JSON.stringify(value, null, indent).replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c]);
}
