import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../src/api/server.js';
import { API_VERSION, type ApiInfo } from '../../src/api/types.js';
import type { PortService } from '../../src/port/types.js';
import { UserError } from '../../src/errors.js';
import type { PortRangeSpec, PortSpec, PortStats, PortStatus } from '../../src/port/types.js';
import { expandPortRange } from '../../src/port/spec.js';
import { describePeer, NO_PEER, referencePeer } from '../e2e/peers.js';

/** The reference RootlessKit's rootlessctl (test/e2e/peers.ts). */
const PEER = referencePeer();

/** An in-memory port service with RootlessKit's messages; `failure` makes the next call throw it. */
class FakePorts implements PortService {
  private readonly ports = new Map<number, PortSpec>();
  private nextId = 1;
  failure: Error | undefined;

  list(): PortStatus[] {
    this.throwFailure();
    return [...this.ports].map(([id, spec]) => ({ id, spec }));
  }

  async add(spec: PortSpec): Promise<PortStatus> {
    this.throwFailure();
    for (const [id, other] of this.ports) {
      if (other.proto === spec.proto && other.parentIP === spec.parentIP && other.parentPort === spec.parentPort) {
        throw new UserError(`conflict with ID ${id}`);
      }
    }
    const id = this.nextId++;
    this.ports.set(id, spec);
    return { id, spec };
  }

  async remove(id: number): Promise<void> {
    this.throwFailure();
    if (!this.ports.delete(id)) throw new UserError(`unknown id: ${id}`);
  }

  private throwFailure(): void {
    const failure = this.failure;
    this.failure = undefined;
    if (failure) throw failure;
  }
}

const INFO: ApiInfo = {
  apiVersion: API_VERSION,
  version: '0.1.0',
  stateDir: '/run/user/1000/nsgate',
  childPID: 4242,
  // dns [] and dynamicChildIP false are Go zero values: they must not be sent.
  networkDriver: { driver: 'slirp4netns', dns: [], childIP: '10.0.2.100', dynamicChildIP: false },
  portDriver: { driver: 'builtin', protos: ['tcp', 'tcp4', 'tcp6', 'udp', 'udp4', 'udp6'] },
};

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(socketPath: string, method: string, path: string, body?: string | Buffer, headers: http.OutgoingHttpHeaders = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Writes `data` on a raw connection and returns everything the server sends until it closes. */
function rawExchange(socketPath: string, data: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath, () => socket.write(data));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
}

/** One raw HTTP/1.1 answer (headers and body) as an Answer. */
function parseRaw(text: string): Answer {
  const [head = '', body = ''] = text.split('\r\n\r\n', 2);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

function assertJsonError(answer: Answer, status: number, message: string | RegExp): void {
  assert.equal(answer.status, status, answer.body);
  assert.equal(answer.headers['content-type'], 'application/json');
  assert.ok(answer.body.endsWith('}\n'), 'error bodies end with a newline, like Go’s json.Encoder');
  const parsed = JSON.parse(answer.body) as { message: string };
  assert.deepEqual(Object.keys(parsed), ['message']);
  if (typeof message === 'string') assert.equal(parsed.message, message);
  else assert.match(parsed.message, message);
}

async function withServer(opts: Omit<ApiServerOptions, 'socketPath'>, fn: (socketPath: string, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nsgate-api-test-'));
  const socketPath = join(dir, 'api.sock');
  const server = await startApiServer({ socketPath, ...opts });
  try {
    await fn(socketPath, dir);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('API server with a port service', () => {
  let dir: string;
  let socketPath: string;
  let server: ApiServer;
  let ports: FakePorts;
  const call = (method: string, path: string, body?: string | Buffer, headers?: http.OutgoingHttpHeaders): Promise<Answer> =>
    request(socketPath, method, path, body, headers);
  const add = (spec: object): Promise<Answer> => call('POST', '/v1/ports', JSON.stringify(spec));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nsgate-api-test-'));
    socketPath = join(dir, 'api.sock');
    ports = new FakePorts();
    server = await startApiServer({ socketPath, info: () => INFO, ports });
  });
  afterEach(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('the socket is mode 0600 and alone in its directory; close removes it', async () => {
    const info = await stat(socketPath);
    assert.ok(info.isSocket());
    assert.equal(info.mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ['api.sock']);
    await server.close();
    assert.deepEqual(await readdir(dir), []);
  });

  test('GET /v1/info: 200, JSON in RootlessKit’s field order, empty optional fields absent', async () => {
    const answer = await call('GET', '/v1/info');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'application/json');
    assert.equal(
      answer.body,
      '{"apiVersion":"1.1.1","version":"0.1.0","stateDir":"/run/user/1000/nsgate","childPID":4242,' +
        '"networkDriver":{"driver":"slirp4netns","childIP":"10.0.2.100"},' +
        '"portDriver":{"driver":"builtin","protos":["tcp","tcp4","tcp6","udp","udp4","udp6"]}}',
    );
  });

  test('the host and the query are ignored, absolute-form targets work', async () => {
    assert.equal((await call('GET', '/v1/info?verbose=1', undefined, { Host: 'anything' })).status, 200);
    const raw = await rawExchange(socketPath, 'GET http://rootlesskit/v1/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
  });

  test('GET /v1/ports: 200 with [] when empty', async () => {
    const answer = await call('GET', '/v1/ports');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'application/json');
    assert.equal(answer.body, '[]');
  });

  test('POST /v1/ports: 201 {id, spec}, fields in Go order, optional fields absent; then listed', async () => {
    const first = await add({ childIP: '::1', childPort: 80, parentPort: 8080, parentIP: '127.0.0.1', proto: 'tcp' });
    assert.equal(first.status, 201);
    assert.equal(first.headers['content-type'], 'application/json');
    assert.equal(first.body, '{"id":1,"spec":{"proto":"tcp","parentIP":"127.0.0.1","parentPort":8080,"childPort":80,"childIP":"::1"}}');
    // Unknown fields are ignored and null / "" count as not given, as with Go's decoder.
    const second = await add({ proto: 'udp', parentPort: 5353, childPort: 53, parentIP: '', childIP: null, counters: { rx: 1 } });
    assert.equal(second.status, 201);
    assert.equal(second.body, '{"id":2,"spec":{"proto":"udp","parentPort":5353,"childPort":53}}');
    const list = await call('GET', '/v1/ports');
    assert.equal(list.status, 200);
    assert.equal(list.body, `[${first.body},${second.body}]`);
  });

  test('POST /v1/ports: a UserError from the service is a 400 with its message', async () => {
    await add({ proto: 'tcp', parentPort: 8080, childPort: 80 });
    assertJsonError(await add({ proto: 'tcp', parentPort: 8080, childPort: 81 }), 400, 'conflict with ID 1');
  });

  test('POST /v1/ports: wrong JSON types and unknown protos are 400s naming the field', async () => {
    const cases: [object, string | RegExp][] = [
      [{ proto: 'tcp', parentPort: '80', childPort: 80 }, 'parentPort: expected an integer, got "80"'],
      [{ proto: 'tcp', parentPort: 80.5, childPort: 80 }, 'parentPort: expected an integer, got 80.5'],
      [{ proto: 'tcp', parentPort: 8080, childPort: true }, 'childPort: expected an integer, got true'],
      [{ proto: 'tcp', parentPort: 8080, childPort: 80, parentIP: 127 }, 'parentIP: expected a string, got 127'],
      [{ proto: 'tcp', parentPort: 8080, childPort: 80, childIP: ['::1'] }, 'childIP: expected a string, got an array'],
      [{ proto: 'foo', parentPort: 8080, childPort: 80 }, /^proto: expected one of tcp, tcp4, tcp6, udp, udp4, udp6, sctp, sctp4, sctp6, got "foo"$/],
      [{ proto: 'tcp', parentPort: 8080 }, 'childPort: required field is missing'],
      [{ proto: 'tcp', parentPort: 70000, childPort: 80 }, /parentPort/],
      [{ proto: 'tcp6', parentIP: '127.0.0.1', parentPort: 8080, childPort: 80 }, /parentIP/],
    ];
    for (const [spec, message] of cases) assertJsonError(await add(spec), 400, message);
    assert.equal((await call('GET', '/v1/ports')).body, '[]');
  });

  // Each body as RootlessKit v2.3.4's server answered it (seen live: the same bodies POSTed to its builtin driver).
  test("POST /v1/ports: bodies read as RootlessKit's Go decoder reads them", async () => {
    const cases: [string, string][] = [
      // Keys match fields whatever their case; the spec comes back with the usual names.
      ['{"Proto":"tcp","ParentIP":"127.0.0.1","PARENTPORT":8001,"childport":80}', '{"id":1,"spec":{"proto":"tcp","parentIP":"127.0.0.1","parentPort":8001,"childPort":80}}'],
      // Only the first JSON value counts.
      ['{"proto":"tcp","parentPort":8002,"childPort":80} trailing garbage', '{"id":2,"spec":{"proto":"tcp","parentPort":8002,"childPort":80}}'],
      ['{"proto":"tcp","parentPort":8003,"childPort":80}{"x":', '{"id":3,"spec":{"proto":"tcp","parentPort":8003,"childPort":80}}'],
      // A later key for a field wins, whatever its case; null leaves a field as it was.
      ['{"proto":"udp","PROTO":"tcp","parentPort":8004,"childPort":80}', '{"id":4,"spec":{"proto":"tcp","parentPort":8004,"childPort":80}}'],
      ['{"proto":"tcp","parentPort":8005,"childPort":80,"proto":null}', '{"id":5,"spec":{"proto":"tcp","parentPort":8005,"childPort":80}}'],
      ['{"pro\\u0074o":"tcp","parentPort":8006,"childPort":80,"extra":1.5e400}', '{"id":6,"spec":{"proto":"tcp","parentPort":8006,"childPort":80}}'],
      // A fraction or an exponent fits no integer field, even when the value is whole.
      ['{"proto":"tcp","parentPort":8007.0,"childPort":80}', 'parentPort: expected an integer, got 8007.0'],
      ['{"proto":"tcp","parentPort":8008,"childPort":8e1}', 'childPort: expected an integer, got 8e1'],
      ['{"proto":8e1,"parentPort":8009,"childPort":80}', 'proto: expected one of tcp, tcp4, tcp6, udp, udp4, udp6, sctp, sctp4, sctp6, got 8e1'],
      ['{"proto":null,"parentPort":8010,"childPort":80}', 'proto: required field is missing'],
    ];
    for (const [body, expected] of cases) {
      const answer = await call('POST', '/v1/ports', body);
      if (expected.startsWith('{"id"')) assert.deepEqual([answer.status, answer.body], [201, expected], body);
      else assertJsonError(answer, 400, expected);
    }
  });

  test('POST /v1/ports: invalid JSON, an empty body or a non-object is a 400', async () => {
    assertJsonError(await call('POST', '/v1/ports', '{bad'), 400, /^invalid JSON in request body: /);
    assertJsonError(await call('POST', '/v1/ports', '{"proto":"tcp","parentPort":8080 "childPort":80}'), 400, 'invalid JSON in request body: expected "," or "}" at offset 33, got a value');
    assertJsonError(await call('POST', '/v1/ports', ''), 400, /^empty request body/);
    assertJsonError(await call('POST', '/v1/ports', '[]'), 400, 'body: expected a JSON object, got an array');
    assertJsonError(await call('POST', '/v1/ports', 'null'), 400, 'body: expected a JSON object, got null');
  });

  test('POST /v1/ports: a 100 KiB body is a 413, with or without Content-Length, and the server goes on', async () => {
    const big = Buffer.alloc(100 * 1024, ' ');
    assertJsonError(await call('POST', '/v1/ports', big), 413, /too large/);
    assertJsonError(await call('POST', '/v1/ports', big, { 'Transfer-Encoding': 'chunked' }), 413, /too large/);
    assert.equal((await add({ proto: 'tcp', parentPort: 8080, childPort: 80 })).status, 201);
  });

  test('DELETE /v1/ports/{id}: 200 with no body and no Content-Type, like RootlessKit', async () => {
    await add({ proto: 'tcp', parentPort: 8080, childPort: 80 });
    const answer = await call('DELETE', '/v1/ports/1');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], undefined);
    assert.equal(answer.headers['content-length'], '0');
    assert.equal(answer.body, '');
    assert.equal((await call('GET', '/v1/ports')).body, '[]');
  });

  test('DELETE /v1/ports/{id}: an unknown or non-numeric id is a 400', async () => {
    assertJsonError(await call('DELETE', '/v1/ports/1'), 400, 'unknown id: 1');
    assertJsonError(await call('DELETE', '/v1/ports/abc'), 400, /^bad id "abc"/);
    assertJsonError(await call('DELETE', '/v1/ports/-1'), 400, /^bad id "-1"/);
    assertJsonError(await call('DELETE', '/v1/ports/99999999999999999999'), 400, /^bad id/);
  });

  test('unknown routes are 404s', async () => {
    for (const path of ['/', '/v1', '/v1/nope', '/v1/info/', '/v1/ports/', '/v1/ports/1/x', '/v2/info', '//v1/info']) {
      assertJsonError(await call('GET', path), 404, `not found: ${path}`);
    }
  });

  test('a wrong method on a known route is a 405 with an Allow header', async () => {
    const cases: [string, string, string][] = [
      ['PUT', '/v1/ports', 'GET, POST'],
      ['POST', '/v1/info', 'GET'],
      ['HEAD', '/v1/info', 'GET'],
      ['GET', '/v1/ports/1', 'DELETE'],
    ];
    for (const [method, path, allow] of cases) {
      const answer = await call(method, path);
      assert.equal(answer.status, 405, `${method} ${path}`);
      assert.equal(answer.headers['allow'], allow);
      if (method !== 'HEAD') assertJsonError(answer, 405, new RegExp(`^method ${method} not allowed`));
    }
  });

  test('unexpected errors are 500s with the message, and the server stays up', async () => {
    ports.failure = new Error('driver exploded');
    assertJsonError(await call('GET', '/v1/ports'), 500, 'driver exploded');
    ports.failure = new Error('boom');
    assertJsonError(await add({ proto: 'tcp', parentPort: 8080, childPort: 80 }), 500, 'boom');
    assert.equal((await call('GET', '/v1/ports')).status, 200);
  });

  test('malformed HTTP gets a JSON 400 and the connection closed; the server stays up', async () => {
    for (const garbage of ['HELLO\r\n\r\n', 'GET /v1/info HTTP/9.9\r\n\r\n', 'GET /v1/info HTTP/1.1\r\nBad Header\r\n\r\n', '\x00\x01\x02\r\n\r\n']) {
      assertJsonError(parseRaw(await rawExchange(socketPath, garbage)), 400, /^malformed HTTP request: Parse Error: /);
    }
    assert.equal((await call('GET', '/v1/info')).status, 200);
  });

  test('headers over 16 KiB get a JSON 431', async () => {
    const answer = await rawExchange(socketPath, `GET /v1/info HTTP/1.1\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`);
    assertJsonError(parseRaw(answer), 431, /request headers too large/);
  });

  test('a client that sends half a request is dropped with a JSON 408', { timeout: 15_000 }, async () => {
    const started = Date.now();
    const answer = await rawExchange(socketPath, 'GET /v1/info HTTP/1.1\r\nHost: x\r\n');
    assertJsonError(parseRaw(answer), 408, /request timed out/);
    assert.ok(Date.now() - started < 8_000);
  });

  test('a client still writing a 1 MiB body reads its 413, and one that declares 1 TiB gets it within 2 s', async () => {
    const body = Buffer.alloc(1024 * 1024 - 100, ' ');
    const big = await rawExchange(socketPath, Buffer.concat([Buffer.from(`POST /v1/ports HTTP/1.1\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
    assertJsonError(parseRaw(big), 413, /too large/);
    const started = Date.now();
    const declared = await rawExchange(socketPath, `POST /v1/ports HTTP/1.1\r\nContent-Length: ${2 ** 40}\r\n\r\n{`);
    assertJsonError(parseRaw(declared), 413, /too large/);
    assert.ok(Date.now() - started < 2_000);
  });
});

describe('API server without a port driver', () => {
  test('every ports route answers 400 with RootlessKit’s message; info still works', async () => {
    await withServer({ info: () => ({ ...INFO, portDriver: undefined }), ports: null }, async (socketPath) => {
      const info = await request(socketPath, 'GET', '/v1/info');
      assert.equal(info.status, 200);
      assert.equal('portDriver' in JSON.parse(info.body), false);
      assertJsonError(await request(socketPath, 'GET', '/v1/ports'), 400, 'no PortDriver is available');
      assertJsonError(await request(socketPath, 'POST', '/v1/ports', '{}'), 400, 'no PortDriver is available');
      assertJsonError(await request(socketPath, 'DELETE', '/v1/ports/1'), 400, 'no PortDriver is available');
      assert.equal((await request(socketPath, 'PUT', '/v1/ports')).status, 405);
    });
  });

  test('noPortsMessage replaces the message', async () => {
    await withServer({ info: () => INFO, ports: null, noPortsMessage: 'no port driver (--port-driver=none)' }, async (socketPath) => {
      assertJsonError(await request(socketPath, 'GET', '/v1/ports'), 400, 'no port driver (--port-driver=none)');
    });
  });
});

describe('the real rootlessctl against our server', { skip: PEER ? false : NO_PEER }, () => {
  const rootlessctl = async (socketPath: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await promisify(execFile)(PEER!.rootlessctl, ['--socket', socketPath, ...args]);
      return { code: 0, stdout, stderr };
    } catch (err) {
      const { code, stdout, stderr } = err as { code: number; stdout: string; stderr: string };
      return { code, stdout, stderr };
    }
  };

  test('add-ports, list-ports, remove-ports, info, and errors', async (t) => {
    t.diagnostic(`rootlessctl of ${describePeer(PEER!)}`);
    await withServer({ info: () => INFO, ports: new FakePorts() }, async (socketPath) => {
      const run = (...args: string[]) => rootlessctl(socketPath, ...args);
      assert.deepEqual(await run('add-ports', '127.0.0.1:8080:80/tcp', '[::1]:8443:[::1]:443/tcp6'), { code: 0, stdout: '1\n2\n', stderr: '' });
      assert.deepEqual(await run('add-ports', '--json', ':5353:10.0.2.100:53/udp'), {
        code: 0,
        stdout: '{"id":3,"spec":{"proto":"udp","parentPort":5353,"childPort":53,"childIP":"10.0.2.100"}}\n',
        stderr: '',
      });
      assert.deepEqual(await run('list-ports'), {
        code: 0,
        stdout:
          'ID    PROTO    PARENTIP     PARENTPORT    CHILDIP       CHILDPORT    \n' +
          '1     tcp      127.0.0.1    8080                        80           \n' +
          '2     tcp6     ::1          8443          ::1           443          \n' +
          '3     udp                   5353          10.0.2.100    53           \n',
        stderr: '',
      });
      assert.equal(
        (await run('list-ports', '--json')).stdout,
        '{"id":1,"spec":{"proto":"tcp","parentIP":"127.0.0.1","parentPort":8080,"childPort":80}}\n' +
          '{"id":2,"spec":{"proto":"tcp6","parentIP":"::1","parentPort":8443,"childPort":443,"childIP":"::1"}}\n' +
          '{"id":3,"spec":{"proto":"udp","parentPort":5353,"childPort":53,"childIP":"10.0.2.100"}}\n',
      );
      assert.deepEqual(await run('add-ports', '127.0.0.1:8080:81/tcp'), { code: 1, stdout: '', stderr: 'error: conflict with ID 1\n' });
      assert.deepEqual(await run('remove-ports', '1', '9'), { code: 1, stdout: '1\n', stderr: 'error: unknown id: 9\n' });
      assert.deepEqual(await run('remove-ports', '2', '3'), { code: 0, stdout: '2\n3\n', stderr: '' });
      assert.equal((await run('list-ports')).stdout, 'ID    PROTO    PARENTIP    PARENTPORT    CHILDIP    CHILDPORT    \n');
      assert.deepEqual(await run('info'), {
        code: 0,
        stdout:
          '- REST API version: 1.1.1\n- Implementation version: 0.1.0\n- State Directory: /run/user/1000/nsgate\n' +
          '- Child PID: 4242\n- Network Driver: slirp4netns\n  - DNS: []\n  - IP: 10.0.2.100\n' +
          '- Port Driver: builtin\n  - Supported protocols: [tcp tcp4 tcp6 udp udp4 udp6]\n',
        stderr: '',
      });
      const infoJson = await run('info', '--json');
      assert.equal(infoJson.code, 0);
      assert.equal(infoJson.stdout, `${JSON.stringify(JSON.parse((await request(socketPath, 'GET', '/v1/info')).body), null, 4)}\n`);
    });
  });

  test('without a port driver it reports the server’s message', async () => {
    await withServer({ info: () => INFO, ports: null }, async (socketPath) => {
      assert.deepEqual(await rootlessctl(socketPath, 'list-ports'), { code: 1, stdout: '', stderr: 'error: no PortDriver is available\n' });
    });
  });
});

describe("API server: nsgate's ranges, stats, reverse ports and /metrics", () => {
  /** FakePorts with ranges (one entry per port) and fixed stats. */
  class RangePorts extends FakePorts {
    async addRange(spec: PortRangeSpec): Promise<PortStatus[]> {
      return Promise.all(expandPortRange(spec).map((port) => this.add(port)));
    }
    async stats(): Promise<Map<number, PortStats>> {
      return new Map(this.list().map(({ id }) => [id, { connections: id, active: 0, bytesToChild: 10 * id, bytesFromChild: 0, refused: 0 }]));
    }
  }

  test('POST with parentPortEnd/childPortEnd: 201 with an array of entries; without: the single object', async () => {
    await withServer({ info: () => INFO, ports: new RangePorts() }, async (socketPath) => {
      const range = await request(socketPath, 'POST', '/v1/ports', JSON.stringify({ proto: 'tcp', parentPort: 8000, parentPortEnd: 8002, childPort: 80, childPortEnd: 82 }));
      assert.equal(range.status, 201, range.body);
      assert.equal(range.body, '[{"id":1,"spec":{"proto":"tcp","parentPort":8000,"childPort":80}},{"id":2,"spec":{"proto":"tcp","parentPort":8001,"childPort":81}},{"id":3,"spec":{"proto":"tcp","parentPort":8002,"childPort":82}}]');
      const one = await request(socketPath, 'POST', '/v1/ports', JSON.stringify({ proto: 'tcp', parentPort: 9000, parentPortEnd: 0, childPort: 90 }));
      assert.equal(one.body, '{"id":4,"spec":{"proto":"tcp","parentPort":9000,"childPort":90}}');
      assertJsonError(
        await request(socketPath, 'POST', '/v1/ports', JSON.stringify({ proto: 'tcp', parentPort: 8000, parentPortEnd: 8009, childPort: 80 })),
        400,
        /the parent side is 10 ports \(8000-8009\) but the child side is one port \(80\)/,
      );
      const list = await request(socketPath, 'GET', '/v1/ports');
      assert.match(list.body, /^\[\{"id":1,"spec":\{[^}]*\},"stats":\{"connections":1,"active":0,"bytesToChild":10,"bytesFromChild":0,"refused":0\}\},/);
    });
  });

  test('a port service without ranges refuses them, saying how to send the ports', async () => {
    await withServer({ info: () => INFO, ports: new FakePorts() }, async (socketPath) => {
      const answer = await request(socketPath, 'POST', '/v1/ports', JSON.stringify({ proto: 'tcp', parentPort: 8000, parentPortEnd: 8001, childPort: 80, childPortEnd: 81 }));
      assertJsonError(answer, 400, 'this port service takes one port per request: send it without parentPortEnd and childPortEnd');
    });
  });

  test('GET /metrics: the Prometheus text format with the ports and the process', async () => {
    await withServer({ info: () => ({ ...INFO, childPID: process.pid }), ports: new RangePorts() }, async (socketPath) => {
      await request(socketPath, 'POST', '/v1/ports', JSON.stringify({ proto: 'tcp', parentIP: '127.0.0.1', parentPort: 8080, childPort: 80 }));
      const answer = await request(socketPath, 'GET', '/metrics');
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
      assert.match(answer.body, /^nsgate_port_connections_total\{id="1",proto="tcp",parent="127\.0\.0\.1:8080",child=":80"\} 1$/m);
      assert.match(answer.body, /^nsgate_process_open_fds\{process="parent"\} \d+$/m);
      assert.match(answer.body, /^nsgate_reverse_ports 0$/m);
    });
  });

  test('reverse-port routes without a reverse service answer 400 with the reason given', async () => {
    await withServer({ info: () => INFO, ports: null, noReverseMessage: 'reverse ports need --port-driver=builtin' }, async (socketPath) => {
      assertJsonError(await request(socketPath, 'GET', '/v1/reverse-ports'), 400, 'reverse ports need --port-driver=builtin');
      assertJsonError(await request(socketPath, 'POST', '/v1/reverse-ports', '{"proto":"tcp","childPort":1,"parentPort":2}'), 400, 'reverse ports need --port-driver=builtin');
      assertJsonError(await request(socketPath, 'DELETE', '/v1/reverse-ports/1'), 400, 'reverse ports need --port-driver=builtin');
      assert.equal((await request(socketPath, 'GET', '/metrics')).status, 200, '/metrics works without ports');
    });
  });
});
