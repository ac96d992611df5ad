import { createSocket } from 'node:dgram';
import { createServer, isIPv6 } from 'node:net';
import type { ListenAddress } from './listen.js';

/**
 * Why a helper (slirp4netns, socat) could not open a host port, found by trying the same bind ourselves:
 * the bind error (EADDRINUSE, EACCES, ...), or undefined if the port can be bound now. The socket is closed at once.
 */
export function bindProbe(kind: 'tcp' | 'udp', at: ListenAddress, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return kind === 'tcp' ? probeTcp(at, port) : probeUdp(at, port);
}

function probeTcp({ host, ipv6Only }: ListenAddress, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err) => resolve(err));
    server.listen({ host, port, ipv6Only, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

function probeUdp({ host, ipv6Only }: ListenAddress, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const sock = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', ipv6Only });
    sock.once('error', (err) => {
      sock.close();
      resolve(err);
    });
    sock.bind({ address: host, port, exclusive: true }, () => sock.close(() => resolve(undefined)));
  });
}
