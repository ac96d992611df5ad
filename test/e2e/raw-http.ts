/** HTTP at the byte level over a UNIX socket: send exactly what a test says, parse whatever comes back. */
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RawExchange {
  /** Every complete answer the server sent, in order. */
  answers: RawAnswer[];
  /** Bytes after the last complete answer (must be none). */
  rest: string;
  /** The server closed the connection (rather than our timeout ending the wait). */
  closedByServer: boolean;
}

/**
 * Writes `chunks`, then keeps the connection, ends our side or closes it at once (`then`), and reads until the server
 * closes or `waitMs` passes. Write errors are ignored: a server that answers early (413) and closes may
 * refuse the rest.
 */
export function rawExchange(socketPath: string, chunks: Buffer[], opts: { then: 'wait' | 'end' | 'close'; waitMs: number }): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const received: Buffer[] = [];
    let closedByServer = false;
    const s = connect({ path: socketPath, allowHalfOpen: true });
    const timer = setTimeout(() => s.destroy(), opts.waitMs);
    s.on('connect', () => {
      for (const chunk of chunks) s.write(chunk);
      if (opts.then === 'end') s.end();
      if (opts.then === 'close') s.destroy();
    });
    s.on('data', (d) => received.push(d));
    s.on('end', () => {
      closedByServer = true;
      s.destroy();
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ ...parseAnswers(Buffer.concat(received).toString('latin1')), closedByServer });
    });
  });
}

/** Splits a byte stream into HTTP/1.1 answers framed by Content-Length. */
export function parseAnswers(text: string): { answers: RawAnswer[]; rest: string } {
  const answers: RawAnswer[] = [];
  let rest = text;
  for (;;) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd < 0) break;
    const [statusLine, ...lines] = rest.slice(0, headEnd).split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine!);
    if (!m) break;
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const bodyStart = headEnd + 4;
    if (rest.length < bodyStart + length) break;
    answers.push({ status: Number(m[1]), headers, body: Buffer.from(rest.slice(bodyStart, bodyStart + length), 'latin1').toString('utf8') });
    rest = rest.slice(bodyStart + length);
  }
  return { answers, rest };
}
