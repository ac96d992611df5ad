/**
 * In-namespace clients of a bypassed TCP port (health checks to 127.0.0.1:PORT inside): the app's socket is a
 * host socket, so nothing listens inside any more. A listener the namespace process opens where the app asked to bind
 * relays each connection to the app's host socket, but only while that socket is still the app's:
 * it never becomes a way into whatever else may later listen on the host port.
 */
import { connect, type Server, type Socket } from 'node:net';

export class InnerRelay {
  readonly #open = new Set<Socket>();

  /**
   * `server` listens inside the namespace; `target()` is the host address to connect to, or null once the
   * app's host socket is gone (the relay then closes itself).
   */
  constructor(
    private readonly server: Server,
    private readonly target: () => { host: string; port: number } | null,
  ) {
    server.on('connection', (client) => this.#relay(client));
    server.on('error', () => {});
  }

  #relay(client: Socket): void {
    // Half-close passes through: a client that ends its side still gets the answer. (The server came over IPC, without options.)
    client.allowHalfOpen = true;
    const to = this.target();
    if (!to) {
      client.resetAndDestroy();
      this.close();
      return;
    }
    const upstream = connect({ ...to, allowHalfOpen: true });
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.#open.add(a);
      a.pipe(b);
      a.once('error', () => b.destroy());
      a.once('close', () => this.#open.delete(a));
    }
  }

  close(): void {
    this.server.close();
    for (const s of this.#open) s.destroy();
  }
}
