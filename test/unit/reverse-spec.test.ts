import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { UserError } from '../../src/errors.js';
import { formatReverseSpec, parseReverseSpec, validateReverseSpec, type ReverseSpec } from '../../src/port/reverse-spec.js';

const VALID: [string, ReverseSpec][] = [
  ['5432:5432/tcp', { proto: 'tcp', childIP: '127.0.0.1', childPort: 5432, parentIP: '127.0.0.1', parentPort: 5432 }],
  ['8053:53/udp', { proto: 'udp', childIP: '127.0.0.1', childPort: 8053, parentIP: '127.0.0.1', parentPort: 53 }],
  ['10.0.2.100:80:8080/tcp', { proto: 'tcp', childIP: '10.0.2.100', childPort: 80, parentIP: '127.0.0.1', parentPort: 8080 }],
  ['80:[::1]:8080/tcp', { proto: 'tcp', childIP: '127.0.0.1', childPort: 80, parentIP: '::1', parentPort: 8080 }],
  ['[::1]:80:127.0.0.2:8080/tcp', { proto: 'tcp', childIP: '::1', childPort: 80, parentIP: '127.0.0.2', parentPort: 8080 }],
  ['[::]:53:[::1]:53/udp', { proto: 'udp', childIP: '::', childPort: 53, parentIP: '::1', parentPort: 53 }],
];

describe('parseReverseSpec', () => {
  for (const [text, expected] of VALID) {
    test(`parses ${text}`, () => {
      const spec = parseReverseSpec(text);
      assert.deepEqual(spec, expected);
      assert.deepEqual(parseReverseSpec(formatReverseSpec(spec)), spec, 'formats back to the same spec');
    });
  }
  test('formats with both IPs', () => {
    assert.equal(formatReverseSpec(parseReverseSpec('5432:[::1]:5433/tcp')), '127.0.0.1:5432:[::1]:5433/tcp');
  });

  const INVALID: [string, RegExp][] = [
    ['5432:5432', /missing "\/tcp" or "\/udp" at the end/],
    ['5432/tcp', /expected 2 to 4 ":"-separated parts, got 1/],
    ['1.2.3.4:1:1.2.3.4:2:3/tcp', /expected 2 to 4 ":"-separated parts, got 5/],
    ['::1:80:8080/tcp', /expected 2 to 4 ":"-separated parts, got 5 \(IPv6 addresses go in brackets\)/],
    ['5432:5432/tcp4', /proto "tcp4" is not tcp or udp \(the IPs choose IPv4 or IPv6\)/],
    ['5432:5432/sctp', /proto "sctp" is not tcp or udp/],
    ['x:5432/tcp', /the child port "x" is not a port number/],
    ['5432:y/udp', /the parent port "y" is not a port number/],
    ['0:5432/tcp', /childPort 0 is not a port \(allowed: 1-65535\)/],
    ['5432:65536/tcp', /parentPort 65536 is not a port/],
    ['localhost:80:8080/tcp', /childIP "localhost" is not an IP address/],
    ['80:127.0.0.01:8080/tcp', /parentIP "127\.0\.0\.01" is not an IP address/],
    ['[::1:80:8080/tcp', /unclosed "\["/],
    ['a[::1]:80:8080/tcp', /misplaced "\["/],
  ];
  for (const [text, message] of INVALID) {
    test(`refuses ${text}`, () => {
      assert.throws(
        () => parseReverseSpec(text),
        (err: unknown) => err instanceof UserError && err.message.startsWith(`invalid reverse port spec ${JSON.stringify(text)}: `) && message.test(err.message) && err.message.includes('(the form is '),
      );
    });
  }
});

describe('validateReverseSpec (the API form)', () => {
  test('defaults both IPs to 127.0.0.1; empty and null are not given', () => {
    assert.deepEqual(validateReverseSpec({ proto: 'udp', childPort: 1, parentPort: 2, childIP: '', parentIP: null }), { proto: 'udp', childIP: '127.0.0.1', childPort: 1, parentIP: '127.0.0.1', parentPort: 2 });
  });
  test('names the field that is wrong', () => {
    assert.throws(() => validateReverseSpec({ proto: 'tcp', childPort: '80', parentPort: 2 }), /: invalid reverse port spec .*: childPort "80" is not a port \(allowed: 1-65535\)$/);
    assert.throws(() => validateReverseSpec({ proto: 'tcp', childPort: 80 }), /parentPort undefined is not a port/);
    assert.throws(() => validateReverseSpec({ proto: 'tcp', childPort: 80.5, parentPort: 1 }), /childPort 80\.5 is not a port/);
  });
});
