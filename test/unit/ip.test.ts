import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ipFamily, isGoIP, unmapIPv4 } from '../../src/port/ip.js';

/** Go 1.26's net.ParseIP on each: nil, or To4() != nil (4) or not (6); run with a small Go program. */
const GO_PARSE_IP: [string, '-' | 4 | 6][] = [
  ['127.0.0.1', 4],
  ['0.0.0.0', 4],
  ['255.255.255.255', 4],
  ['::', 6],
  ['::1', 6],
  ['0:0:0:0:0:0:0:0', 6],
  ['1:2:3:4:5:6:7:8', 6],
  ['1:2:3:4:5:6:7::', 6],
  ['::1:2:3:4:5:6:7', 6],
  ['1::', 6],
  ['2001:DB8::a', 6],
  ['::1.2.3.4', 6],
  ['1:2:3:4:5:6:1.2.3.4', 6],
  ['::ffff:0:1.2.3.4', 6],
  ['::ffff:127.0.0.1', 4],
  ['::FFFF:1.2.3.4', 4],
  ['::ffff:7f00:1', 4],
  ['0:0:0:0:0:ffff:127.0.0.1', 4],
  ['::ffff:0.0.0.0', 4],
  ['127.000.0.1', '-'],
  ['127.0.0.01', '-'],
  ['::1.2.3.04', '-'],
  ['1.2.3', '-'],
  ['1.2.3.4.5', '-'],
  ['256.0.0.1', '-'],
  ['0x1.2.3.4', '-'],
  [' 1.2.3.4', '-'],
  ['1.2.3.4 ', '-'],
  ['1.2.3.4:80', '-'],
  ['fe80::1%eth0', '-'],
  ['fe80::1%25eth0', '-'],
  ['::1%lo', '-'],
  ['1:2:3:4:5:6:7:8:9', '-'],
  ['1:2:3:4:5:6:7:1.2.3.4', '-'],
  ['1::2::3', '-'],
  [':1::', '-'],
  [':::', '-'],
  ['::ffff:1.2.3', '-'],
  ['localhost', '-'],
  ['', '-'],
];

test("isGoIP and ipFamily agree with Go's net.ParseIP", () => {
  for (const [text, go] of GO_PARSE_IP) {
    assert.equal(isGoIP(text), go !== '-', text);
    if (go !== '-') assert.equal(ipFamily(text), go, text);
  }
});

test('unmapIPv4 gives the IPv4 address an IPv4-mapped one holds, and leaves the others as they are', () => {
  assert.equal(unmapIPv4('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(unmapIPv4('::FFFF:7f00:1'), '127.0.0.1');
  assert.equal(unmapIPv4('0:0:0:0:0:ffff:a00:264'), '10.0.2.100');
  assert.equal(unmapIPv4('::ffff:0.0.0.0'), '0.0.0.0');
  for (const ip of ['127.0.0.1', '::1', '::', '::ffff:0:1.2.3.4', '::1.2.3.4', '', 'fe80::ffff:1.2.3.4']) assert.equal(unmapIPv4(ip), ip);
});
