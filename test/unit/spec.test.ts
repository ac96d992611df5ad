import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { UserError } from '../../src/errors.js';
import { formatPortSpec, parsePortSpec, validatePortSpec } from '../../src/port/spec.js';
import { PROTOS, type PortSpec, type Proto } from '../../src/port/types.js';

const VALID: [string, PortSpec][] = [
  ['0.0.0.0:8080:80/tcp', { proto: 'tcp', parentIP: '0.0.0.0', parentPort: 8080, childPort: 80 }],
  ['[::]:8080:80/tcp6', { proto: 'tcp6', parentIP: '::', parentPort: 8080, childPort: 80 }],
  ['[::]:8080:80/tcp', { proto: 'tcp', parentIP: '::', parentPort: 8080, childPort: 80 }],
  ['[::1]:8080:[::1]:80/tcp6', { proto: 'tcp6', parentIP: '::1', parentPort: 8080, childIP: '::1', childPort: 80 }],
  ['127.0.0.1:8080:[::1]:80/tcp', { proto: 'tcp', parentIP: '127.0.0.1', parentPort: 8080, childIP: '::1', childPort: 80 }],
  ['[::1]:8080:127.0.0.1:80/tcp6', { proto: 'tcp6', parentIP: '::1', parentPort: 8080, childIP: '127.0.0.1', childPort: 80 }],
  [':8080:80/udp', { proto: 'udp', parentPort: 8080, childPort: 80 }],
  [':8080:10.0.2.100:80/udp', { proto: 'udp', parentPort: 8080, childIP: '10.0.2.100', childPort: 80 }],
  ['0.0.0.0:8080:10.0.2.100:80/udp4', { proto: 'udp4', parentIP: '0.0.0.0', parentPort: 8080, childIP: '10.0.2.100', childPort: 80 }],
  ['0.0.0.0:8080:80/tcp4', { proto: 'tcp4', parentIP: '0.0.0.0', parentPort: 8080, childPort: 80 }],
  ['[::1]:5353:53/udp6', { proto: 'udp6', parentIP: '::1', parentPort: 5353, childPort: 53 }],
  ['127.0.0.1:9999:9999/sctp', { proto: 'sctp', parentIP: '127.0.0.1', parentPort: 9999, childPort: 9999 }],
  [':1:65535/sctp4', { proto: 'sctp4', parentPort: 1, childPort: 65535 }],
  ['[fe80::1]:65535:[2001:DB8::a]:1/sctp6', { proto: 'sctp6', parentIP: 'fe80::1', parentPort: 65535, childIP: '2001:DB8::a', childPort: 1 }],
  ['[::ffff:10.0.0.1]:80:80/tcp', { proto: 'tcp', parentIP: '::ffff:10.0.0.1', parentPort: 80, childPort: 80 }],
  [':1:2/tcp6', { proto: 'tcp6', parentPort: 1, childPort: 2 }],
];

describe('parsePortSpec', () => {
  for (const [text, expected] of VALID) {
    test(`parses ${text}`, () => {
      const spec = parsePortSpec(text);
      assert.deepEqual(spec, expected);
      assert.deepEqual(Object.keys(spec), Object.keys(expected), 'absent fields are absent, keys in order');
      assert.equal(formatPortSpec(spec), text);
    });
  }

  test('accepts leading zeros in ports, like Go strconv.Atoi', () => {
    assert.deepEqual(parsePortSpec(':080:0080/tcp'), { proto: 'tcp', parentPort: 80, childPort: 80 });
  });

  // Each message must quote the input and name the part that is wrong.
  const MALFORMED: [string, RegExp][] = [
    ['', /it is empty \(the form is \[PARENT_IP\]:PARENT_PORT/],
    ['8080:80', /missing "\/<proto>" \(the form is .*e\.g\. 0\.0\.0\.0:8080:80\/tcp\)/],
    ['8080:80/tcp', /missing the parent IP part.*":8080:80\/tcp".*"0\.0\.0\.0:8080:80\/tcp"/],
    [':8080/tcp', /expected 3 or 4 ":"-separated parts before "\/", got 2/],
    ['80/tcp', /expected 3 or 4 .* got 1/],
    ['1.2.3.4:1:1.2.3.4:2:3/tcp', /expected 3 or 4 .* got 5/],
    ['::1:8080:80/tcp', /got 5 .*IPv6 addresses go in brackets/],
    ['::1:80/tcp', /part 2 is empty .*IPv6 addresses go in brackets/],
    ['0.0.0.0:8080::80/tcp', /part 3 is empty/],
    ['0.0.0.0:8080:/tcp', /part 3 is empty/],
    [':65536:80/tcp', /parent port "65536" is out of range \(allowed: 1-65535\)/],
    [':8080:0/tcp', /child port "0" is out of range \(allowed: 1-65535\)/],
    [':0:80/tcp', /parent port "0" is out of range/],
    [':8080:99999999999999999999999:80/tcp', /child IP "99999999999999999999999" is not an IP address/],
    [':99999999999999999999999:80/tcp', /parent port "9+" is out of range/],
    [':+80:80/tcp', /parent port "\+80" is not a decimal number \(allowed: 1-65535\)/],
    [':-80:80/tcp', /parent port "-80" is not a decimal number/],
    [':0x50:80/tcp', /parent port "0x50" is not a decimal number/],
    [': 80:80/tcp', /parent port " 80" is not a decimal number/],
    [':80:8.0/tcp', /child port "8\.0" is not a decimal number/],
    [':8080:[80]/tcp', /child port "\[80\]" is not a decimal number/],
    [':8080:80/tcpx', /proto "tcpx" is unknown \(allowed: tcp, tcp4, tcp6, udp, udp4, udp6, sctp, sctp4, sctp6\)/],
    [':8080:80/TCP', /proto "TCP" is unknown/],
    [':8080:80/', /proto "" is unknown/],
    [':8080:80/tcp ', /unexpected " " after proto "tcp"/],
    [':8080:80/udp/tcp', /unexpected "\/tcp" after proto "udp"/],
    ['[::1:8080:80/tcp', /unbalanced or misplaced "\[" at offset 0/],
    ['::1]:8080:80/tcp', /unbalanced or misplaced "\]" at offset 3/],
    ['[[::1]]:8080:80/tcp', /unbalanced or misplaced "\["/],
    ['[::1]x:8080:80/tcp', /unexpected "x:8080:80" after "\[::1\]" \(expected ":"\)/],
    ['[1.2.3.4]:8080:80/tcp', /parent IP "\[1\.2\.3\.4\]" is not an IPv6 address \(only IPv6 addresses go in brackets/],
    [':8080:[10.0.2.100]:80/tcp', /child IP "\[10\.0\.2\.100\]" is not an IPv6 address/],
    ['[]:8080:80/tcp', /parent IP "\[\]" is not an IPv6 address/],
    ['[fe80::1%eth0]:8080:80/tcp', /parent IP "\[fe80::1%eth0\]" is not an IP address .*without a zone id/],
    ['localhost:8080:80/tcp', /parent IP "localhost" is not an IP address \(allowed: IPv4/],
    ['1.2.3:8080:80/tcp', /parent IP "1\.2\.3" is not an IP address/],
    [' 0.0.0.0:8080:80/tcp', /parent IP " 0\.0\.0\.0" is not an IP address/],
    ['0.0.0.0:8080:80/tcp6', /parent IP "0\.0\.0\.0" is IPv4 but proto "tcp6" is IPv6 only \(use an IPv6 address, or "tcp"\)/],
    ['[::]:8080:80/udp4', /parent IP "\[::\]" is IPv6 but proto "udp4" is IPv4 only \(use an IPv4 address, or "udp"\)/],
  ];
  for (const [text, message] of MALFORMED) {
    test(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parsePortSpec(text),
        (err: unknown) => {
          assert.ok(err instanceof UserError, `${err} is a UserError`);
          assert.ok(err.message.startsWith(`invalid port spec ${JSON.stringify(text)}: `), err.message);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});

describe('formatPortSpec', () => {
  test('brackets IPv6 addresses and leaves an absent parent IP empty', () => {
    assert.equal(formatPortSpec({ proto: 'tcp6', parentPort: 8080, childIP: '::1', childPort: 80 }), ':8080:[::1]:80/tcp6');
  });
});

describe('validatePortSpec', () => {
  test('returns a clean copy: unknown keys dropped, empty and null IPs absent, keys in order', () => {
    const input = { childPort: 80, extra: true, childIP: null, parentIP: '', parentPort: 8080, proto: 'udp' };
    const spec = validatePortSpec(input as unknown as PortSpec);
    assert.deepEqual(spec, { proto: 'udp', parentPort: 8080, childPort: 80 });
    assert.deepEqual(Object.keys(spec), ['proto', 'parentPort', 'childPort']);
  });

  test('keeps given IPs as written and returns a new object', () => {
    const input: PortSpec = { proto: 'tcp', parentIP: '::', parentPort: 1, childIP: '10.0.2.100', childPort: 2 };
    const spec = validatePortSpec(input);
    assert.deepEqual(spec, input);
    assert.notEqual(spec, input);
  });

  const INVALID: [unknown, RegExp][] = [
    [null, /invalid port spec null: expected a JSON object/],
    [[1], /invalid port spec \[1\]: expected a JSON object/],
    ['0.0.0.0:8080:80/tcp', /expected a JSON object/],
    [{ parentPort: 1, childPort: 2 }, /: proto is missing$/],
    [{ proto: 'tcp', childPort: 2 }, /: parentPort is missing$/],
    [{ proto: 'tcp', parentPort: 2 }, /: childPort is missing$/],
    [{ proto: 'tcpx', parentPort: 1, childPort: 2 }, /: proto "tcpx" is unknown \(allowed: tcp, /],
    [{ proto: 'tcp', parentPort: '8080', childPort: 2 }, /: parentPort "8080" is not a number \(allowed: 1-65535\)/],
    [{ proto: 'tcp', parentPort: 8080.5, childPort: 2 }, /: parentPort 8080.5 is not an integer/],
    [{ proto: 'tcp', parentPort: 0, childPort: 2 }, /: parentPort 0 is out of range \(allowed: 1-65535\)/],
    [{ proto: 'tcp', parentPort: 1, childPort: 65536 }, /: childPort 65536 is out of range/],
    [{ proto: 'tcp', parentPort: 1, childPort: -1 }, /: childPort -1 is out of range/],
    [{ proto: 'tcp', parentIP: '[::1]', parentPort: 1, childPort: 2 }, /: parentIP "\[::1\]" is not an IP address/],
    [{ proto: 'tcp', parentIP: 1, parentPort: 1, childPort: 2 }, /: parentIP 1 is not an IP address/],
    [{ proto: 'tcp', childIP: 'fe80::1%lo', parentPort: 1, childPort: 2 }, /: childIP "fe80::1%lo" is not an IP address/],
    [{ proto: 'udp6', parentIP: '127.0.0.1', parentPort: 1, childPort: 2 }, /: parentIP "127.0.0.1" is IPv4 but proto "udp6" is IPv6 only/],
  ];
  for (const [input, message] of INVALID) {
    test(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => validatePortSpec(input as PortSpec), (err: unknown) => err instanceof UserError && message.test(err.message));
    });
  }
});

/** mulberry32: a tiny seeded PRNG, so a failing case can be reproduced. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomSpec(random: () => number): PortSpec {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const ipv4 = () => Array.from({ length: 4 }, () => int(256)).join('.');
  const ipv6 = () => {
    const groups = Array.from({ length: 8 }, () => int(0x10000).toString(16));
    return pick([
      () => groups.join(':'),
      () => `${groups.slice(0, int(4)).join(':')}::${groups.slice(5).join(':')}`,
      () => `::ffff:${ipv4()}`,
      () => groups.join(':').toUpperCase(),
      () => '::',
    ])();
  };
  const proto: Proto = pick(PROTOS);
  const family = proto.at(-1);
  const parentIP = pick([undefined, family === '6' ? undefined : ipv4(), family === '4' ? undefined : ipv6()]);
  const childIP = pick([undefined, ipv4(), ipv6()]);
  return {
    proto,
    ...(parentIP === undefined ? {} : { parentIP }),
    parentPort: 1 + int(65535),
    ...(childIP === undefined ? {} : { childIP }),
    childPort: 1 + int(65535),
  };
}

describe('round trips', () => {
  test('parse(format(spec)) deep-equals spec and format(parse(text)) === text for 5000 random specs', () => {
    const random = prng(20240501);
    for (let i = 0; i < 5000; i++) {
      const spec = randomSpec(random);
      const text = formatPortSpec(spec);
      const parsed = parsePortSpec(text);
      assert.deepEqual(parsed, spec, text);
      assert.deepEqual(Object.keys(parsed), Object.keys(spec), text);
      assert.equal(formatPortSpec(parsed), text);
      assert.deepEqual(validatePortSpec(spec), spec, text);
    }
  });
});
