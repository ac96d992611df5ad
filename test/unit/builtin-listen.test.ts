import assert from 'node:assert/strict';
import { test } from 'node:test';
import { childAddress, listenAddress, listenError } from '../../src/port/listen.js';
import type { PortSpec, Proto } from '../../src/port/types.js';

const spec = (proto: Proto, parentIP?: string, childIP?: string): PortSpec => ({
  proto,
  ...(parentIP === undefined ? {} : { parentIP }),
  parentPort: 8080,
  ...(childIP === undefined ? {} : { childIP }),
  childPort: 80,
});

test('plain tcp/udp on a wildcard listens dual-stack; *4 only IPv4; *6 only IPv6 (RootlessKit\'s rules)', () => {
  for (const ip of [undefined, '0.0.0.0', '::']) {
    assert.deepEqual(listenAddress(spec('tcp', ip)), { host: '::', ipv6Only: false });
    assert.deepEqual(listenAddress(spec('udp', ip)), { host: '::', ipv6Only: false });
  }
  assert.deepEqual(listenAddress(spec('tcp4', '0.0.0.0')), { host: '0.0.0.0', ipv6Only: false });
  assert.deepEqual(listenAddress(spec('tcp4')), { host: '0.0.0.0', ipv6Only: false });
  assert.deepEqual(listenAddress(spec('tcp6', '::')), { host: '::', ipv6Only: true });
  assert.deepEqual(listenAddress(spec('udp6')), { host: '::', ipv6Only: true });
});

test('a specific parent address is listened on as given', () => {
  assert.deepEqual(listenAddress(spec('tcp', '127.0.0.1')), { host: '127.0.0.1', ipv6Only: false });
  assert.deepEqual(listenAddress(spec('tcp6', '::1')), { host: '::1', ipv6Only: true });
});

test('the child side dials childIP, else the parent IP, else 127.0.0.1 (RootlessKit v2.3.4\'s builtin child)', () => {
  const hostIPv4 = '192.0.2.7';
  const host = () => hostIPv4;
  assert.equal(childAddress(spec('tcp'), host), '127.0.0.1');
  assert.equal(childAddress(spec('tcp6', '::', '::1'), host), '::1');
  assert.equal(childAddress(spec('tcp', '0.0.0.0'), host), '127.0.0.1');
  assert.equal(childAddress(spec('tcp', '127.0.0.1'), host), '127.0.0.1');
  assert.equal(childAddress(spec('tcp6', '::1'), host), '::1');
  assert.equal(childAddress(spec('tcp6', '::'), host), '::');
  assert.equal(childAddress(spec('udp', '127.0.0.2'), host), '127.0.0.2');
  assert.equal(childAddress(spec('tcp', hostIPv4), host), '127.0.0.1', 'the host\'s first IPv4 address goes to loopback');
  assert.equal(childAddress(spec('tcp', '192.0.2.8'), host), '192.0.2.8');
});

test('an IPv4-mapped address is the IPv4 address it holds, as Go listens and dials', () => {
  assert.deepEqual(listenAddress(spec('tcp4', '::ffff:127.0.0.1')), { host: '127.0.0.1', ipv6Only: false });
  assert.deepEqual(listenAddress(spec('tcp', '::FFFF:7f00:1')), { host: '127.0.0.1', ipv6Only: false });
  assert.deepEqual(listenAddress(spec('tcp', '::ffff:0.0.0.0')), { host: '::', ipv6Only: false });
  assert.deepEqual(listenAddress(spec('udp4', '::ffff:0.0.0.0')), { host: '0.0.0.0', ipv6Only: false });
  assert.equal(childAddress(spec('tcp', undefined, '::ffff:10.0.2.100')), '10.0.2.100');
});

test('bind errors say what to do', () => {
  const err = (code: string) => Object.assign(new Error(code), { code });
  assert.match(listenError(spec('tcp'), err('EADDRINUSE')).message, /\*:8080\/tcp: the port is already in use/);
  const priv = listenError({ ...spec('tcp', '0.0.0.0'), parentPort: 80 }, err('EACCES')).message;
  assert.match(priv, /ip_unprivileged_port_start=0/);
  assert.match(priv, /CAP_NET_BIND_SERVICE/);
  assert.match(listenError(spec('tcp4', '192.0.2.77'), err('EADDRNOTAVAIL')).message, /192\.0\.2\.77 is not an address of this host/);
});
