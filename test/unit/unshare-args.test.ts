import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unshareArgs } from '../../src/parent/namespace-handle.js';

const base = { net: 'slirp4netns', detachNetns: false, propagation: 'rprivate', pidns: false, utsns: false, ipcns: false, cgroupns: false } as const;

test('user, mount and network namespaces, with rprivate propagation by default', () => {
  assert.deepEqual(unshareArgs(base), ['--user', '--keep-caps', '--mount', '--propagation=private', '--net']);
});

test('--net=host keeps the host network namespace; rslave maps to slave', () => {
  assert.deepEqual(unshareArgs({ ...base, net: 'host', propagation: 'rslave' }), ['--user', '--keep-caps', '--mount', '--propagation=slave']);
});

test('the optional namespaces; --pidns forks so the child is pid 1 with its own /proc', () => {
  assert.deepEqual(unshareArgs({ ...base, utsns: true, ipcns: true, cgroupns: true, pidns: true }), [
    '--user', '--keep-caps', '--mount', '--propagation=private', '--net', '--uts', '--ipc', '--cgroup', '--pid', '--fork', '--kill-child', '--mount-proc',
  ]);
});
