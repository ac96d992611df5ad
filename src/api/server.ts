/** The REST API on `api.sock`, answering like RootlessKit 1.1.x (README.md, "Compatibility with RootlessKit v2.3.4"). */
import { chmod, mkdtemp, rename, rm } from 'node:fs/promises';
import http, { STATUS_CODES, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { UserError, errorMessage } from '../errors.js';
import { decodeFirstJsonValue } from './go-json.js';
import { formatMetrics, METRICS_CONTENT_TYPE } from './metrics.js';
import { conformApiInfo, conformPortStatus, conformReverseStatus, decodePortRangeSpec, decodePortSpec, decodeReverseSpec, toGoJSON } from './schema.js';
import { parsePortId } from '../port/spec.js';
import type { ReverseStatus } from '../port/reverse.js';
import type { PortService, PortStatus } from '../port/types.js';
import type { ApiInfo, ReverseService } from './types.js';

export interface ApiServerOptions {
  socketPath: string;
  info: () => ApiInfo;
  /** null when there is no port driver: every ports route then answers 400 with `noPortsMessage`. */
  ports: PortService | null;
  noPortsMessage?: string;
  /** null when reverse ports cannot be served: their routes then answer 400 with `noReverseMessage`. */
  reverse?: ReverseService | null;
  noReverseMessage?: string;
}

export interface ApiServer {
  /** Stop listening, drop open connections and remove the socket file. */
  close(): Promise<void>;
}

/** RootlessKit's own words for a missing port driver. */
const NO_PORTS_MESSAGE = 'no PortDriver is available';
const NO_REVERSE_MESSAGE = 'reverse ports are not available here';
const MAX_BODY_BYTES = 64 * 1024;
/** How much of an oversized body is read and dropped before the 413 (so the client sees it), and for how long. */
const DRAIN_MAX_BYTES = 1024 * 1024;
const DRAIN_MAX_MS = 1_000;
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;

/** An answer other than 400/500, or a 400 with a message of our own. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: OutgoingHttpHeaders = {},
  ) {
    super(message);
  }
}

interface Reply {
  status: number;
  /** Sent as JSON; no body (and no Content-Type) when absent, as RootlessKit does for DELETE. */
  json?: unknown;
  /** Sent as it is, instead of JSON, with this Content-Type. */
  text?: { body: string; type: string };
}

type Handler = (req: IncomingMessage, params: string[]) => Promise<Reply>;

interface Route {
  /** As docs/reference.md shows it; `{id}` stands for one path segment, passed to the handler. */
  path: string;
  pattern: RegExp;
  /** Each method's handler and what it does, for the reference. */
  methods: Readonly<Record<string, { doc: string; handle: Handler }>>;
}

function route(path: string, methods: Route['methods']): Route {
  return { path, pattern: new RegExp(`^${path.replaceAll('{id}', '([^/]+)')}$`), methods };
}

/** Every route and method with what it does, from the table the server dispatches on (for docs/reference.md). */
export function apiReference(): { method: string; path: string; doc: string }[] {
  const unused = () => {
    throw new Error('the reference runs no handler');
  };
  return makeRoutes({ socketPath: '', info: unused, ports: null }).flatMap((r) =>
    Object.entries(r.methods).map(([method, { doc }]) => ({ method, path: r.path, doc })),
  );
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const routes = makeRoutes(opts);
  // A client that sends half a request is answered 408 and dropped after the timeouts;
  // the checking interval makes them fire close to on time (the default is 30 s).
  // Host is not required: on a UNIX socket it means nothing (and Node's own 400 for it is not JSON).
  const server = http.createServer(
    {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: 5_000,
      connectionsCheckingInterval: 1_000,
      requireHostHeader: false,
    },
    (req, res) => void handle(req, res, routes),
  );
  server.on('clientError', answerClientError);
  // Errors after listen (e.g. EMFILE on accept) must not crash the process.
  server.on('error', (err) => process.emitWarning(`API server on ${opts.socketPath}: ${errorMessage(err)}`));
  await listenPrivately(server, opts.socketPath);
  return {
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await rm(opts.socketPath, { force: true });
    },
  };
}

/**
 * Listens on `socketPath` with the socket file at mode 0600 from the first moment others could
 * reach it: bind inside a fresh 0700 directory (mkdtemp) next to the target, chmod, then rename
 * into place (atomic, same filesystem). We do not set process.umask() around listen() instead:
 * umask is process-wide, so it would race with files created concurrently by the thread pool,
 * and worker threads may not change it at all.
 */
async function listenPrivately(server: http.Server, socketPath: string): Promise<void> {
  // sun_path holds 107 bytes, and Node would silently cut a longer path: bind somewhere else entirely.
  const longest = join(dirname(socketPath), '.api-XXXXXX', 's');
  if (Buffer.byteLength(longest) > 107 || Buffer.byteLength(socketPath) > 107) {
    throw new UserError(`the path ${socketPath} is too long for a UNIX socket (at most ${107 - 12} bytes for its directory): choose a shorter --state-dir`);
  }
  const dir = await mkdtemp(join(dirname(socketPath), '.api-'));
  const tmpPath = join(dir, 's'); // short: sun_path holds 107 bytes
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(tmpPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(tmpPath, 0o600);
    await rename(tmpPath, socketPath);
  } catch (err) {
    if (server.listening) server.close();
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function makeRoutes(opts: ApiServerOptions): Route[] {
  /** Handlers of a service that may be missing: a 400 with `message` then. */
  const needing =
    <S>(service: S | null | undefined, message: string) =>
    (fn: (service: S, req: IncomingMessage, params: string[]) => Promise<Reply>): Handler =>
    (req, params) => {
      if (!service) throw new HttpError(400, message);
      return fn(service, req, params);
    };
  const withPorts = needing(opts.ports, opts.noPortsMessage ?? NO_PORTS_MESSAGE);
  const withReverse = needing(opts.reverse, opts.noReverseMessage ?? NO_REVERSE_MESSAGE);
  return [
    route('/v1/info', {
      GET: {
        doc: 'API version, implementation version (nsgate\'s), state dir, child PID, network driver (DNS, child IP) and port driver (protos; absent without one), in RootlessKit\'s field order',
        handle: async () => ({ status: 200, json: ownAnswer(conformApiInfo, opts.info()) }),
      },
    }),
    route('/v1/ports', {
      GET: {
        doc: 'the published ports, `[{"id": ID, "spec": SPEC, "stats": STATS}]` (`stats`, nsgate\'s, from a driver that counts: see "Traffic counters")',
        handle: withPorts(async (ports) => ({ status: 200, json: await listPorts(ports) })),
      },
      POST: {
        doc: 'publish a port: the body is a SPEC, `{"proto": "tcp", "parentIP": "127.0.0.1", "parentPort": 8080, "childIP": "", "childPort": 80}`; answers 201 `{"id": ID, "spec": SPEC}`. `"parentPort": 0`: the kernel picks a free port, shown in the answer. With `"parentPortEnd"` and `"childPortEnd"` (nsgate\'s), a range, all or nothing: answers 201 with an array of `{"id": ID, "spec": SPEC}`, one per port',
        handle: withPorts(async (ports, req) => {
          const body = await readJsonBody(req);
          if (!isRangeRequest(body)) return { status: 201, json: ownAnswer(conformPortStatus, await ports.add(decodePortSpec(body))) };
          if (!ports.addRange) throw new UserError('this port service takes one port per request: send it without parentPortEnd and childPortEnd');
          const added = await ports.addRange(decodePortRangeSpec(body));
          return { status: 201, json: added.map((status) => ownAnswer(conformPortStatus, status)) };
        }),
      },
    }),
    route('/v1/reverse-ports', {
      GET: {
        doc: "nsgate's reverse ports (a listener inside whose connections are made on the host), `[{\"id\": ID, \"spec\": RSPEC, \"stats\": STATS}]`",
        handle: withReverse(async (reverse) => ({ status: 200, json: await listReversePorts(reverse) })),
      },
      POST: {
        doc: 'add a reverse port: the body is an RSPEC, `{"proto": "tcp", "childIP": "127.0.0.1", "childPort": 5432, "parentIP": "127.0.0.1", "parentPort": 5432}` (IPs default to 127.0.0.1); answers 201 `{"id": ID, "spec": RSPEC}`',
        handle: withReverse(async (reverse, req) => {
          const spec = decodeReverseSpec(await readJsonBody(req));
          return { status: 201, json: ownAnswer(conformReverseStatus, await reverse.add(spec)) };
        }),
      },
    }),
    route('/v1/reverse-ports/{id}', {
      DELETE: {
        doc: 'remove the reverse port with that id; answers 200 with no body',
        handle: withReverse(async (reverse, _req, [id]) => {
          await reverse.remove(portId(id!));
          return { status: 200 };
        }),
      },
    }),
    route('/metrics', {
      GET: {
        doc: "nsgate's: each port's traffic counters (`nsgate_port_connections_total{id,proto,parent,child}`, bytes, datagrams, active, refused, dropped; `nsgate_reverse_port_...` for reverse ports) and the parent's and child's open fds and RSS, in the Prometheus text format",
        handle: async () => {
          const ports = opts.ports ? await listPorts(opts.ports) : [];
          const reverse = opts.reverse ? await listReversePorts(opts.reverse) : [];
          const body = formatMetrics(ports, reverse, { parent: process.pid, child: opts.info().childPID });
          return { status: 200, text: { body, type: METRICS_CONTENT_TYPE } };
        },
      },
    }),
    route('/v1/ports/{id}', {
      DELETE: {
        doc: 'unpublish the port with that id; answers 200 with no body',
        handle: withPorts(async (ports, _req, [id]) => {
          await ports.remove(portId(id!));
          return { status: 200 };
        }),
      },
    }),
  ];
}

/** GET /v1/ports: the entries, with their `stats` when the driver counts. */
async function listPorts(ports: PortService): Promise<PortStatus[]> {
  const list = ports.list();
  const stats = await ports.stats?.();
  return list.map((status) => ownAnswer(conformPortStatus, stats?.has(status.id) ? { ...status, stats: stats.get(status.id) } : status));
}

/** GET /v1/reverse-ports: the entries with their stats. */
async function listReversePorts(reverse: ReverseService): Promise<ReverseStatus[]> {
  const stats = await reverse.stats();
  return reverse.list().map((status) => ownAnswer(conformReverseStatus, { ...status, stats: stats.get(status.id) }));
}

/**
 * Whether a POST body asks for a range: it names parentPortEnd or childPortEnd (any case, as Go matches keys).
 * A client that sends neither is RootlessKit's and gets RootlessKit's one-object answer.
 */
function isRangeRequest(body: unknown): boolean {
  if (body === null || typeof body !== 'object') return false;
  return Object.entries(body).some(([key, value]) => /^(parent|child)portend$/i.test(key) && value !== null && value !== 0);
}

/** Puts our own answer in RootlessKit's field order; a shape error here is our bug (500), not the client's. */
function ownAnswer<T>(conform: (value: unknown) => T, value: unknown): T {
  try {
    return conform(value);
  } catch (err) {
    throw new Error(`invalid answer from the port service: ${errorMessage(err)}`);
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, routes: Route[]): Promise<void> {
  try {
    const reply = await dispatch(req, routes);
    if (reply.text) send(res, reply.status, reply.text.body, { 'Content-Type': reply.text.type });
    else send(res, reply.status, reply.json === undefined ? '' : toGoJSON(reply.json));
  } catch (err) {
    sendError(res, err);
  }
}

function dispatch(req: IncomingMessage, routes: Route[]): Promise<Reply> {
  const path = requestPath(req.url ?? '');
  const method = req.method ?? '';
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    if (!Object.hasOwn(route.methods, method)) {
      const allow = Object.keys(route.methods).join(', ');
      throw new HttpError(405, `method ${method} not allowed on ${path} (allowed: ${allow})`, { Allow: allow });
    }
    return route.methods[method]!.handle(req, match.slice(1));
  }
  throw new HttpError(404, `not found: ${path}`);
}

/** The path of an origin-form ("/v1/info?x") or absolute-form ("http://any/v1/info") target; host and query are ignored. */
function requestPath(target: string): string {
  try {
    return new URL(target.startsWith('/') ? `http://api${target}` : target).pathname;
  } catch {
    throw new HttpError(400, `invalid request target: ${JSON.stringify(target)}`);
  }
}

function portId(text: string): number {
  const id = parsePortId(text);
  if (id === undefined) throw new HttpError(400, `bad id ${JSON.stringify(text)}: expected a port ID (an integer)`);
  return id;
}

function payloadTooLarge(): HttpError {
  return new HttpError(413, `request body too large (limit ${MAX_BODY_BYTES} bytes)`, { Connection: 'close' });
}

/** The body's first JSON value, as RootlessKit's Go server reads it (see go-json.ts). */
async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const text = (await readBody(req)).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'empty request body: expected a PortSpec JSON object');
  try {
    return decodeFirstJsonValue(text);
  } catch (err) {
    throw new HttpError(400, `invalid JSON in request body: ${errorMessage(err)}`);
  }
}

/**
 * Reads at most MAX_BODY_BYTES; beyond that (or when Content-Length says so) it fails with 413. The rest of
 * an oversized body is read and dropped first, up to a bound: answering and closing with the client's bytes
 * unread resets the connection, and the client may lose the answer while still writing.
 */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let dropping = false;
    let timer: NodeJS.Timeout | undefined;
    const answerTooLarge = (): void => {
      clearTimeout(timer);
      req.off('data', onData);
      reject(payloadTooLarge());
    };
    const startDropping = (): void => {
      dropping = true;
      chunks.length = 0;
      size = 0;
      timer = setTimeout(answerTooLarge, DRAIN_MAX_MS);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (dropping) {
        if (size > DRAIN_MAX_BYTES) answerTooLarge();
      } else if (size > MAX_BODY_BYTES) {
        startDropping();
      } else {
        chunks.push(chunk);
      }
    };
    if (Number(req.headers['content-length']) > MAX_BODY_BYTES) startDropping();
    req.on('data', onData);
    req.once('end', () => (dropping ? answerTooLarge() : resolve(Buffer.concat(chunks))));
    req.once('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: string, headers: OutgoingHttpHeaders = {}): void {
  const type: OutgoingHttpHeaders = body ? { 'Content-Type': 'application/json' } : {};
  res.writeHead(status, { ...type, ...headers, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** The error body of every answer: `{"message": ...}` plus a newline, like RootlessKit's json.Encoder. */
function errorBody(message: string): string {
  return `${toGoJSON({ message })}\n`;
}

/**
 * What Node's HTTP parser rejects before any handler runs (malformed HTTP, headers over 16 KiB, a request
 * not complete in time) gets the same JSON error as everything else, instead of Node's bodyless default.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // A response already under way (a bad chunk in a body being read) cannot be replaced: just drop it.
  const underway = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage?.headersSent ?? false;
  if (err.code === 'ECONNRESET' || !socket.writable || underway) {
    socket.destroy();
    return;
  }
  const [status, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, `request headers too large (limit ${http.maxHeaderSize} bytes)`]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, `request timed out: headers must arrive within ${HEADERS_TIMEOUT_MS / 1000} s, the whole request within ${REQUEST_TIMEOUT_MS / 1000} s`]
        : [400, `malformed HTTP request: ${err.message}`];
  const body = errorBody(message);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** A thrown error as its JSON answer: HttpError's status, 400 for a UserError, else 500. */
function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const status = err instanceof HttpError ? err.status : err instanceof UserError ? 400 : 500;
  const headers = err instanceof HttpError ? err.headers : {};
  send(res, status, errorBody(errorMessage(err)), headers);
}
