import assert from 'node:assert/strict';
import { test } from 'node:test';
import { networkAddresses } from '../../src/network/addresses.js';

test('the child is network + 100, the gateway + 2, the DNS + 3 (slirp4netns\' layout)', () => {
  assert.deepEqual(networkAddresses('10.0.2.0/24'), { network: '10.0.2.0', prefix: 24, childIP: '10.0.2.100', gateway: '10.0.2.2', dns: '10.0.2.3' });
  assert.equal(networkAddresses('10.99.0.0/24').childIP, '10.99.0.100');
  assert.equal(networkAddresses('172.16.0.0/16').gateway, '172.16.0.2');
  assert.equal(networkAddresses('192.168.1.128/25').childIP, '192.168.1.228');
});
