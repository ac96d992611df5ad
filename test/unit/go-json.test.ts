import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeFirstJsonValue, JsonFraction } from '../../src/api/go-json.js';

test('reads the first JSON value and ignores what follows it, as json.Decoder.Decode', () => {
  assert.deepEqual(decodeFirstJsonValue(' {"a":[1,{"b":"x\\u0041"}]} junk'), { a: [1, { b: 'xA' }] });
  assert.deepEqual(decodeFirstJsonValue('{"a":1}{"b":'), { a: 1 });
  assert.deepEqual(decodeFirstJsonValue('[]'), []);
  assert.equal(decodeFirstJsonValue('"s"'), 's');
  assert.equal(decodeFirstJsonValue('null'), null);
});

test('a number with a fraction or an exponent comes back as its literal; integers as numbers', () => {
  const value = decodeFirstJsonValue('{"a":8080.0,"b":8e1,"c":-0,"d":12}') as Record<string, unknown>;
  assert.deepEqual(value.a, new JsonFraction('8080.0'));
  assert.deepEqual(value.b, new JsonFraction('8e1'));
  assert.ok(Object.is(value.c, -0));
  assert.equal(value.d, 12);
});

test('a key given twice keeps its last non-null value, placed where it last appeared', () => {
  assert.deepEqual(Object.entries(decodeFirstJsonValue('{"p":"udp","P":"tcp","p":"sctp"}') as object), [['P', 'tcp'], ['p', 'sctp']]);
  assert.deepEqual(decodeFirstJsonValue('{"p":"tcp","p":null}'), { p: 'tcp' });
  assert.deepEqual(decodeFirstJsonValue('{"p":null,"p":"tcp"}'), { p: 'tcp' });
  const proto = decodeFirstJsonValue('{"__proto__":{"polluted":1}}') as object;
  assert.deepEqual(Object.keys(proto), ['__proto__']);
  assert.equal(Object.getPrototypeOf(proto), Object.prototype);
});

test('says where the text stops being JSON', () => {
  const cases: [string, RegExp][] = [
    ['', /^unexpected end of JSON input$/],
    ['{', /^unexpected end of JSON input$/],
    ['{"a"}', /^expected ":" at offset 4, got "}"$/],
    ['{"a":}', /^expected a value at offset 5, got "}"$/],
    ['[1,]', /^expected a value at offset 3, got "]"$/],
    ['{"a":1,}', /^expected an object key \(a string\) at offset 7, got "}"$/],
    ['{"a":01}', /^expected "," or "}" at offset 6, got a value$/],
    ['nul', /^unexpected "nul" at offset 0$/],
    ['{"a":"\u0001"}', /^unexpected "\\"\\u0001\\"}" at offset 5$/],
    ['['.repeat(10_001), /^nested deeper than 10000 levels$/],
  ];
  for (const [text, message] of cases) assert.throws(() => decodeFirstJsonValue(text), (err: unknown) => err instanceof SyntaxError && message.test(err.message), text);
  assert.ok(Array.isArray(decodeFirstJsonValue(`${'['.repeat(10_000)}${']'.repeat(10_000)}`)));
});

test('agrees with JSON.parse on 20,000 generated documents', () => {
  let seed = 5;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const generate = (depth: number): unknown => {
    const r = random();
    if (depth > 4 || r < 0.3) return pick([1, -25, 0, 's"\\\n\u2028', true, false, null, 'é', '']);
    if (r < 0.6) return Array.from({ length: Math.floor(random() * 4) }, () => generate(depth + 1));
    return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, () => [`k${Math.floor(random() * 5)}`, generate(depth + 1)]));
  };
  for (let i = 0; i < 20_000; i++) {
    const text = JSON.stringify(generate(0), null, random() < 0.5 ? 1 : undefined);
    assert.deepEqual(decodeFirstJsonValue(text), JSON.parse(text), text);
  }
});
