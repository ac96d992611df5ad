import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { UserError } from '../../src/errors.js';
import { expandPortRange, formatPortSpec, parsePortSpec, validatePortRangeSpec, validatePortSpec } from '../../src/port/spec.js';
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

type Verdict = PortSpec | RegExp;
const spec = (proto: Proto, parentIP: string | undefined, parentPort: number, childIP: string | undefined, childPort: number): PortSpec => ({
  proto,
  ...(parentIP === undefined ? {} : { parentIP }),
  parentPort,
  ...(childIP === undefined ? {} : { childIP }),
  childPort,
});

/**
 * Specs with RootlessKit v2.3.4's verdict, each checked live (`rootlesskit --net=slirp4netns --port-driver=builtin
 * -p SPEC true` as the test user, and its own portutil package on 1.1 million generated specs), and nsgate's.
 * nsgate accepts what v2.3.4 accepts, with the same meaning, and refuses what it refuses, except the rows marked
 * `deliberate`: v2.3.4 accepts those by accident of the Go tokenizer it splits specs with (text/scanner), and
 * publishes something other than what was written. Rows marked `extension` are nsgate's own forms that v2.3.4 refuses.
 */
const ROOTLESSKIT_TABLE: { text: string; rootlesskit: 'accepts' | 'refuses'; nsgate: Verdict; deliberate?: string; extension?: string }[] = [
  { text: '127.0.0.1:47801:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, undefined, 80) },
  { text: ':47801:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', undefined, 47801, undefined, 80) },
  { text: '0.0.0.0:47801:80/tcp4', rootlesskit: 'accepts', nsgate: spec('tcp4', '0.0.0.0', 47801, undefined, 80) },
  { text: '[::]:47801:80/tcp6', rootlesskit: 'accepts', nsgate: spec('tcp6', '::', 47801, undefined, 80) },
  { text: '[::1]:47801:[::1]:80/tcp6', rootlesskit: 'accepts', nsgate: spec('tcp6', '::1', 47801, '::1', 80) },
  // Brackets around any address, IPv4 too (RootlessKit's own test scripts use them), and empty ones.
  { text: '[127.0.0.1]:47801:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, undefined, 80) },
  { text: '[::]:47801:[127.0.0.1]:80/tcp6', rootlesskit: 'accepts', nsgate: spec('tcp6', '::', 47801, '127.0.0.1', 80) },
  { text: '[::]:47801:[127.0.0.1]:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '::', 47801, '127.0.0.1', 80) },
  { text: '127.0.0.1:47801:[10.0.2.100]:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, '10.0.2.100', 80) },
  { text: '127.0.0.1:47801:[::1]:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, '::1', 80) },
  { text: '[]:47801:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', undefined, 47801, undefined, 80) },
  { text: '127.0.0.1:47801:[]:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, undefined, 80) },
  { text: '127.0.0.1:47801::80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, undefined, 80) },
  { text: '127.0.0.1:[47801]:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, undefined, 80) },
  { text: '127.0.0.1:47801:[80]/tcp', rootlesskit: 'refuses', nsgate: /child port "\[80\]" is not a decimal number/ },
  // Addresses as Go's net.ParseIP reads them: IPv4-mapped ones are IPv4, no zones, no leading zeros.
  { text: '[::ffff:127.0.0.1]:47801:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '::ffff:127.0.0.1', 47801, undefined, 80) },
  { text: '[::ffff:127.0.0.1]:47801:80/tcp4', rootlesskit: 'accepts', nsgate: spec('tcp4', '::ffff:127.0.0.1', 47801, undefined, 80) },
  { text: '[::ffff:7f00:1]:47801:80/tcp4', rootlesskit: 'accepts', nsgate: spec('tcp4', '::ffff:7f00:1', 47801, undefined, 80) },
  { text: '[::ffff:127.0.0.1]:47801:80/tcp6', rootlesskit: 'refuses', nsgate: /parent IP "\[::ffff:127\.0\.0\.1\]" is IPv4 \(IPv4-mapped, IPv4 to Go and RootlessKit\) but proto "tcp6" is IPv6 only/ },
  { text: '127.0.0.1:47801:[::ffff:127.0.0.1]:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, '::ffff:127.0.0.1', 80) },
  { text: '[0:0:0:0:0:0:0:1]:47801:80/tcp6', rootlesskit: 'accepts', nsgate: spec('tcp6', '0:0:0:0:0:0:0:1', 47801, undefined, 80) },
  { text: '[::FFFF:127.0.0.1]:47801:80/udp', rootlesskit: 'accepts', nsgate: spec('udp', '::FFFF:127.0.0.1', 47801, undefined, 80) },
  { text: '[::1]:47801:53/udp6', rootlesskit: 'accepts', nsgate: spec('udp6', '::1', 47801, undefined, 53) },
  { text: '[::1]:47801:127.0.0.1:80/tcp6', rootlesskit: 'accepts', nsgate: spec('tcp6', '::1', 47801, '127.0.0.1', 80) },
  { text: '0.0.0.0:47801:10.0.2.100:80/udp4', rootlesskit: 'accepts', nsgate: spec('udp4', '0.0.0.0', 47801, '10.0.2.100', 80) },
  { text: 'localhost:47801:80/tcp', rootlesskit: 'refuses', nsgate: /parent IP "localhost" is not an IP address/ },
  { text: '127.000.0.1:47801:80/tcp', rootlesskit: 'refuses', nsgate: /parent IP "127\.000\.0\.1" is not an IP address \(allowed: IPv4 like 127\.0\.0\.1 without leading zeros/ },
  { text: '127.0.0.01:47801:80/tcp', rootlesskit: 'refuses', nsgate: /parent IP "127\.0\.0\.01" is not an IP address/ },
  { text: '1.2.3:47801:80/tcp', rootlesskit: 'refuses', nsgate: /parent IP "1\.2\.3" is not an IP address/ },
  { text: '[fe80::1%lo]:47801:80/tcp6', rootlesskit: 'refuses', nsgate: /parent IP "\[fe80::1%lo\]" is not an IP address .*without a zone id/ },
  { text: '[::1%lo]:47801:80/tcp6', rootlesskit: 'refuses', nsgate: /parent IP "\[::1%lo\]" is not an IP address/ },
  { text: "'127.0.0.1':47801:80/tcp", rootlesskit: 'refuses', nsgate: /parent IP "'127\.0\.0\.1'" is not an IP address/ },
  { text: '"127.0.0.1":47801:80/tcp', rootlesskit: 'refuses', nsgate: /parent IP "\\"127\.0\.0\.1\\"" is not an IP address/ },
  { text: '127.0.0.1:47801:80/tcp6', rootlesskit: 'refuses', nsgate: /parent IP "127\.0\.0\.1" is IPv4 but proto "tcp6" is IPv6 only/ },
  { text: '[::1]:47801:80/tcp4', rootlesskit: 'refuses', nsgate: /parent IP "\[::1\]" is IPv6 but proto "tcp4" is IPv4 only/ },
  // Ports as Go's strconv.Atoi reads them: a sign and leading zeros are fine, then 1-65535.
  { text: '127.0.0.1:047801:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, undefined, 80) },
  { text: '127.0.0.1:47801:080/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, undefined, 80) },
  { text: '127.0.0.1:+47801:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, undefined, 80) },
  { text: '127.0.0.1:47801:+80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, undefined, 80) },
  { text: '127.0.0.1:-47801:80/tcp', rootlesskit: 'refuses', nsgate: /parent port "-47801" is out of range \(allowed: 1-65535, or 0 for a free port the kernel picks\)/ },
  { text: '127.0.0.1:47801:-80/tcp', rootlesskit: 'refuses', nsgate: /child port "-80" is out of range/ },
  { text: '127.0.0.1:0:80/tcp', rootlesskit: 'refuses', nsgate: spec('tcp', '127.0.0.1', 0, undefined, 80), extension: 'parent port 0: the kernel picks a free port' },
  { text: '127.0.0.1:47801:0/tcp', rootlesskit: 'refuses', nsgate: /child port "0" is out of range/ },
  { text: '127.0.0.1:65536:80/tcp', rootlesskit: 'refuses', nsgate: /parent port "65536" is out of range/ },
  { text: '127.0.0.1:47801:65536/tcp', rootlesskit: 'refuses', nsgate: /child port "65536" is out of range/ },
  { text: '127.0.0.1:99999999999999999999:80/tcp', rootlesskit: 'refuses', nsgate: /parent port "9+" is out of range/ },
  { text: '127.0.0.1:0x1000:80/tcp', rootlesskit: 'refuses', nsgate: /parent port "0x1000" is not a decimal number or a range like 8000-8009 \(allowed: 1-65535, or 0 for a free port the kernel picks\)/ },
  { text: '127.0.0.1:47_801:80/tcp', rootlesskit: 'refuses', nsgate: /parent port "47_801" is not a decimal number/ },
  // Blanks around the parts before the child port are skipped; the child port and the proto take none.
  { text: ' 127.0.0.1:47801:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, undefined, 80) },
  { text: '127.0.0.1 :47801:80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, undefined, 80) },
  { text: '127.0.0.1:\t47801 :80/tcp', rootlesskit: 'accepts', nsgate: spec('tcp', '127.0.0.1', 47801, undefined, 80) },
  { text: '[ ::1 ]:47801:80/tcp6', rootlesskit: 'accepts', nsgate: spec('tcp6', '::1', 47801, undefined, 80) },
  { text: '127.0.0.1:47801: 80/tcp', rootlesskit: 'refuses', nsgate: /child port " 80" is not a decimal number/ },
  { text: '127.0.0.1:47801:80 /tcp', rootlesskit: 'refuses', nsgate: /child port "80 " is not a decimal number/ },
  // The proto is after the last "/", the child port after the last ":" before it.
  { text: '127.0.0.1:47801:80/udp/tcp', rootlesskit: 'refuses', nsgate: /child port "80\/udp" is not a decimal number/ },
  { text: '127.0.0.1:47801:80', rootlesskit: 'refuses', nsgate: /missing "\/<proto>"/ },
  { text: '127.0.0.1:47801:80/', rootlesskit: 'refuses', nsgate: /proto "" is unknown \(allowed: tcp, tcp4, tcp6, udp, udp4, udp6, sctp, sctp4, sctp6\)/ },
  { text: '127.0.0.1:47801:80/TCP', rootlesskit: 'refuses', nsgate: /proto "TCP" is unknown/ },
  { text: '127.0.0.1:47801:80/tcpx', rootlesskit: 'refuses', nsgate: /proto "tcpx" is unknown/ },
  { text: '', rootlesskit: 'refuses', nsgate: /it is empty/ },
  { text: '47801:80/tcp', rootlesskit: 'refuses', nsgate: /missing the parent IP part, which may be empty: write ":47801:80\/tcp"/ },
  { text: ':47801/tcp', rootlesskit: 'refuses', nsgate: /expected 3 or 4 ":"-separated parts before "\/", got 2/ },
  { text: '80/tcp', rootlesskit: 'refuses', nsgate: /expected 3 or 4 .* got 1/ },
  { text: '127.0.0.1:47801:127.0.0.1:1:2:3/tcp', rootlesskit: 'refuses', nsgate: /expected 3 or 4 .* got 6/ },
  // Unbracketed IPv6 and misplaced brackets.
  { text: '::1:47801:80/tcp6', rootlesskit: 'refuses', nsgate: /got 5 .*IPv6 addresses go in brackets/ },
  { text: '::1:47801:[::1]:80/tcp6', rootlesskit: 'refuses', nsgate: /got 6/ },
  { text: '::1:80/tcp6', rootlesskit: 'refuses', nsgate: /the parent port \(part 2\) is empty \(IPv6 addresses go in brackets/ },
  { text: '[::1]x:47801:80/tcp6', rootlesskit: 'refuses', nsgate: /unexpected "x" after "\[::1\]" \(expected ":"\)/ },
  { text: '[[::1]]:47801:80/tcp6', rootlesskit: 'refuses', nsgate: /unbalanced or misplaced "\[" at offset 1/ },
  { text: '[::1]]:47801:80/tcp6', rootlesskit: 'refuses', nsgate: /unbalanced or misplaced "\]" at offset 5/ },
  { text: '[::1:47801:80/tcp6', rootlesskit: 'refuses', nsgate: /unbalanced or misplaced "\[" at offset 0/ },
  { text: '::1]:47801:80/tcp6', rootlesskit: 'refuses', nsgate: /unbalanced or misplaced "\]" at offset 3/ },
  // Accepted by v2.3.4's tokenizer, refused by nsgate.
  { text: '1 27.0.0.1:47801:80/tcp', rootlesskit: 'accepts', nsgate: /parent IP "1 27\.0\.0\.1" has blanks inside \(they may only surround it\)/, deliberate: 'v2.3.4 joins the pieces: parent IP 127.0.0.1' },
  { text: '127.0.0.1:4 7801:80/tcp', rootlesskit: 'accepts', nsgate: /parent port "4 7801" has blanks inside/, deliberate: 'v2.3.4 joins the pieces: parent port 47801' },
  { text: '127.0.0.1/**/:47801:80/tcp', rootlesskit: 'accepts', nsgate: /parent IP "127\.0\.0\.1\/\*\*\/" is not an IP address/, deliberate: 'v2.3.4 skips a Go comment' },
  { text: '127.0.0.1:47801:127.0.0.1:2:3/tcp', rootlesskit: 'accepts', nsgate: /expected 3 or 4 .* got 5/, deliberate: 'v2.3.4 appends the 4th part to the child port: child port 32' },
  { text: '127.0.0.1:47801:127.0.0.1::80/tcp', rootlesskit: 'accepts', nsgate: /expected 3 or 4 .* got 5/, deliberate: 'v2.3.4 ignores an empty 4th part' },
  { text: '127.0.0.1:47801:127.0.0.1:80:/tcp', rootlesskit: 'accepts', nsgate: /expected 3 or 4 .* got 5/, deliberate: 'v2.3.4 appends the 4th part to an empty child port: child port 80' },
  { text: '[::1]:47801:[::1]x:80/tcp6', rootlesskit: 'accepts', nsgate: /unexpected "x" after "\[::1\]"/, deliberate: 'v2.3.4 drops one token after "]"' },
  { text: '[::1]:47801:[127.0.0.1]junk:80/tcp6', rootlesskit: 'accepts', nsgate: /unexpected "junk" after "\[127\.0\.0\.1\]"/, deliberate: 'v2.3.4 drops one token after "]"' },
  { text: '0[::1]:47801:80/tcp6', rootlesskit: 'accepts', nsgate: /unbalanced or misplaced "\[" at offset 1/, deliberate: 'v2.3.4 joins the text before "[": parent IP 0::1' },
  { text: '[[::1]:47801:80/tcp6', rootlesskit: 'accepts', nsgate: /unbalanced or misplaced "\[" at offset 1/, deliberate: 'v2.3.4 ignores the second "["' },
];

describe('parsePortSpec against RootlessKit v2.3.4', () => {
  for (const { text, rootlesskit, nsgate, deliberate, extension } of ROOTLESSKIT_TABLE) {
    test(`${JSON.stringify(text)}: RootlessKit ${rootlesskit}${deliberate ? `, nsgate refuses (${deliberate})` : ''}${extension ? `, nsgate accepts (${extension})` : ''}`, () => {
      if (nsgate instanceof RegExp) {
        assert.ok(rootlesskit === 'refuses' || deliberate, 'a refusal where RootlessKit accepts must be deliberate');
        assert.throws(
          () => parsePortSpec(text),
          (err: unknown) => err instanceof UserError && err.message.startsWith(`invalid port spec ${JSON.stringify(text)}: `) && nsgate.test(err.message),
        );
      } else {
        assert.ok(rootlesskit === 'accepts' || extension, 'nsgate accepts only what RootlessKit accepts, and its own extensions');
        assert.deepEqual(parsePortSpec(text), nsgate);
      }
    });
  }
});

describe('parsePortSpec', () => {
  for (const [text, expected] of VALID) {
    test(`parses ${text}`, () => {
      const spec = parsePortSpec(text);
      assert.deepEqual(spec, expected);
      assert.deepEqual(Object.keys(spec), Object.keys(expected), 'absent fields are absent, keys in order');
      assert.equal(formatPortSpec(spec), text);
    });
  }

  // Each message must quote the input and name the part that is wrong.
  const MALFORMED: [string, RegExp][] = [
    ['', /it is empty \(the form is \[PARENT_IP\]:PARENT_PORT/],
    ['8080:80', /missing "\/<proto>" \(the form is .*e\.g\. 0\.0\.0\.0:8080:80\/tcp\)/],
    ['8080:80/tcp', /missing the parent IP part.*":8080:80\/tcp".*"0\.0\.0\.0:8080:80\/tcp"/],
    [':8080/tcp', /expected 3 or 4 ":"-separated parts before "\/", got 2/],
    ['80/tcp', /expected 3 or 4 .* got 1/],
    ['1.2.3.4:1:1.2.3.4:2:3/tcp', /expected 3 or 4 .* got 5/],
    ['::1:8080:80/tcp', /got 5 .*IPv6 addresses go in brackets/],
    ['::1:80/tcp', /the parent port \(part 2\) is empty \(IPv6 addresses go in brackets/],
    ['0.0.0.0::80/tcp', /the parent port \(part 2\) is empty/],
    ['0.0.0.0:[]:80/tcp', /the parent port \(part 2\) is empty/],
    ['0.0.0.0:8080:/tcp', /child port "" is not a decimal number/],
    [':8080:99999999999999999999999:80/tcp', /child IP "99999999999999999999999" is not an IP address/],
    [':0x50:80/tcp', /parent port "0x50" is not a decimal number/],
    [':80:8.0/tcp', /child port "8\.0" is not a decimal number/],
    [':8080:80/tcpx', /proto "tcpx" is unknown \(allowed: tcp, tcp4, tcp6, udp, udp4, udp6, sctp, sctp4, sctp6\)/],
    [':8080:80/tcp ', /unexpected " " after proto "tcp"/],
    [':8080:80/tcp:1', /unexpected ":1" after proto "tcp"/],
    ['[::1]x:8080:80/tcp', /unexpected "x" after "\[::1\]" \(expected ":"\)/],
    ['[fe80::1]:8080:[:: 1]:80/tcp', /child IP "\[:: 1\]" is not an IP address/],
    [':8080:[8 0]:80/tcp', /child IP "\[8 0\]" is not an IP address/],
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
    [{ proto: 'tcp', parentPort: '8080', childPort: 2 }, /: parentPort "8080" is not a number \(allowed: 1-65535, or 0 for a free port the kernel picks\)/],
    [{ proto: 'tcp', parentPort: 8080.5, childPort: 2 }, /: parentPort 8080.5 is not an integer/],
    [{ proto: 'tcp', parentPort: -1, childPort: 2 }, /: parentPort -1 is out of range \(allowed: 1-65535, or 0 for a free port the kernel picks\)/],
    [{ proto: 'tcp', parentPort: 1, childPort: 0 }, /: childPort 0 is out of range \(allowed: 1-65535\)/],
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
  // Not IPv4-mapped: the first group is never 0.
  const ipv6 = () => {
    const groups = Array.from({ length: 8 }, (_, i) => (int(0xffff) + (i === 0 ? 1 : 0)).toString(16));
    return pick([
      () => groups.join(':'),
      () => `${groups.slice(0, 1 + int(4)).join(':')}::${groups.slice(5).join(':')}`,
      () => groups.join(':').toUpperCase(),
      () => '::',
    ])();
  };
  // IPv4 to Go, so it fits *4 protos and not *6 ones.
  const mapped = () => pick([`::ffff:${ipv4()}`, `::FFFF:${int(0x10000).toString(16)}:${int(0x10000).toString(16)}`]);
  const proto: Proto = pick(PROTOS);
  const family = proto.at(-1);
  const parentIP = pick([undefined, family === '6' ? undefined : pick([ipv4(), mapped()]), family === '4' ? undefined : ipv6()]);
  const childIP = pick([undefined, ipv4(), ipv6(), mapped()]);
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

describe('port ranges and parent port 0 (nsgate extensions)', () => {
  test('a range of equal lengths parses with both ends, formats back, and expands in order', () => {
    const range = parsePortSpec('127.0.0.1:8000-8009:80-89/tcp');
    assert.deepEqual(range, { proto: 'tcp', parentIP: '127.0.0.1', parentPort: 8000, childPort: 80, parentPortEnd: 8009, childPortEnd: 89 });
    assert.equal(formatPortSpec(range), '127.0.0.1:8000-8009:80-89/tcp');
    const ports = expandPortRange(range);
    assert.equal(ports.length, 10);
    assert.deepEqual(ports[0], { proto: 'tcp', parentIP: '127.0.0.1', parentPort: 8000, childPort: 80 });
    assert.deepEqual(ports[9], { proto: 'tcp', parentIP: '127.0.0.1', parentPort: 8009, childPort: 89 });
    assert.deepEqual(expandPortRange(parsePortSpec('[::1]:5000-5001:[::1]:6000-6001/udp6')).map((p) => [p.parentPort, p.childPort]), [[5000, 6000], [5001, 6001]]);
  });

  test('one port expands to itself; a range of one is one port', () => {
    assert.deepEqual(expandPortRange(parsePortSpec(':8080:80/tcp')), [{ proto: 'tcp', parentPort: 8080, childPort: 80 }]);
    assert.deepEqual(expandPortRange(parsePortSpec(':8080-8080:80-80/tcp')), [{ proto: 'tcp', parentPort: 8080, childPort: 80 }]);
  });

  test('the limit: 1000 ports pass, 1001 are refused with the limit in the message', () => {
    assert.equal(expandPortRange(parsePortSpec(':10000-10999:20000-20999/tcp')).length, 1000);
    assert.throws(() => parsePortSpec(':10000-11000:20000-21000/tcp'), /a range of 1001 ports is longer than the limit of 1000/);
  });

  const INVALID: [string, RegExp][] = [
    ['127.0.0.1:8000-8009:80/tcp', /the parent side is 10 ports \(8000-8009\) but the child side is one port \(80\): both must have as many \(write equal ranges, e\.g\. 127\.0\.0\.1:8000-8009:80-89\/tcp\)/],
    ['127.0.0.1:8000:80-89/tcp', /the parent side is one port \(8000\) but the child side is 10 ports \(80-89\)/],
    ['127.0.0.1:8000-8009:80-88/tcp', /the parent side is 10 ports \(8000-8009\) but the child side is 9 ports \(80-88\)/],
    [':8009-8000:89-80/tcp', /the parent range 8009-8000 ends before it starts/],
    [':8000-8001:89-80/tcp', /the child range 89-80 ends before it starts/],
    [':65535-65536:1-2/tcp', /a range ends past port 65535/],
    [':0-9:80-89/tcp', /a parent port 0 \(a free port the kernel picks\) cannot start a range/],
    [':8000-:80/tcp', /parent port "8000-" is not a decimal number or a range like 8000-8009/],
    [':8000--8009:80/tcp', /parent port "8000--8009" is not a decimal number or a range/],
    [':-8000-8009:80/tcp', /parent port "-8000-8009" is not a decimal number or a range/],
    [':8000-8009:0-9/tcp', /child port "0-9" is out of range \(allowed: 1-65535\)/],
    [':8000:0/tcp', /child port "0" is out of range/],
    ['8000-8009:80-89/tcp', /missing the parent IP part, which may be empty: write ":8000-8009:80-89\/tcp"/],
  ];
  for (const [text, message] of INVALID) {
    test(`refuses ${text}`, () => {
      assert.throws(() => parsePortSpec(text), (err: unknown) => err instanceof UserError && err.message.startsWith(`invalid port spec ${JSON.stringify(text)}: `) && message.test(err.message));
    });
  }

  test('parent port 0 parses, formats back, and is one port', () => {
    assert.deepEqual(parsePortSpec('127.0.0.1:0:80/tcp'), { proto: 'tcp', parentIP: '127.0.0.1', parentPort: 0, childPort: 80 });
    assert.equal(formatPortSpec(parsePortSpec('[::1]:0:80/udp6')), '[::1]:0:80/udp6');
  });

  test('the API form: parentPortEnd and childPortEnd, both or none (0 and null are none)', () => {
    const base = { proto: 'tcp' as const, parentPort: 8000, childPort: 80 };
    assert.deepEqual(validatePortRangeSpec({ ...base, parentPortEnd: 8009, childPortEnd: 89 }), { ...base, parentPortEnd: 8009, childPortEnd: 89 });
    assert.deepEqual(validatePortRangeSpec({ ...base, parentPortEnd: 0, childPortEnd: 0 }), base);
    assert.deepEqual(validatePortRangeSpec({ ...base, parentPortEnd: null, childPortEnd: undefined } as never), base);
    assert.throws(() => validatePortRangeSpec({ ...base, parentPortEnd: 8009 }), /the parent side is 10 ports \(8000-8009\) but the child side is one port \(80\).*send both ends/);
    assert.throws(() => validatePortRangeSpec({ ...base, parentPortEnd: 9000, childPortEnd: 1080 }), /a range of 1001 ports is longer than the limit of 1000/);
    assert.throws(() => validatePortRangeSpec({ ...base, parentPortEnd: '8009', childPortEnd: 89 } as never), /parentPortEnd "8009" is not an integer port/);
    assert.throws(() => validatePortRangeSpec({ ...base, parentPort: 0, parentPortEnd: 9, childPortEnd: 89 }), /cannot start a range/);
  });
});
