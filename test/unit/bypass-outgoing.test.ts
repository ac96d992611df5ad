import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressBytes, isOutside, NEVER_OUTSIDE, parseCidr, parseIPv4Routes, parseIPv6Routes, routedByDefault, type Cidr } from '../../src/port/drivers/bypass/outgoing.js';
import { routeAnswer, routeGetMessage } from '../../src/sys/rtnetlink.js';

const outside = (ip: string, ...lists: Cidr[][]) => isOutside(addressBytes(ip), NEVER_OUTSIDE, ...lists);

/** /proc/PID/net/route of a Docker rootless namespace: default via 10.0.2.2, tap0's 10.0.2.0/24, docker0's 172.17.0.0/16. */
const ROUTE = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
tap0	00000000	0202000A	0003	0	0	0	00000000	0	0	0
tap0	0002000A	00000000	0001	0	0	0	00FFFFFF	0	0	0
docker0	000011AC	00000000	0001	0	0	0	0000FFFF	0	0	0
`;

/** /proc/PID/net/ipv6_route: a default route, fd00::/64, ::1/128, and the kernel's unreachable default (RTF_REJECT). */
const IPV6_ROUTE = `00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000002 00000400 00000001 00000000 00000003 eth0
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001 lo
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo
`;

/** A namespace with loopback only (--net=none): the kernel's unreachable IPv6 default, no IPv4 route. */
const NONE_IPV6_ROUTE = `00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001 lo
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo
`;

test('never outside: loopback, this network, link-local, multicast and 240/4, in either family and v4-mapped', () => {
  for (const ip of ['127.0.0.1', '127.255.0.9', '0.0.0.0', '169.254.1.1', '224.0.0.251', '239.1.2.3', '255.255.255.255', '::', '::1', 'fe80::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:0.0.0.0']) {
    assert.equal(outside(ip), false, ip);
  }
  for (const ip of ['198.51.100.2', '8.8.8.8', '2001:db8::1', '::ffff:198.51.100.2']) assert.equal(outside(ip), true, ip);
});

test("outside is what a namespace sends by its default route: its subnets are inside", () => {
  const routes = parseIPv4Routes(ROUTE);
  assert.deepEqual(routes.map((r) => `${[...r.bytes].join('.')}/${r.prefix}`), ['0.0.0.0/0', '10.0.2.0/24', '172.17.0.0/16']);
  const byDefault = (ip: string) => routedByDefault(addressBytes(ip), routes);
  assert.equal(byDefault('10.0.2.3'), false, 'DNS');
  assert.equal(byDefault('172.17.0.2'), false, 'a container on docker0');
  assert.equal(byDefault('::ffff:172.17.0.2'), false, 'the same, v4-mapped');
  assert.equal(byDefault('172.18.0.2'), true, 'a network the namespace does not have');
  const v6 = parseIPv6Routes(IPV6_ROUTE);
  assert.deepEqual(v6.map((r) => [r.prefix, r.reject]), [[0, false], [64, false], [128, false], [0, true]]);
  assert.equal(routedByDefault(addressBytes('fd00::100'), v6), false);
  assert.equal(routedByDefault(addressBytes('2001:db8::1'), v6), true);
});

test('a namespace without a default route (--net=none, IPv6 without --ipv6) sends nothing out, so nothing is bypassed', () => {
  assert.equal(routedByDefault(addressBytes('2001:db8::1'), parseIPv6Routes(NONE_IPV6_ROUTE)), false, 'only the unreachable default');
  assert.equal(routedByDefault(addressBytes('198.51.100.2'), parseIPv4Routes('Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n')), false, 'no IPv4 route');
});

test('--bypass-ignore networks and single addresses', () => {
  const ignore = ['192.0.2.0/24', '203.0.113.7', '2001:db8:1::/48'].map(parseCidr);
  assert.equal(outside('192.0.2.200', ignore), false);
  assert.equal(outside('203.0.113.7', ignore), false);
  assert.equal(outside('203.0.113.8', ignore), true);
  assert.equal(outside('2001:db8:1:2::1', ignore), false);
  assert.equal(outside('2001:db8:2::1', ignore), true);
  assert.deepEqual(parseCidr('10.1.2.3/8'), { bytes: Buffer.from([10, 0, 0, 0]), prefix: 8 }, 'host bits cleared');
  assert.throws(() => parseCidr('10.0.0.0/8/8'), /is not an IP address or network/);
});

test('RTM_GETROUTE: the request, and the type and interface of the answer', () => {
  const dst = addressBytes('198.51.100.2');
  const msg = routeGetMessage(dst, 7);
  assert.equal(msg.readUInt32LE(0), msg.length);
  assert.equal(msg.readUInt16LE(4), 26, 'RTM_GETROUTE');
  assert.equal(msg.readUInt8(16), 2, 'AF_INET');
  assert.equal(msg.readUInt8(17), 32, 'a full-length destination');
  assert.deepEqual(msg.subarray(32, 36), dst, 'RTA_DST');
  // An RTM_NEWROUTE answer: rtmsg (type RTN_UNICAST) then RTA_TABLE and RTA_OIF 3.
  const answer = Buffer.alloc(16 + 12 + 8 + 8);
  answer.writeUInt32LE(answer.length, 0);
  answer.writeUInt16LE(24, 4);
  answer.writeUInt32LE(7, 8);
  answer.writeUInt8(1, 16 + 7);
  answer.writeUInt16LE(8, 28);
  answer.writeUInt16LE(15, 30);
  answer.writeUInt32LE(254, 32);
  answer.writeUInt16LE(8, 36);
  answer.writeUInt16LE(4, 38);
  answer.writeUInt32LE(3, 40);
  assert.deepEqual(routeAnswer(answer, 7), { type: 1, oif: 3 });
  assert.equal(routeAnswer(answer, 8), undefined, 'another request');
});
