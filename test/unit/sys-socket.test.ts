import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import { test } from 'node:test';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_SEQPACKET, decodeSockaddr, encodeSockaddr, socketCalls } from '../../src/sys/socket.js';
import { receiveFds, sendFds } from '../../src/sys/fd-passing.js';
import { openSync, readFileSync, closeSync } from 'node:fs';

test('sockaddr: encode then decode gives the address back, IPv6 in its shortest form', () => {
  const cases: [string, string][] = [
    ['127.0.0.1', '127.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['::1', '::1'],
    ['::', '::'],
    ['fe80:0:0:0:0:0:1:2', 'fe80::1:2'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['::ffff:198.51.100.7', '::ffff:c633:6407'],
  ];
  for (const [ip, shown] of cases) {
    const addr = decodeSockaddr(encodeSockaddr(ip, 65535));
    assert.deepEqual(addr, { family: isIPv6(ip) ? 6 : 4, ip: shown, port: 65535 }, ip);
  }
  assert.throws(() => encodeSockaddr('localhost', 1), /not an IP address: localhost/);
});

test('fd passing: a message and its fd arrive together; nothing queued gives null', () => {
  const c = socketCalls();
  assert.ok(c, 'koffi loads on this machine');
  const pair: [number, number] = [0, 0];
  assert.equal(c.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  assert.equal(receiveFds(pair[1]), null);
  const file = openSync('/proc/self/stat', 'r');
  sendFds(pair[0], Buffer.from('what'), [file]);
  const got = receiveFds(pair[1]);
  assert.ok(got);
  assert.equal(got.payload.toString(), 'what');
  assert.equal(got.fds.length, 1);
  assert.notEqual(got.fds[0], file);
  assert.match(readFileSync(got.fds[0]!, 'utf8'), /^\d+ \(node\)/);
  for (const fd of [file, got.fds[0]!, ...pair]) closeSync(fd);
});
