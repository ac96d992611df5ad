import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openStateDir } from '../../src/parent/state-dir.js';

test('a state dir under /proc fails with a message instead of hanging in mkdir', () => {
  // Node's recursive mkdirSync loops forever there (the kernel answers ENOENT to a mkdir whose parent exists).
  assert.throws(() => openStateDir('/proc/nsgate-nope/state'), { message: /^cannot create state dir \/proc\/nsgate-nope\/state: ENOENT/ });
});

test('a missing state dir is made with its missing parents, each 0700, and removed only as far as nsgate owns it', () => {
  const base = mkdtempSync(join(tmpdir(), 'nsgate-unit-'));
  try {
    const dir = openStateDir(join(base, 'a', 'b'));
    assert.equal(statSync(join(base, 'a')).mode & 0o777, 0o700);
    assert.equal(statSync(dir.path).mode & 0o777, 0o700);
    dir.remove();
    assert.ok(statSync(dir.path).isDirectory(), 'a given state dir stays; only nsgate files go');
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
