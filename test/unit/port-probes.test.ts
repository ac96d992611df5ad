import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { bindProbe } from '../../src/port/bind-probe.js';
import { holdsPortSocket } from '../../src/port/proc-sockets.js';

const V4 = { host: '127.0.0.1', ipv6Only: false };

test('holdsPortSocket sees a listening TCP socket and a bound UDP socket of a process, on their port only', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const tcpPort = (server.address() as AddressInfo).port;
  const udp = createSocket('udp6');
  await new Promise<void>((resolve) => udp.bind(0, '::1', resolve));
  const udpPort = udp.address().port;
  try {
    assert.equal(await holdsPortSocket(process.pid, 'tcp', tcpPort), true);
    assert.equal(await holdsPortSocket(process.pid, 'udp', udpPort), true);
    assert.equal(await holdsPortSocket(process.pid, 'udp', tcpPort), false);
    assert.equal(await holdsPortSocket(process.pid, 'tcp', udpPort), false);
  } finally {
    server.close();
    udp.close();
  }
});

test('bindProbe tells a taken port (EADDRINUSE) from a free one', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  assert.equal((await bindProbe('tcp', V4, port))?.code, 'EADDRINUSE');
  await new Promise((resolve) => server.close(resolve));
  assert.equal(await bindProbe('tcp', V4, port), undefined);
  assert.equal(await bindProbe('udp', V4, port), undefined);
  assert.equal((await bindProbe('udp', { host: '198.18.0.1', ipv6Only: false }, port))?.code, 'EADDRNOTAVAIL');
});
