/** Test clients for published ports: a TCP exchange with half-close, a refused-or-answer probe, a UDP question. */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';

/** Connect, send `data`, end our side, and collect everything until the server ends. Rejects on error. */
export function exchange(host: string, port: number, data: Buffer | string = ''): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({ host, port, allowHalfOpen: true }, () => s.end(data));
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error(`timeout on ${host}:${port}`)));
  });
}

/** 'refused' if nobody listens at host:port, else what the server sent. */
export async function probe(host: string, port: number): Promise<string> {
  try {
    return (await exchange(host, port)).toString();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? 'refused' : `error ${(err as Error).message}`;
  }
}

/** Send one datagram and wait for one reply (5 s). */
export function udpAsk(host: string, port: number, msg: string): Promise<{ reply: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('no UDP reply'));
    }, 5_000);
    s.on('message', (reply) => {
      clearTimeout(timer);
      const localPort = s.address().port;
      s.close();
      resolve({ reply: reply.toString(), localPort });
    });
    s.send(msg, port, host);
  });
}

/** Send `messages` from one socket, back to back, and collect as many replies, in order (5 s). */
export function udpExchange(host: string, port: number, messages: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const replies: string[] = [];
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`${replies.length} of ${messages.length} UDP replies`));
    }, 5_000);
    s.on('message', (reply) => {
      replies.push(reply.toString());
      if (replies.length < messages.length) return;
      clearTimeout(timer);
      s.close();
      resolve(replies);
    });
    for (const msg of messages) s.send(msg, port, host);
  });
}
