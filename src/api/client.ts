/** A client for the REST API on `api.sock`, nsgate's or RootlessKit's. */
import http from 'node:http';
import { errorMessage } from '../errors.js';
import type { PortRangeSpec, PortSpec, PortStatus } from '../port/types.js';
import { conformApiInfo, conformPortStatus, conformReverseStatus } from './schema.js';
import type { ReverseStatus } from '../port/reverse.js';
import type { ReverseSpec } from '../port/reverse-spec.js';
import type { ApiInfo } from './types.js';

export interface ApiClientOptions {
  /** Called with one line per request (`GET /v1/ports -> 200`), for --debug. */
  log?: (line: string) => void;
}

/** Far more than any real answer; only guards against a runaway server. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export class ApiClient {
  constructor(
    readonly socketPath: string,
    private readonly options: ApiClientOptions = {},
  ) {}

  async info(): Promise<ApiInfo> {
    return this.conform(conformApiInfo, await this.request('GET', '/v1/info'));
  }

  async listPorts(): Promise<PortStatus[]> {
    const body = await this.request('GET', '/v1/ports');
    // RootlessKit answers `null` (a nil Go slice) when no port is forwarded.
    if (body === null) return [];
    if (!Array.isArray(body)) throw this.badAnswer('expected a JSON array of ports');
    return body.map((status) => this.conform(conformPortStatus, status));
  }

  async addPort(spec: PortSpec): Promise<PortStatus> {
    return this.conform(conformPortStatus, await this.request('POST', '/v1/ports', JSON.stringify(spec)));
  }

  /**
   * Adds a range (nsgate's extension) in one request; one port goes as RootlessKit's plain request. A server
   * that answers a range with one object ignored the range fields (RootlessKit): that is an error.
   */
  async addPorts(spec: PortRangeSpec): Promise<PortStatus[]> {
    if (spec.parentPortEnd === undefined && spec.childPortEnd === undefined) return [await this.addPort(spec)];
    const body = await this.request('POST', '/v1/ports', JSON.stringify(spec));
    if (!Array.isArray(body)) {
      const id = (body as { id?: unknown } | null)?.id;
      throw this.badAnswer(`it does not take port ranges (nsgate does) and added one port${typeof id === 'number' ? `, id ${id}: remove it with "remove-ports ${id}"` : ''}; add the ports one by one`);
    }
    return body.map((status) => this.conform(conformPortStatus, status));
  }

  async listReversePorts(): Promise<ReverseStatus[]> {
    const body = await this.request('GET', '/v1/reverse-ports');
    if (!Array.isArray(body)) throw this.badAnswer('expected a JSON array of reverse ports');
    return body.map((status) => this.conform(conformReverseStatus, status));
  }

  async addReversePort(spec: ReverseSpec): Promise<ReverseStatus> {
    return this.conform(conformReverseStatus, await this.request('POST', '/v1/reverse-ports', JSON.stringify(spec)));
  }

  async removeReversePort(id: number): Promise<void> {
    await this.request('DELETE', `/v1/reverse-ports/${id}`);
  }

  async removePort(id: number): Promise<void> {
    await this.request('DELETE', `/v1/ports/${id}`);
  }

  private conform<T>(conform: (value: unknown) => T, value: unknown): T {
    try {
      return conform(value);
    } catch (err) {
      throw this.badAnswer(errorMessage(err));
    }
  }

  private badAnswer(detail: string): Error {
    return new Error(`invalid answer from the API server on ${this.socketPath}: ${detail}`);
  }

  /** Sends one request; resolves with the parsed JSON body (undefined when empty), rejects on non-2xx. */
  private async request(method: string, path: string, body?: string): Promise<unknown> {
    const { status, statusText, text } = await this.exchange(method, path, body);
    this.options.log?.(`${method} ${path} -> ${status}`);
    if (status === 404 && path.startsWith('/v1/reverse-ports')) {
      throw new Error(`the API server on ${this.socketPath} has no reverse ports (${method} ${path}: 404): they are nsgate's, RootlessKit has none`);
    }
    if (status < 200 || status > 299) throw new Error(statusErrorMessage(status, statusText, text));
    return this.parseJson(text);
  }

  private exchange(method: string, path: string, body?: string): Promise<{ status: number; statusText: string; text: string }> {
    const headers: http.OutgoingHttpHeaders = { Host: 'rootlesskit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.socketPath, method, path, headers, agent: false }, (res) => {
        readResponse(res).then(
          (text) => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', text }),
          reject,
        );
      });
      req.on('error', (err) => reject(this.requestError(err)));
      req.end(body);
    });
  }

  private parseJson(text: string): unknown {
    if (text === '') return undefined;
    try {
      return JSON.parse(text);
    } catch (err) {
      throw this.badAnswer(errorMessage(err));
    }
  }

  private requestError(err: NodeJS.ErrnoException): Error {
    const where = `cannot talk to the API server on ${this.socketPath}`;
    switch (err.code) {
      case 'ENOENT':
        return new Error(
          `${where}: no such socket. Is nsgate (or rootlesskit) running? ` +
            'Pass --socket PATH or set ROOTLESSKIT_STATE_DIR to its state directory.',
        );
      case 'ECONNREFUSED':
        return new Error(`${where}: connection refused (the process that created the socket has probably exited)`);
      default:
        return new Error(`${where}: ${err.message}`);
    }
  }
}

function readResponse(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) res.destroy(new Error(`answer larger than ${MAX_RESPONSE_BYTES} bytes`));
      else chunks.push(chunk);
    });
    res.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.once('error', reject);
  });
}

/** The server's `message` when the body is `{"message": ...}`, else the status and raw body (like rootlessctl). */
function statusErrorMessage(status: number, statusText: string, body: string): string {
  try {
    const { message } = JSON.parse(body) as { message?: unknown };
    if (typeof message === 'string' && message !== '') return message;
  } catch {
    // not JSON: fall through
  }
  return `unexpected HTTP status ${status} ${statusText}, body=${JSON.stringify(body)}`;
}
