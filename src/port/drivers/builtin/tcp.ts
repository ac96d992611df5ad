import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { PortForward, PortSpec } from '../../types.js';
import { childAddress, listenAddress, listenError } from '../../listen.js';

export type Dial = (host: string, port: number) => Promise<Socket>;

/** Forward one published TCP port: each host connection gets a connection made inside the namespace. */
export async function openTcpForward(spec: PortSpec, dial: Dial): Promise<PortForward> {
  const open = new Set<Socket>();
  const host = childAddress(spec);
  const track = (s: Socket) => {
    open.add(s);
    s.once('close', () => open.delete(s));
  };
  // Paused until the inner connection exists, so no client byte is read before it has somewhere to go.
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    track(client);
    client.on('error', () => {});
    dial(host, spec.childPort).then(
      (inner) => {
        if (client.destroyed) {
          inner.destroy();
          return;
        }
        track(inner);
        relay(client, inner);
      },
      // Refused or unreachable inside: the client learns at once, as from a closed port.
      () => client.resetAndDestroy(),
    );
  });
  await listen(server, spec);
  return {
    parentPort: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}

function listen(server: Server, spec: PortSpec): Promise<void> {
  const { host, ipv6Only } = listenAddress(spec);
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(listenError(spec, err)));
    server.listen({ host, port: spec.parentPort, ipv6Only, exclusive: true }, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
}

/**
 * Carry bytes both ways. An end (FIN) is passed on as an end, so half-close works;
 * a reset is passed on as a reset.
 */
function relay(a: Socket, b: Socket): void {
  b.allowHalfOpen = true;
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    from.pipe(to);
    from.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? to.resetAndDestroy() : to.destroy()));
    from.once('close', () => {
      if (!to.destroyed && !from.readableEnded) to.destroy();
    });
  }
}
