/**
 * Generated bad (and a few good) requests for nsgate's REST API, each with the answer it must get.
 * Seeded, so a failure names a case that can be replayed.
 */

export interface FuzzCase {
  family: string;
  /** Written in order. */
  chunks: Buffer[];
  /**
   * After writing: keep the connection open, end our side (a client that gives up mid-request but still
   * reads), or close it at once (a client that is gone).
   */
  then: 'wait' | 'end' | 'close';
  /** The statuses of the answers, in order ([] for a client that is gone). */
  expect: number[];
}

/** mulberry32: small, seedable, good enough to pick cases. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));

function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = int(rng, 0, 255);
  return b;
}

/**
 * A complete request that asks the server to close after answering, so the exchange ends by itself.
 * A header given as '' is left out (`Host: ''` sends none).
 */
function request(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Buffer {
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
  const head = [`${method} ${path} HTTP/1.1`, 'Connection: close'];
  if (!('Host' in headers)) head.push('Host: api');
  if (body !== undefined && !('Content-Length' in headers) && !('Transfer-Encoding' in headers)) head.push(`Content-Length: ${payload.length}`);
  for (const [k, v] of Object.entries(headers)) if (v !== '') head.push(`${k}: ${v}`);
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), payload]);
}

const post = (body: Buffer | string, headers?: Record<string, string>) => request('POST', '/v1/ports', body, headers);

/** JSON values of every type, for fields that expect something else. */
const WRONG_VALUES: readonly unknown[] = [null, true, false, -1, 0.5, 1e308, '', '80', 'tcp', [], [80], {}, { a: 1 }, 'x'.repeat(300)];
const PROTOS_AND_JUNK = ['tcp', 'udp6', 'TCP', 'tcp7', 'sctp5', '', 'tcp ', 'ícmp'];
const BAD_IPS = ['1.2.3', '256.0.0.1', '::g', 'localhost', '127.0.0.1/8', ' 127.0.0.1', '[::1]', '1.2.3.4.5', '0x7f.1'];

/** A PortSpec with one thing wrong: a wrong type, a bad value, or a missing field. Every one is a 400. */
function badSpec(rng: Rng): Record<string, unknown> {
  const spec: Record<string, unknown> = { proto: 'tcp', parentIP: '127.0.0.1', parentPort: int(rng, 20000, 60000), childPort: 80 };
  const field = pick(rng, ['proto', 'parentIP', 'parentPort', 'childPort', 'childIP']);
  switch (pick(rng, ['type', 'value', 'missing'])) {
    case 'type': {
      let value = pick(rng, WRONG_VALUES);
      // Go's omitempty: an empty optional field counts as absent, so it is not wrong.
      const emptyIsAbsent = field === 'parentIP' || field === 'childIP';
      if (emptyIsAbsent && (value === null || value === '' || value === false || (Array.isArray(value) && value.length === 0) || value === 0)) value = 7;
      if ((field === 'proto' && value === 'tcp') || ((field === 'parentPort' || field === 'childPort') && value === '80')) value = {};
      spec[field] = value;
      break;
    }
    case 'value':
      if (field === 'proto') spec.proto = pick(rng, PROTOS_AND_JUNK.filter((p) => p !== 'tcp' && p !== 'udp6'));
      // A parent port 0 is valid: the kernel picks a free port (nsgate's extension).
      else if (field === 'parentPort' || field === 'childPort') spec[field] = pick(rng, field === 'parentPort' ? [-1, -80, 65536, 1e6] : [0, -80, 65536, 1e6]);
      else spec[field] = pick(rng, BAD_IPS);
      break;
    default:
      delete spec[pick(rng, ['proto', 'parentPort', 'childPort'])];
  }
  return spec;
}

/** Cuts JSON text somewhere inside, or corrupts one byte of it: never valid JSON. */
function brokenJson(rng: Rng): string {
  const text = JSON.stringify({ proto: 'tcp', parentIP: '127.0.0.1', parentPort: 8080, childPort: 80, extra: [1, { a: 'b' }] });
  if (rng() < 0.5) return text.slice(0, int(rng, 1, text.length - 1));
  const at = int(rng, 0, text.length - 1);
  return `${text.slice(0, at)}${pick(rng, ['{', '}', ',', ':', '"', '\\', '\u0000', 'x'])}${text.slice(at)}`.replace(/^\{/, '{,');
}

type Family = (rng: Rng) => Omit<FuzzCase, 'family'>;

const once = (chunk: Buffer, ...expect: number[]): Omit<FuzzCase, 'family'> => ({ chunks: [chunk], then: 'wait', expect });

/** The first bytes of a request, up to somewhere before its end. */
function cutOff(rng: Rng, inHeader: boolean): Buffer {
  const full = post(JSON.stringify({ proto: 'tcp', parentPort: 8080, childPort: 80 }));
  const headEnd = full.indexOf('\r\n\r\n') + 4;
  return full.subarray(0, inHeader ? int(rng, 1, headEnd - 1) : int(rng, headEnd, full.length - 1));
}

/** Each family and what it must answer. */
export const FAMILIES: Readonly<Record<string, Family>> = {
  'not HTTP at all': (rng) => once(Buffer.concat([Buffer.from([int(rng, 0, 31)]), randomBytes(rng, int(rng, 0, 300)), Buffer.from('\r\n\r\n')]), 400),
  'broken request line or header': (rng) =>
    once(
      Buffer.from(
        pick(rng, [
          'GET /v1/info HTTP/9.9\r\n\r\n',
          'GET  HTTP/1.1\r\n\r\n',
          'GET /v1/info HTTP/1.1\r\nBad Header\r\n\r\n',
          'GET /v1/info HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n',
          'GET /v1/info HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
          'POST /v1/ports HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
          'G\u00e9T /v1/info HTTP/1.1\r\n\r\n',
          'GET /v1/\u0000info HTTP/1.1\r\n\r\n',
        ]),
        'latin1',
      ),
      400,
    ),
  'headers over 16 KiB': (rng) => once(request('GET', '/v1/info', undefined, { 'X-Pad': 'a'.repeat(int(rng, 17, 40) * 1024) }), 431),
  'invalid JSON body': (rng) => once(post(brokenJson(rng)), 400),
  'empty or blank body': (rng) => once(post(pick(rng, ['', ' ', '\n\t '])), 400),
  'JSON that is not an object': (rng) => once(post(JSON.stringify(pick(rng, WRONG_VALUES))), 400),
  'a spec with a wrong type, value or missing field': (rng) => once(post(JSON.stringify(badSpec(rng))), 400),
  'a body not valid UTF-8 or JSON': (rng) => once(post(randomBytes(rng, int(rng, 1, 2000))), 400),
  'Content-Length over 64 KiB, body never sent': (rng) => once(post('', { 'Content-Length': String(int(rng, 65537, 2 ** 40)) }), 413),
  'a body over 64 KiB actually sent': (rng) => once(post(`{"proto":"tcp","x":"${'a'.repeat(int(rng, 65, 300) * 1024)}"}`), 413),
  'a chunked body over 64 KiB': () => {
    const chunk = `${(32 * 1024).toString(16)}\r\n${' '.repeat(32 * 1024)}\r\n`;
    return once(post(`${chunk.repeat(3)}0\r\n\r\n`, { 'Transfer-Encoding': 'chunked' }), 413);
  },
  'wrong method on a known route': (rng) => {
    const [path, methods] = pick(rng, [
      ['/v1/info', ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']],
      ['/v1/ports', ['PUT', 'DELETE', 'PATCH']],
      ['/v1/ports/1', ['GET', 'POST', 'PUT']],
    ] as const);
    return once(request(pick(rng, methods), path, rng() < 0.5 ? '{}' : undefined), 405);
  },
  'unknown path': (rng) =>
    once(
      request(pick(rng, ['GET', 'POST', 'DELETE']), pick(rng, ['/', '//', '/v1', '/v1/', '/v2/info', '/v1/info/', '/v1/ports/1/2', '/V1/INFO', '/v1/ports//', `/${'x'.repeat(int(rng, 1, 4000))}`, '/v1/ports/1/x'])),
      404,
    ),
  'an id that is not a port id': (rng) =>
    once(request('DELETE', `/v1/ports/${pick(rng, ['abc', '1.5', '-1', '0x10', '1e3', '99999999999999999999', '%20', '%00', ' 1', 'NaN', 'Infinity', '١'])}`), 400),
  'an id that no port has': (rng) => once(request('DELETE', `/v1/ports/${int(rng, 100_000, 2 ** 31)}`), 400),
  'a request target that is no URL': (rng) => once(request('GET', pick(rng, ['http://[::1/v1/info', 'http://a:99999/v1/info', 'http://a b/'])), 400),
  // Host means nothing on a UNIX socket: its absence is no error (Node's own answer to it was not JSON).
  'no Host header': (rng) =>
    rng() < 0.5 ? once(request('GET', '/v1/info', undefined, { Host: '' }), 200) : once(request('POST', '/v1/ports', '{}', { Host: '' }), 400),
  'valid reads, pipelined with a bad one': () => {
    const keepAlive = (path: string) => Buffer.from(`GET ${path} HTTP/1.1\r\nHost: api\r\n\r\n`);
    return { chunks: [Buffer.concat([keepAlive('/v1/info'), keepAlive('/v1/nope'), request('GET', '/v1/ports')])], then: 'wait', expect: [200, 404, 200] };
  },
  // The server cannot know the rest will never come, until our end arrives: then it says so.
  'cut off mid-header, our side ended': (rng) => ({ chunks: [cutOff(rng, true)], then: 'end', expect: [400] }),
  'cut off mid-body, our side ended': (rng) => ({ chunks: [cutOff(rng, false)], then: 'end', expect: [400] }),
  'cut off anywhere, then gone': (rng) => ({ chunks: [cutOff(rng, rng() < 0.5)], then: 'close', expect: [] }),
};

export const FAMILY_NAMES = Object.keys(FAMILIES);

/** `count` cases, cycling through every family so each gets its share, with seeded variety inside. */
export function* fuzzCases(seed: number, count: number): Generator<FuzzCase> {
  const rng = seededRandom(seed);
  for (let i = 0; i < count; i++) {
    const family = FAMILY_NAMES[i % FAMILY_NAMES.length]!;
    yield { family, ...FAMILIES[family]!(rng) };
  }
}
