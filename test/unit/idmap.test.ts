import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapArgs, parseGetsubidsOutput, parseSubIdFile } from '../../src/parent/idmap.js';

test('sub-id ranges are matched by user name or numeric id, and junk lines are ignored', () => {
  const text = 'alice:100000:65536\nbob:200000:65536\n1001:300000:1000\nalice:bad:1\n\nalice:400000:0\n';
  assert.deepEqual(parseSubIdFile(text, 'alice', 1001), [
    { start: 100000, count: 65536 },
    { start: 300000, count: 1000 },
  ]);
  assert.deepEqual(parseSubIdFile(text, 'carol', 1002), []);
});

test('getsubids output is parsed', () => {
  assert.deepEqual(parseGetsubidsOutput('0: alice 100000 65536\n1: alice 300000 1000\n'), [
    { start: 100000, count: 65536 },
    { start: 300000, count: 1000 },
  ]);
  assert.deepEqual(parseGetsubidsOutput('Error fetching ranges\n'), []);
});

test('the map puts the caller at 0 and the ranges after it, contiguously', () => {
  assert.deepEqual(mapArgs(1001, [{ start: 100000, count: 65536 }, { start: 300000, count: 10 }]), [
    '0', '1001', '1',
    '1', '100000', '65536',
    '65537', '300000', '10',
  ]);
});
