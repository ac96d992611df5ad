import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GSO_MAX_BYTES, GSO_MAX_SEGMENTS, gsoGroupEnd } from '../../src/dataplane/udp-gso.js';

/** The groups that datagrams of `lengths` form, as lists of lengths. */
function groups(lengths: number[]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < lengths.length; ) {
    const end = gsoGroupEnd((j) => lengths[j]!, i, lengths.length);
    out.push(lengths.slice(i, end));
    i = end;
  }
  return out;
}

test('UDP GSO groups: equal lengths, then at most one shorter datagram, which ends the group', () => {
  assert.deepEqual(groups([1400, 1400, 1400]), [[1400, 1400, 1400]]);
  assert.deepEqual(groups([1400, 1400, 700, 1400]), [[1400, 1400, 700], [1400]]);
  assert.deepEqual(groups([700, 1400, 1400]), [[700], [1400, 1400]]);
  assert.deepEqual(groups([100, 101, 101, 99, 100]), [[100], [101, 101, 99], [100]]);
});

test('UDP GSO groups: an empty datagram is never grouped (the kernel cannot cut at length 0)', () => {
  assert.deepEqual(groups([0, 0, 8, 0, 8, 8]), [[0], [0], [8], [0], [8, 8]]);
});

test('UDP GSO groups: at most one packet of payload and the kernel segment limit', () => {
  const full = Math.floor(GSO_MAX_BYTES / 1400);
  assert.deepEqual(groups(Array(full + 1).fill(1400)).map((g) => g.length), [full, 1]);
  assert.deepEqual(groups(Array(GSO_MAX_SEGMENTS + 3).fill(1)).map((g) => g.length), [GSO_MAX_SEGMENTS, 3]);
  assert.deepEqual(groups([30_000, 30_000, 30_000, 5_000]), [[30_000, 30_000], [30_000, 5_000]]);
  assert.deepEqual(groups([GSO_MAX_BYTES, 1]), [[GSO_MAX_BYTES], [1]]);
});

test('UDP GSO groups: a group ends where the run ends', () => {
  assert.equal(gsoGroupEnd(() => 1400, 3, 5), 5);
  assert.equal(gsoGroupEnd(() => 1400, 4, 5), 5);
});
