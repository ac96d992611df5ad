/**
 * A request body read the way RootlessKit's Go server reads one (json.NewDecoder(body).Decode), where it
 * differs from JSON.parse in ways a client can see: only the first JSON value counts (what follows it is
 * ignored), a number written with a fraction or an exponent (8080.0, 8e3) fits no integer field, and a null
 * leaves a field as it was.
 */

/** A number whose literal has a fraction or an exponent: Go decodes it into no integer field. */
export class JsonFraction {
  constructor(readonly literal: string) {}
}

/** Go's limit on nesting (encoding/json's maxNestingDepth); it also keeps this parser's stack small. */
const MAX_DEPTH = 10_000;

/** One token: punctuation, or a whole scalar (string, number, true, false, null). */
const TOKEN =
  /[ \t\n\r]*(?:([{}[\],:])|("(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")|(-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)|(true|false|null))/y;

type Token = { punct: string } | { scalar: unknown };
type Container = Record<string, unknown> | unknown[];

/**
 * The first JSON value of `text`. Objects hold each key's last non-null value (a null for a key given
 * before keeps that one), with the key placed where it last appeared, so that reading the keys in order
 * and letting later ones win (as Go does for keys that differ only in case) gives Go's result.
 * Throws a SyntaxError saying where the text stops being JSON.
 */
export function decodeFirstJsonValue(text: string): unknown {
  let pos = 0;
  /** Where the last token read starts. */
  let at = 0;
  const read = (): Token => {
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(text);
    if (!m) {
      const rest = text.slice(pos).trimStart();
      throw new SyntaxError(rest === '' ? 'unexpected end of JSON input' : `unexpected ${JSON.stringify(rest.slice(0, 20))} at offset ${text.length - rest.length}`);
    }
    at = pos + m[0].length - m[0].trimStart().length;
    pos = TOKEN.lastIndex;
    const [, punct, string, number, fraction, exponent, literal] = m;
    if (punct !== undefined) return { punct };
    if (string !== undefined) return { scalar: JSON.parse(string) as string };
    if (number !== undefined) return { scalar: fraction || exponent ? new JsonFraction(number) : Number(number) };
    return { scalar: literal === 'null' ? null : literal === 'true' };
  };
  const unexpected = (token: Token, expected: string): SyntaxError =>
    new SyntaxError(`expected ${expected} at offset ${at}, got ${'punct' in token ? JSON.stringify(token.punct) : 'a value'}`);
  const key = (token: Token): string => {
    if (!('scalar' in token) || typeof token.scalar !== 'string') throw unexpected(token, 'an object key (a string)');
    const colon = read();
    if (!('punct' in colon) || colon.punct !== ':') throw unexpected(colon, '":"');
    return token.scalar;
  };
  const stack: { target: Container; key: string }[] = [];
  let token = read();
  for (;;) {
    let value: unknown;
    if ('punct' in token && (token.punct === '{' || token.punct === '[')) {
      if (stack.length >= MAX_DEPTH) throw new SyntaxError(`nested deeper than ${MAX_DEPTH} levels`);
      const target: Container = token.punct === '{' ? {} : [];
      token = read();
      if (!('punct' in token && token.punct === closing(target))) {
        // The token read is the first key of an object, or the first value of an array.
        stack.push({ target, key: Array.isArray(target) ? '' : key(token) });
        if (!Array.isArray(target)) token = read();
        continue;
      }
      value = target;
    } else if ('scalar' in token) {
      value = token.scalar;
    } else {
      throw unexpected(token, 'a value');
    }
    // A value is complete: store it, then close every container that ends here.
    for (;;) {
      const top = stack.at(-1);
      if (!top) return value;
      store(top.target, top.key, value);
      token = read();
      if ('punct' in token && token.punct === ',') {
        if (!Array.isArray(top.target)) top.key = key(read());
        token = read();
        break;
      }
      if (!('punct' in token) || token.punct !== closing(top.target)) throw unexpected(token, `"," or "${closing(top.target)}"`);
      stack.pop();
      value = top.target;
    }
  }
}

function closing(target: Container): string {
  return Array.isArray(target) ? ']' : '}';
}

/** Puts a value in its container; see decodeFirstJsonValue for how a key given twice is kept. */
function store(target: Container, key: string, value: unknown): void {
  if (Array.isArray(target)) {
    target.push(value);
    return;
  }
  if (Object.hasOwn(target, key)) {
    if (value === null) return;
    delete target[key];
  }
  // Not an assignment: "__proto__" is an ordinary key here, as in JSON.parse.
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
