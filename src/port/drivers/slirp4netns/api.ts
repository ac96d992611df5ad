/**
 * slirp4netns' API socket (`man slirp4netns`, "API SOCKET"): one JSON request per connection, the write side
 * shut down after it, then one JSON reply, `{"return": {...}}` or `{"error": {"desc": "..."}}`.
 */
import { connect } from 'node:net';
import { errorMessage } from '../../../errors.js';

const TIMEOUT_MS = 5_000;

/** slirp4netns answered with `{"error": {"desc": ...}}`. */
export class Slirp4netnsApiError extends Error {
  constructor(readonly desc: string) {
    super(`slirp4netns: ${desc}`);
  }
}

/** A client of one slirp4netns' API socket. */
export class Slirp4netnsApi {
  #queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly socketPath: string) {}

  /**
   * Sends `{"execute": execute, "arguments": args}`; resolves with the reply's `return` object. One request
   * at a time: slirp4netns accepts one connection at once, a second concurrent connect fails with EAGAIN.
   */
  request(execute: string, args: object): Promise<Record<string, unknown>> {
    const reply = this.#queue.then(() => call(this.socketPath, execute, args));
    this.#queue = reply.catch(() => undefined);
    return reply;
  }
}

async function call(socketPath: string, execute: string, args: object): Promise<Record<string, unknown>> {
  const text = await exchange(socketPath, JSON.stringify({ execute, arguments: args }));
  let reply: { return?: Record<string, unknown>; error?: { desc?: unknown } };
  try {
    reply = JSON.parse(text);
  } catch {
    throw new Error(`slirp4netns answered ${execute} with something that is not JSON: ${JSON.stringify(text)}`);
  }
  if (reply.error) throw new Slirp4netnsApiError(String(reply.error.desc ?? JSON.stringify(reply.error)));
  if (!reply.return) throw new Error(`slirp4netns answered ${execute} without "return": ${text}`);
  return reply.return;
}

function exchange(socketPath: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect(socketPath, () => sock.end(request));
    sock.setTimeout(TIMEOUT_MS, () => sock.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    sock.on('data', (chunk) => chunks.push(chunk));
    sock.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    sock.once('error', (err) => reject(new Error(`slirp4netns' API socket ${socketPath}: ${errorMessage(err)}`)));
  });
}
