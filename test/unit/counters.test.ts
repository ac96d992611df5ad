import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { addCounters, sumReadings, tcpCounters, udpCounters, type Counters } from '../../src/dataplane/counters.js';
import { portStats } from '../../src/port/stats.js';

const tcp = (connections: number, active: number, to: number, from: number, refused: number): Counters => ({
  ...tcpCounters(),
  connections,
  active,
  bytesToTarget: to,
  bytesFromTarget: from,
  refused,
});

describe('counters', () => {
  test('addCounters adds field by field and keeps the proto', () => {
    assert.deepEqual(addCounters(tcp(1, 1, 10, 20, 0), tcp(2, 0, 5, 7, 1)), tcp(3, 1, 15, 27, 1));
    const udp = { ...udpCounters(), flows: 2, datagramsToTarget: 3, bytesToTarget: 300, dropped: 1 };
    assert.deepEqual(addCounters(udp, udp), { ...udpCounters(), flows: 4, datagramsToTarget: 6, bytesToTarget: 600, dropped: 2 });
  });

  test('addCounters ignores a reading of the other proto, or none', () => {
    assert.deepEqual(addCounters(tcp(1, 0, 1, 1, 0), udpCounters()), tcp(1, 0, 1, 1, 0));
    assert.deepEqual(addCounters(tcp(1, 0, 1, 1, 0), undefined), tcp(1, 0, 1, 1, 0));
  });

  test('sumReadings sums each forward over the loops that report it, and keeps the others', () => {
    const total = sumReadings([
      [[1, tcp(1, 1, 100, 10, 0)]],
      [
        [1, tcp(2, 1, 50, 5, 1)],
        [2, tcp(0, 0, 0, 0, 0)],
      ],
      [],
    ]);
    assert.deepEqual(total.get(1), tcp(3, 2, 150, 15, 1));
    assert.deepEqual(total.get(2), tcp(0, 0, 0, 0, 0));
    assert.equal(total.size, 2);
  });

  test('sumReadings does not change the readings it sums', () => {
    const reading = tcp(1, 1, 1, 1, 1);
    sumReadings([[[1, reading]], [[1, reading]]]);
    assert.deepEqual(reading, tcp(1, 1, 1, 1, 1));
  });

  test('byte counts past 2^32 stay exact (JavaScript numbers are exact to 2^53)', () => {
    const big = tcp(0, 0, 2 ** 40, 0, 0);
    assert.equal((addCounters(big, big) as { bytesToTarget: number }).bytesToTarget, 2 ** 41);
  });
});

describe('portStats', () => {
  test('a published port: the target is the child, in the field names and order of the API', () => {
    const stats = portStats('tcp4', tcp(3, 1, 100, 200, 2));
    assert.deepEqual(stats, { connections: 3, active: 1, bytesToChild: 100, bytesFromChild: 200, refused: 2 });
    assert.deepEqual(Object.keys(stats), ['connections', 'active', 'bytesToChild', 'bytesFromChild', 'refused']);
    const udp = portStats('udp', { ...udpCounters(), flows: 1, active: 1, datagramsToTarget: 2, datagramsFromTarget: 3, bytesToTarget: 4, bytesFromTarget: 5, dropped: 6 });
    assert.deepEqual(Object.keys(udp), ['flows', 'active', 'datagramsToChild', 'datagramsFromChild', 'bytesToChild', 'bytesFromChild', 'dropped']);
    assert.deepEqual(Object.values(udp), [1, 1, 2, 3, 4, 5, 6]);
  });

  test('zeros of the right proto for a port not reported yet', () => {
    assert.deepEqual(portStats('udp6', undefined), { flows: 0, active: 0, datagramsToChild: 0, datagramsFromChild: 0, bytesToChild: 0, bytesFromChild: 0, dropped: 0 });
    assert.deepEqual(portStats('tcp', undefined), { connections: 0, active: 0, bytesToChild: 0, bytesFromChild: 0, refused: 0 });
  });
});
