import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { UserError } from '../../src/errors.js';
import { evacuateCgroup2 } from '../../src/parent/cgroup2.js';
import { parseMountinfo, propagationWarning } from '../../src/parent/mountinfo.js';

/** Lines of this machine's kind (a container: / private, cgroup v1 with cgroup2 at /sys/fs/cgroup/unified), and a host's. */
const CONTAINER = `
584 483 0:52 / / rw,relatime master:363 - overlay overlay rw,lowerdir=/a
22 584 0:21 / /proc rw,relatime - proc proc rw
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
90 584 0:60 / /mnt/with\\040space rw - tmpfs tmpfs rw
`;
const PRIVATE_ROOT = '27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n';
const HOST = `
29 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
35 29 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate
`;

describe('mountinfo', () => {
  it('gives each mount point (unescaped), its optional fields and its type', () => {
    assert.deepEqual(parseMountinfo(CONTAINER), [
      { mountPoint: '/', optional: ['master:363'], fsType: 'overlay' },
      { mountPoint: '/proc', optional: [], fsType: 'proc' },
      { mountPoint: '/sys/fs/cgroup/unified', optional: [], fsType: 'cgroup2' },
      { mountPoint: '/mnt/with space', optional: [], fsType: 'tmpfs' },
    ]);
  });

  it("warns as RootlessKit when --propagation is not private and the host's / is not shared", () => {
    assert.equal(
      propagationWarning('rslave', parseMountinfo(CONTAINER)),
      'the host\'s root filesystem is not a shared mount (its propagation in /proc/self/mountinfo is "master:363", as inside a container): --propagation=rslave is not supported there',
    );
    assert.match(propagationWarning('rslave', parseMountinfo(PRIVATE_ROOT))!, /propagation in \/proc\/self\/mountinfo is "",/);
    assert.equal(propagationWarning('rslave', parseMountinfo(HOST)), undefined);
    assert.equal(propagationWarning('rprivate', parseMountinfo(CONTAINER)), undefined);
    assert.match(propagationWarning('rslave', [])!, /cannot check how the host's root filesystem propagates mounts/);
  });
});

describe('--evacuate-cgroup2 in the parent', () => {
  /** A fake cgroup2 tree under a temp dir, nsgate in /user.slice/app. */
  function tree(mounts: string, selfCgroup: string, fn: (root: string, run: () => string[]) => void): void {
    const root = mkdtempSync(join(tmpdir(), 'nsgate-cgroup-test-'));
    const group = join(root, 'sys/fs/cgroup/user.slice/app');
    mkdirSync(group, { recursive: true });
    writeFileSync(join(group, 'cgroup.procs'), '0\n1234\n');
    writeFileSync(join(group, 'cgroup.controllers'), 'cpu memory pids\n');
    try {
      fn(root, () => {
        const warnings: string[] = [];
        evacuateCgroup2('evac', { mounts: parseMountinfo(mounts), selfCgroup, root }, (msg) => warnings.push(msg));
        return warnings;
      });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }

  it('makes the subgroup, moves the processes there and enables the controllers for the subgroups', () => {
    tree(HOST, '0::/user.slice/app\n', (root, run) => {
      assert.deepEqual(run(), []);
      const group = join(root, 'sys/fs/cgroup/user.slice/app');
      assert.equal(readFileSync(join(group, 'evac/cgroup.procs'), 'utf8'), '1234', 'pid 0 (a process of another pid namespace) is skipped');
      assert.equal(readFileSync(join(group, 'cgroup.subtree_control'), 'utf8'), '+pids', 'one controller per write (the fake file keeps the last)');
    });
  });

  it('warns and goes on where RootlessKit does', () => {
    tree('29 1 8:1 / / rw - ext4 /dev/sda1 rw\n', '0::/user.slice/app\n', (_root, run) => {
      assert.deepEqual(run(), ['--evacuate-cgroup2: cgroup2 is not mounted, so there is nothing to evacuate']);
    });
    tree(HOST, '1:name=systemd:/\n', (_root, run) => {
      assert.deepEqual(run(), ['--evacuate-cgroup2: nsgate is in no cgroup2 group (no 0:: line in /proc/self/cgroup), so there is nothing to evacuate']);
    });
    tree(`${HOST}36 29 0:31 / /other rw - cgroup2 cgroup2 rw\n`, '0::/user.slice/app\n', (_root, run) => {
      assert.deepEqual(run(), ['--evacuate-cgroup2: cgroup2 is mounted 2 times; using /sys/fs/cgroup']);
    });
    tree(HOST, '0::/user.slice/app\n', (root, run) => {
      mkdirSync(join(root, 'sys/fs/cgroup/user.slice/app/evac/cgroup.procs'), { recursive: true });
      mkdirSync(join(root, 'sys/fs/cgroup/user.slice/app/cgroup.subtree_control'));
      assert.deepEqual(run(), [
        '--evacuate-cgroup2: failed to move process 1234 to cgroup /user.slice/app/evac: EISDIR: illegal operation on a directory, open \'' + join(root, 'sys/fs/cgroup/user.slice/app/evac/cgroup.procs') + "'",
        ...['cpu', 'memory', 'pids'].map(
          (c) => `--evacuate-cgroup2: failed to enable controller ${c} for the subgroups of /user.slice/app: EISDIR: illegal operation on a directory, open '${join(root, 'sys/fs/cgroup/user.slice/app/cgroup.subtree_control')}'`,
        ),
      ]);
    });
  });

  it('fails, saying what to do, when the subgroup cannot be made', () => {
    tree(HOST, '0::/elsewhere\n', (root, run) => {
      writeFileSync(join(root, 'sys/fs/cgroup/elsewhere'), '');
      assert.throws(run, (err: unknown) => err instanceof UserError && /^--evacuate-cgroup2=evac: cannot create the cgroup .*\/sys\/fs\/cgroup\/elsewhere\/evac: .* \(nsgate's cgroup, \/elsewhere, must be delegated to you, e\.g\. by systemd-run --user -p Delegate=yes\)$/.test(err.message));
    });
  });
});
