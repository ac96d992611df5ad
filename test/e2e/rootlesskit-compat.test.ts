/**
 * RootlessKit v2.3.4's smaller flags, warnings and state dir, as the unprivileged test user meets them:
 * --print-semver, the warnings for --disable-host-loopback and --propagation, the networks nsgate lacks,
 * --evacuate-cgroup2, when child_pid appears. What RootlessKit does is what it did here (see the README's
 * compatibility section).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { probe } from './clients.js';
import { asUser, endNsgate, eventually, freePort, IS_ROOT, NSGATE, nsgate, Proc, runNsgate, TEST_USER, userEnv, userTempDir } from './harness.js';

const LOOPBACK_WARNING =
  "nsgate: warning: specifying --disable-host-loopback is highly recommended: without it, processes in the namespace can connect to the host's 127.0.0.1:* through 10.0.2.2\n";

describe('--print-semver', () => {
  test('prints the component of RootlessKit 2.3.4 (2, 3, 4) and runs nothing; another component is refused', async () => {
    const dir = userTempDir();
    try {
      for (const [component, printed] of [['major', '2\n'], ['minor', '3\n'], ['patch', '4\n']]) {
        const r = await runNsgate([`--print-semver=${component}`, 'touch', `${dir}/ran`]);
        assert.deepEqual([r.code, r.stdout, r.stderr], [0, printed, ''], component);
      }
      assert.equal(existsSync(`${dir}/ran`), false, 'COMMAND did not run');
      const bad = await runNsgate(['--print-semver', 'foo']);
      assert.deepEqual([bad.code, bad.stdout, bad.stderr], [1, '', 'nsgate: error: invalid value "foo" for --print-semver: allowed values are major, minor, patch\n']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('warnings', () => {
  test('--net=slirp4netns without --disable-host-loopback warns once; with it, not', async () => {
    const without = await runNsgate(['--net=slirp4netns', 'true']);
    assert.equal(without.code, 0, without.stderr);
    assert.equal(without.stderr.split(LOOPBACK_WARNING).length, 2, without.stderr);
    const withIt = await runNsgate(['--net=slirp4netns', '--disable-host-loopback', 'true']);
    assert.equal(withIt.code, 0, withIt.stderr);
    assert.doesNotMatch(withIt.stderr, /disable-host-loopback/);
  });

  test("--propagation=rslave warns when the host's / is not a shared mount (findmnt says so), and runs", async () => {
    const shared = /shared/.test(spawnSync('findmnt', ['-no', 'PROPAGATION', '/'], { encoding: 'utf8' }).stdout);
    const r = await runNsgate(['--propagation=rslave', 'sh', '-c', 'echo ran']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ran\n');
    const warning = /^nsgate: warning: the host's root filesystem is not a shared mount \(its propagation in \/proc\/self\/mountinfo is "[^"]*", as inside a container\): --propagation=rslave is not supported there$/m;
    if (shared) assert.doesNotMatch(r.stderr, warning);
    else assert.match(r.stderr, warning);
    assert.doesNotMatch((await runNsgate(['--propagation=rprivate', 'true'])).stderr, /propagation/);
  });
});

describe("RootlessKit's networks that nsgate does not have", () => {
  for (const net of ['vpnkit', 'lxc-user-nic', 'gvisor-tap-vsock']) {
    test(`--net=${net} is refused before COMMAND runs, naming the supported networks`, async () => {
      const dir = userTempDir();
      const r = await runNsgate([`--net=${net}`, 'touch', `${dir}/ran`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^nsgate: error: --net=${net} is not supported: nsgate has no .* network driver .*; allowed values are host, none, slirp4netns, pasta\\n$`));
      assert.equal(existsSync(`${dir}/ran`), false);
      rmSync(dir, { recursive: true, force: true });
    });
  }

  test('their binary and bridge flags are accepted and ignored, as RootlessKit ignores them with another --net', async () => {
    const r = await runNsgate(['--vpnkit-binary=/nonexistent/vpnkit', '--lxc-user-nic-binary=/nonexistent', '--lxc-user-nic-bridge=br9', 'sh', '-c', 'echo ran']);
    assert.deepEqual([r.code, r.stdout], [0, 'ran\n'], r.stderr);
  });
});

/** The cgroup2 mount point, if cgroup2 is mounted here. */
function cgroup2Mount(): string | undefined {
  return spawnSync('findmnt', ['-t', 'cgroup2', '-no', 'TARGET'], { encoding: 'utf8' }).stdout.split('\n')[0] || undefined;
}

describe('--evacuate-cgroup2', { skip: !IS_ROOT ? 'needs root, to delegate a cgroup to the test user' : cgroup2Mount() ? false : 'cgroup2 is not mounted' }, () => {
  test('in a cgroup delegated to the user: every process moves to the subgroup, which COMMAND sees in its cgroup2 at /sys/fs/cgroup', async () => {
    // A cgroup of the user's own, as systemd-run --user -p Delegate=yes gives one; nsgate starts in it.
    const group = join(cgroup2Mount()!, `nsgate-e2e-evac-${process.pid}`);
    mkdirSync(group);
    const uid = Number(spawnSync('id', ['-u', TEST_USER], { encoding: 'utf8' }).stdout);
    for (const path of ['', 'cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads']) chownSync(join(group, path), uid, uid);
    try {
      const script = 'grep "^0::" /proc/self/cgroup; echo "top: $(cat /sys/fs/cgroup/cgroup.procs)"; grep -qx "$$" /sys/fs/cgroup/evac/cgroup.procs && echo "in evac"; cat /sys/fs/cgroup/cgroup.subtree_control /sys/fs/cgroup/cgroup.controllers';
      for (const net of ['--net=host', '--net=slirp4netns']) {
        const [file, argv] = asUser(process.execPath, [NSGATE, net, '--disable-host-loopback', '--pidns', '--cgroupns', '--evacuate-cgroup2=evac', 'sh', '-c', script]);
        const p = new Proc(
          spawn('sh', ['-c', 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"', 'sh', group, file, ...argv], { env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] }),
        );
        const exit = await p.exited();
        assert.equal(exit.code, 0, `${net}: ${p.stderr}`);
        const [cgroup, top, moved, enabled = '', available = ''] = p.stdout.split('\n');
        assert.equal(cgroup, '0::/evac', `${net}: COMMAND is in the subgroup, seen from its cgroup namespace`);
        assert.equal(top, 'top: ', `${net}: no process is left in the cgroup itself`);
        assert.equal(moved, 'in evac', net);
        assert.deepEqual(enabled.split(' ').filter(Boolean).sort(), available.split(' ').filter(Boolean).sort(), `${net}: every controller is enabled for the subgroups`);
        assert.equal(p.stderr, '', net);
      }
    } finally {
      await eventually('the delegated cgroup can be removed', () => {
        try {
          if (existsSync(join(group, 'evac'))) rmdirSync(join(group, 'evac'));
          rmdirSync(group);
          return true;
        } catch {
          return false;
        }
      });
    }
  });

  test('where the cgroup is not the user\'s, it fails before COMMAND runs, saying what to do', async () => {
    const dir = userTempDir();
    const r = await runNsgate(['--pidns', '--cgroupns', '--evacuate-cgroup2=evac', 'touch', `${dir}/ran`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^nsgate: error: --evacuate-cgroup2=evac: cannot create the cgroup \/.*\/evac: EACCES: permission denied, .* must be delegated to you, e\.g\. by systemd-run --user -p Delegate=yes\)\n$/);
    assert.equal(existsSync(`${dir}/ran`), false);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('state dir', () => {
  test('child_pid is read-only and appears once the network and the -p ports are ready, replacing a stale one', async () => {
    const dir = userTempDir();
    const state = `${dir}/state`;
    const port = await freePort();
    const [file, argv] = asUser('sh', ['-c', `mkdir -m 700 ${state} && echo 999999 > ${state}/child_pid && chmod 444 ${state}/child_pid`]);
    assert.equal(spawnSync(file, argv).status, 0, 'a stale child_pid, as a SIGKILLed nsgate leaves it');
    const p = nsgate([`--state-dir=${state}`, '--net=slirp4netns', '--disable-host-loopback', '--port-driver=builtin', '-p', `127.0.0.1:${port}:80/tcp`, 'sleep', '30']);
    try {
      await eventually('a fresh child_pid', () => existsSync(`${state}/child_pid`) && readPid(`${state}/child_pid`) !== 999999, 20_000);
      assert.notEqual(await probe('127.0.0.1', port), 'refused', 'the published port listens already');
      assert.equal(statSync(`${state}/child_pid`).mode & 0o777, 0o444);
      await eventually('api.sock', () => existsSync(`${state}/api.sock`));
    } finally {
      await endNsgate(p);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function readPid(path: string): number {
  try {
    return Number(readFileSync(path, 'utf8'));
  } catch {
    return 0;
  }
}
