/** The launcher as a user meets it: namespaces, id maps, network drivers, copy-up, state dir, exit codes, signals. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import { descendants, eventually, FIXTURE, freePort, IS_ROOT, NSGATE, NSGATECTL, nsgate, running, runNsgate, startAsUser, userProcesses, userTempDir } from './harness.js';
import { describePeer, REFERENCE_VERSION, referencePeer } from './peers.js';

const sh = (script: string) => ['sh', '-c', script];

describe('namespaces and exit codes', () => {
  test('COMMAND runs as uid 0 with the caller mapped, in its own network namespace', async () => {
    const r = await runNsgate(['--net=none', ...sh('id -u; id -g; cat /proc/self/uid_map; ip -o link show | cut -d: -f2')]);
    assert.equal(r.code, 0, r.stderr);
    const [uid, gid, ...rest] = r.stdout.trim().split('\n');
    assert.equal(uid, '0');
    assert.equal(gid, '0');
    const maps = rest.filter((l) => /^\s*\d+\s+\d+\s+\d+/.test(l)).map((l) => l.trim().split(/\s+/).map(Number));
    assert.deepEqual(maps[0]!.slice(0, 1), [0], 'the caller is uid 0 inside');
    assert.ok(maps.length >= 2 && maps[1]![2]! >= 65536, `sub-id range mapped too: ${JSON.stringify(maps)}`);
    const links = rest.filter((l) => !/^\s*\d+\s+\d+\s+\d+/.test(l)).map((l) => l.trim());
    assert.deepEqual(links, ['lo'], 'only lo in the new namespace');
  });

  test('COMMAND has every capability in its namespace, but none inheritable or ambient, as under RootlessKit (with and without --pidns)', async () => {
    for (const flags of [[], ['--pidns']]) {
      const r = await runNsgate(['--net=none', ...flags, 'grep', '^Cap', '/proc/self/status']);
      assert.equal(r.code, 0, r.stderr);
      const caps = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/) as [string, string]));
      const all = caps.CapBnd!;
      assert.match(all, /^0*1?f+$/, `the full bounding set: ${r.stdout}`);
      assert.deepEqual({ CapPrm: caps.CapPrm, CapEff: caps.CapEff, CapInh: caps.CapInh, CapAmb: caps.CapAmb }, { CapPrm: all, CapEff: all, CapInh: '0000000000000000', CapAmb: '0000000000000000' }, flags.join(' '));
    }
  });

  test('the exit code is COMMAND\'s: 0, 7, and 255 for a signal, as RootlessKit; a failure is named as Go names it', async () => {
    const ok = await runNsgate(['--net=none', 'true']);
    assert.equal(ok.code, 0);
    assert.equal(ok.stderr, '');
    const seven = await runNsgate(['--net=none', ...sh('exit 7')]);
    assert.equal(seven.code, 7);
    assert.match(seven.stderr, /^nsgate: error: command \[sh -c exit 7\] exited: exit status 7$/m);
    for (const [flags, name] of [[[], 'terminated'], [['--pidns'], 'terminated'], [['--pidns', '--reaper=false'], 'terminated']] as const) {
      const killed = await runNsgate(['--net=none', ...flags, ...sh('kill -TERM $$')]);
      assert.equal(killed.code, 255, `${flags.join(' ')}: ${killed.stderr}`);
      assert.match(killed.stderr, new RegExp(`exited: signal: ${name}$`, 'm'));
    }
    const usr1 = await runNsgate(['--net=none', ...sh('kill -USR1 $$')]);
    assert.equal(usr1.code, 255);
    assert.match(usr1.stderr, /exited: signal: user defined signal 1$/m);
  });

  test('--pidns: COMMAND is in a new pid namespace whose orphans are reaped (--reaper=auto), and stdin still reaches it', async () => {
    const r = await runNsgate(['--net=none', '--pidns', ...sh('(sleep 0.1 &); sleep 0.6; ps -eo pid=,stat=,comm=; exit 9')]);
    assert.equal(r.code, 9, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
    assert.deepEqual(rows[0], ['1', 'S', 'sh'], 'a reaper is pid 1');
    assert.ok(!rows.some(([, stat]) => stat!.startsWith('Z')), `no zombies: ${r.stdout}`);
    const piped = startAsUser('sh', ['-c', `echo through-stdin | ${process.execPath} ${NSGATE} --net=none --pidns cat`]);
    await piped.exited();
    assert.equal(piped.stdout, 'through-stdin\n', piped.stderr);
  });

  test('--pidns --reaper=false: COMMAND\'s orphans are not reaped (node is pid 1)', async () => {
    const r = await runNsgate(['--net=none', '--pidns', '--reaper=false', ...sh('(sleep 0.1 &); sleep 0.6; ps -eo stat=,comm=')]);
    assert.match(r.stdout, /^Z\s+sleep$/m);
  });

  test('a COMMAND that cannot be exec\'d fails with status 1 in RootlessKit\'s words', async () => {
    const missing = await runNsgate(['--net=none', 'no-such-command-xyz']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^nsgate: error: command \[no-such-command-xyz\] exited: exec: "no-such-command-xyz": executable file not found in \$PATH$/m);
    // A file without `#!`: Go's exec refuses it where execvp would run it as a shell script.
    const notProgram = await runNsgate(['--net=none', '/etc/hostname']);
    assert.equal(notProgram.code, 1);
    assert.match(notProgram.stderr, /exited: fork\/exec \/etc\/hostname: exec format error$/m);
  });

  test('SIGKILL to STATE_DIR/child_pid takes COMMAND down too (RootlessKit sets Pdeathsig): status 255', async () => {
    const dir = userTempDir();
    try {
      const p = nsgate([`--state-dir=${dir}/state`, '--net=none', ...sh('echo ready; exec sleep 1000')]);
      await p.waitFor(/ready/);
      const command = descendants(p.pid).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\0' + '1000\0');
      assert.equal(command.length, 1, 'COMMAND found');
      process.kill(Number(readFileSync(`${dir}/state/child_pid`, 'utf8')), 'SIGKILL');
      const exit = await p.exited(5_000);
      assert.equal(exit.code, 255);
      assert.match(p.stderr, /^nsgate: error: child exited: signal: killed$/m);
      await eventually('COMMAND gone', () => !running(command[0]!), 2_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('signals sent to nsgate reach COMMAND', async () => {
    for (const sig of ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGALRM'] as const) {
      const name = sig.slice(3);
      const p = nsgate(['--net=none', ...sh(`trap 'echo got ${name}; exit 3' ${name}; echo ready; while :; do sleep 0.05; done`)]);
      await p.waitFor(/ready/);
      p.kill(sig);
      const exit = await p.exited(5_000);
      assert.match(p.stdout, new RegExp(`got ${name}`));
      assert.equal(exit.code, 3, p.stderr);
    }
  });

  // RootlessKit's child forwards what it gets, and scripts stop it with `kill -TERM $(cat STATE_DIR/child_pid)`.
  for (const flags of [[], ['--pidns'], ['--pidns', '--reaper=false']]) {
    test(`signals sent to STATE_DIR/child_pid reach COMMAND (${flags.join(' ') || 'no pid namespace'})`, async () => {
      for (const sig of ['SIGTERM', 'SIGUSR1', 'SIGINT'] as const) {
        const name = sig.slice(3);
        const dir = userTempDir();
        try {
          const p = nsgate([`--state-dir=${dir}/state`, '--net=none', ...flags, ...sh(`trap 'echo got ${name}; exit 3' ${name}; echo ready; while :; do sleep 0.05; done`)]);
          await p.waitFor(/ready/);
          process.kill(Number(readFileSync(`${dir}/state/child_pid`, 'utf8')), sig);
          const exit = await p.exited(5_000);
          assert.match(p.stdout, new RegExp(`got ${name}`));
          assert.equal(exit.code, 3, p.stderr);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
    });
  }

  test('Ctrl-C to nsgate\'s whole process group reaches COMMAND and spares the network helper', async () => {
    const p = nsgate(['--net=slirp4netns', ...sh("trap 'echo got INT; exit 3' INT; echo ready; while :; do sleep 0.05; done")], { detached: true });
    await p.waitFor(/ready/);
    process.kill(-p.pid, 'SIGINT');
    const exit = await p.exited(5_000);
    assert.match(p.stdout, /got INT/);
    assert.equal(exit.code, 3, p.stderr);
    assert.doesNotMatch(p.stderr, /died/);
  });
});

describe('state dir', () => {
  test('holds child_pid, lock and api.sock, and COMMAND gets RootlessKit\'s variables', async () => {
    const dir = userTempDir();
    const state = `${dir}/state`;
    const r = await runNsgate([`--state-dir=${state}`, '--net=none', ...sh('echo "$ROOTLESSKIT_STATE_DIR $ROOTLESSKIT_PARENT_EUID $ROOTLESSKIT_PARENT_EGID"; ls "$ROOTLESSKIT_STATE_DIR"; stat -c %a "$ROOTLESSKIT_STATE_DIR"')]);
    assert.equal(r.code, 0, r.stderr);
    const [vars, ...rest] = r.stdout.trim().split('\n');
    assert.match(vars!, new RegExp(`^${state} \\d+ \\d+$`));
    assert.ok(rest.includes('api.sock') && rest.includes('child_pid') && rest.includes('lock'), r.stdout);
    assert.equal(rest.at(-1), '700');
    assert.deepEqual(readdirSync(state), [], 'nsgate removes its files at exit');
    rmSync(dir, { recursive: true, force: true });
  });

  test('a second nsgate on the same state dir fails clearly', async () => {
    const dir = userTempDir();
    const first = nsgate([`--state-dir=${dir}/s`, '--net=none', ...sh('echo ready; sleep 30')]);
    await first.waitFor(/ready/);
    const second = await runNsgate([`--state-dir=${dir}/s`, '--net=none', 'true']);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /in use by another nsgate \(pid \d+\)/);
    first.kill();
    await first.exited();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the default state dir is private and removed at exit', async () => {
    // That very dir, not a listing of /tmp: other runs on the machine create and remove nsgate-* dirs there too.
    const r = await runNsgate(['--net=none', ...sh('echo "$ROOTLESSKIT_STATE_DIR"; stat -c %a "$ROOTLESSKIT_STATE_DIR"')]);
    const [dir, mode] = r.stdout.trim().split('\n');
    assert.match(dir!, /^\/tmp\/nsgate-\w+$/, 'a private temp dir (the test user has no XDG_RUNTIME_DIR)');
    assert.equal(mode, '700');
    assert.equal(existsSync(dir!), false, 'removed at exit');
  });
});

/** RootlessKit v2.3.4, the reference (test/e2e/peers.ts): the layout tests compare with it where it was built. */
const PEER = referencePeer();
const ROOTLESSKIT = PEER?.version === REFERENCE_VERSION ? PEER : undefined;

/**
 * What a script inside sees of copy-up, /etc's network files and /sys, as `key=value` lines (lists space
 * separated); the same for nsgate and RootlessKit. $1 is a copied-up directory of the test's.
 */
const LAYOUT_PROBE = `
kv() { printf '%s=%s\n' "$1" "$(printf '%s' "$2" | tr '\n' ' ' | sed 's/ *$//')"; }
# mountinfo: the mount point is the 5th field; filesystem type and source follow the "-" after the optional fields.
top() { awk -v m="$1" '$5 == m { i = 7; while ($i != "-") i++; r = $(i + 1) " " $(i + 2) } END { print r }' /proc/self/mountinfo; }
bound() { awk -v m="$1" '$5 == m { r = $4 } END { print r }' /proc/self/mountinfo; }
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@" 2>&1; }
kv etc.top "$(top /etc)"
kv etc.mode "$(stat -c %a /etc)"
kv etc.hidden "$(ls -d /etc/.ro*)"
kv etc.hostname "$(readlink /etc/hostname)"
kv dir.links "$(for f in file rel abs sub; do readlink "$1/$f"; done)"
kv dir.content "$(cat "$1/file" "$1/abs")"
kv nobody.hostname "$(nobody cat /etc/hostname)"
kv nobody.resolv "$(nobody cat /etc/resolv.conf)"
kv nobody.addresses "$(nobody getent ahosts "$(hostname)" | awk '{ print $1 }' | sort -u)"
kv etc.resolv "$(bound /etc/resolv.conf)"
kv etc.hosts "$(bound /etc/hosts)"
kv etc.hosts.added "$(tail -n 2 /etc/hosts)"
kv sys.top "$(top /sys)"
kv sys.net "$(ls /sys/class/net)"
kv sys.cgroup "$(ls /sys/fs/cgroup)"
kv state "$(cd "$ROOTLESSKIT_STATE_DIR" && ls -d hosts resolv.conf 2>/dev/null)"
`;

type Layout = Record<string, string>;

/** Run the probe under `launcher` (nsgate or RootlessKit) with `flags` and a copied-up dir of the test's. */
async function probeLayout(launcher: string[], flags: string[]): Promise<{ layout: Layout; stderr: string; dir: string }> {
  const dir = userTempDir();
  const copied = `${dir}/copied`;
  const made = await startAsUser('sh', ['-c', `mkdir -p ${copied}/sub && echo data > ${copied}/file && ln -s ../elsewhere/x ${copied}/rel && ln -s /etc/hostname ${copied}/abs`]).exited();
  assert.equal(made.code, 0);
  const p = startAsUser(launcher[0]!, [...launcher.slice(1), `--state-dir=${dir}/state`, `--copy-up=${copied}`, ...flags, 'sh', '-c', LAYOUT_PROBE, 'probe', copied]);
  const exit = await p.exited(30_000);
  assert.equal(exit.code, 0, p.stderr);
  // The parts that differ from run to run: the hidden dir's random name, the test's dirs.
  const normalized = p.stdout.replace(/\.ro\w+/g, '.roX').replaceAll(dir, 'DIR');
  const layout = Object.fromEntries(normalized.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  return { layout, stderr: p.stderr, dir };
}

const hostList = (path: string) => readdirSync(path).sort().join(' ');
const sorted = (list: string) => list.split(' ').sort().join(' ');

describe('copy-up, /etc network files and /sys, as RootlessKit v2.3.4 lays them out', () => {
  const hostname = readFileSync('/etc/hostname', 'utf8').trim();
  const cases: Array<{ name: string; flags: string[]; expected: (l: Layout) => void }> = [
    {
      name: '--net=slirp4netns --copy-up=/etc: tmpfs 1777, relative links into .roXXXXXX, resolv.conf and hosts bound, a fresh sysfs',
      flags: ['--net=slirp4netns', '--copy-up=/etc'],
      expected: (l) => {
        assert.equal(l['etc.top'], 'tmpfs none');
        assert.equal(l['etc.mode'], '1777');
        assert.equal(l['etc.hidden'], '/etc/.roX');
        assert.equal(l['etc.hostname'], '.roX/hostname', 'relative, into the hidden original');
        assert.equal(l['dir.links'], '.roX/file ../elsewhere/x /etc/hostname .roX/sub', 'symlinks are copied as they are');
        assert.equal(l['dir.content'], `data ${hostname}`);
        assert.equal(l['nobody.hostname'], hostname, 'any uid inside reads through the links');
        assert.equal(l['nobody.resolv'], 'nameserver 10.0.2.3');
        assert.equal(l['nobody.addresses'], '127.0.0.1 ::1', 'the hostname resolves to loopback');
        assert.equal(l['etc.resolv'], 'DIR/state/resolv.conf');
        assert.equal(l['etc.hosts'], 'DIR/state/hosts');
        assert.equal(l['etc.hosts.added'], `127.0.0.1 ${hostname} ::1 ${hostname}`);
        assert.equal(l['sys.top'], 'sysfs none');
        assert.equal(sorted(l['sys.net']!), 'lo tap0');
        assert.equal(sorted(l['sys.cgroup']!), hostList('/sys/fs/cgroup'), "the host's cgroup tree is kept on the new sysfs");
        assert.equal(l['state'], 'hosts resolv.conf');
      },
    },
    {
      name: "--net=host --copy-up=/etc: the host's /sys and network files, through the links",
      flags: ['--net=host', '--copy-up=/etc'],
      expected: (l) => {
        assert.equal(l['etc.top'], 'tmpfs none');
        assert.equal(l['nobody.resolv'], readFileSync('/etc/resolv.conf', 'utf8').trim().split('\n').join(' '));
        assert.equal(l['etc.resolv'], '', 'not bound');
        assert.equal(sorted(l['sys.net']!), hostList('/sys/class/net'));
        assert.equal(l['state'], '');
      },
    },
    {
      name: "--detach-netns: COMMAND keeps the host's /sys and /etc files; resolv.conf and hosts are written in the state dir",
      flags: ['--net=slirp4netns', '--detach-netns', '--copy-up=/etc'],
      expected: (l) => {
        assert.equal(l['etc.hostname'], '.roX/hostname');
        assert.equal(l['etc.resolv'], '', 'not bound');
        assert.equal(sorted(l['sys.net']!), hostList('/sys/class/net'));
        assert.equal(l['state'], 'hosts resolv.conf');
      },
    },
  ];
  for (const { name, flags, expected } of cases) {
    test(name, async (t) => {
      const ours = await probeLayout([process.execPath, NSGATE], flags);
      expected(ours.layout);
      assert.deepEqual(readdirSync(`${ours.dir}/state`), [], 'nothing left in the state dir');
      rmSync(ours.dir, { recursive: true, force: true });
      if (!ROOTLESSKIT) return t.diagnostic(`RootlessKit ${REFERENCE_VERSION} was not built here (scripts/build-peers.sh): not compared`);
      t.diagnostic(`compared with ${describePeer(ROOTLESSKIT)}`);
      const theirs = await probeLayout([ROOTLESSKIT.rootlesskit], flags);
      rmSync(theirs.dir, { recursive: true, force: true });
      assert.deepEqual(ours.layout, theirs.layout, 'what a script sees is the same under RootlessKit v2.3.4');
    });
  }

  test('--net=none: /sys is fresh too, lo alone (RootlessKit keeps the host\'s there: a deliberate difference)', async () => {
    const r = await runNsgate(['--net=none', ...sh('ls /sys/class/net')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'lo\n');
  });

  test('copied-up dirs are writable inside, nothing reaches the host (the originals are read-only), and nothing is left behind', async () => {
    const dir = userTempDir();
    const own = `${dir}/own`;
    assert.equal((await startAsUser('sh', ['-c', `mkdir ${own} && echo original > ${own}/file`]).exited()).code, 0);
    const r = await runNsgate([
      `--state-dir=${dir}/s`,
      '--debug',
      '--net=none',
      '--copy-up=/etc',
      `--copy-up=${own}`,
      ...sh(
        'echo inside > /etc/nsgate-copyup-test && cat /etc/nsgate-copyup-test && ' +
          'test -r /etc/passwd && echo passwd-readable && ' +
          `(echo x 2>&1 >> ${own}/file || true) && ` +
          'rm /etc/hostname && echo replaced > /etc/hostname && cat /etc/hostname && ' +
          'setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "echo by-nobody > /etc/nsgate-copyup-nobody" && cat /etc/nsgate-copyup-nobody; ' +
          'grep -c nsgate-mnt /proc/self/mountinfo || true',
      ),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 2), ['inside', 'passwd-readable']);
    assert.match(lines[2]!, /Read-only file system/, 'a file the caller owns is not written through its link');
    assert.deepEqual(lines.slice(3), ['replaced', 'by-nobody', '0']);
    assert.equal(existsSync('/etc/nsgate-copyup-test'), false);
    assert.equal(existsSync('/etc/nsgate-copyup-nobody'), false);
    assert.equal(readFileSync(`${own}/file`, 'utf8'), 'original\n');
    const spare = r.stderr.match(/the child's mounts wait in (\/tmp\/nsgate-mnt-\w+)/)?.[1];
    assert.ok(spare, r.stderr);
    assert.equal(existsSync(spare), false, 'the temporary mount point is removed');
    assert.deepEqual(readdirSync(`${dir}/s`), [], 'nothing left in the state dir');
    rmSync(dir, { recursive: true, force: true });
  });

  test("Docker's and nerdctl's copy-ups (/etc, /run, /var/lib) with the state dir inside a copied-up dir", { skip: !IS_ROOT && 'needs root to make a dir in /var/lib' }, async () => {
    const base = userTempDir(undefined, '/var/lib');
    const r = await runNsgate([
      `--state-dir=${base}/state`,
      '--net=slirp4netns',
      '--copy-up=/etc',
      '--copy-up=/run',
      '--copy-up=/var/lib',
      ...sh(
        `stat -c %a /run /var/lib; touch /run/nsgate-test /var/lib/nsgate-test && echo wrote; ${process.execPath} ${NSGATECTL} info --json | tr -d '\\n'; echo; ` +
          'setpriv --reuid=65534 --regid=65534 --clear-groups cat /etc/resolv.conf',
      ),
    ]);
    const left = readdirSync(`${base}/state`);
    rmSync(base, { recursive: true, force: true });
    assert.equal(r.code, 0, r.stderr);
    const [modes, modes2, wrote, info, resolv] = r.stdout.trim().split('\n');
    assert.deepEqual([modes, modes2, wrote], ['1777', '1777', 'wrote']);
    assert.equal((JSON.parse(info!) as { stateDir: string }).stateDir, `${base}/state`, 'the API is reached through the copied-up /var/lib');
    assert.equal(resolv, 'nameserver 10.0.2.3');
    assert.equal(existsSync('/run/nsgate-test') || existsSync('/var/lib/nsgate-test'), false);
    assert.deepEqual(left, []);
  });
});

/** Network drivers that give the child a tap device and an uplink. */
for (const net of ['slirp4netns', 'pasta'] as const) {
  describe(`--net=${net}`, () => {
    test('tap0 has 10.0.2.100/24, MTU 65520, default route via 10.0.2.2, and resolv.conf names 10.0.2.3', async () => {
      const r = await runNsgate([`--net=${net}`, ...sh('ip -o -4 addr show tap0; ip -o link show tap0; ip route show default; cat /etc/resolv.conf')]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /tap0\s+inet 10\.0\.2\.100\/24/);
      assert.match(r.stdout, /tap0: .* mtu 65520 /);
      assert.match(r.stdout, /default via 10\.0\.2\.2/);
      assert.match(r.stdout, /^nameserver 10\.0\.2\.3$/m);
    });

    test('--cidr, --mtu and --ifname are honoured, in /sys too; with --copy-up=/etc resolv.conf is bound there', async () => {
      const r = await runNsgate([`--net=${net}`, '--cidr=10.99.0.0/24', '--mtu=1500', '--ifname=eth7', '--copy-up=/etc', ...sh('ip -o -4 addr show eth7; ip -o link show eth7; cat /etc/resolv.conf; echo sys: $(ls /sys/class/net)')]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /eth7\s+inet 10\.99\.0\.100\/24/);
      assert.match(r.stdout, /eth7: .* mtu 1500 /);
      assert.match(r.stdout, /^nameserver 10\.99\.0\.3$/m);
      assert.match(r.stdout, /^sys: eth7 lo$/m);
    });

    test('the helper does not outlive nsgate', async () => {
      // Found by its state dir on its command line (slirp4netns' API socket, pasta's pid file): other runs
      // on the machine may have helpers of their own as the same user.
      const dir = userTempDir();
      const cmdline = (pid: number) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
          return ''; // gone meanwhile
        }
      };
      const ours = () => userProcesses().filter((pid) => cmdline(pid).includes(`${dir}/s/`));
      const r = await runNsgate([`--state-dir=${dir}/s`, `--net=${net}`, 'true']);
      assert.equal(r.code, 0, r.stderr);
      await eventually(`${net} gone`, () => ours().length === 0, 2_000);
      rmSync(dir, { recursive: true, force: true });
    });
  });
}

describe('errors a user meets', () => {
  test('a helper that is not installed names its package', async () => {
    const r = await runNsgate(['--net=slirp4netns', '--slirp4netns-binary=/nonexistent/slirp4netns', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /slirp4netns/);
    assert.match(r.stderr, /install|not found/i);
  });

  test('an unknown flag is named', async () => {
    const r = await runNsgate(['--nett=none', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--nett/);
  });
});

describe('--detach-netns', () => {
  for (const net of ['slirp4netns', 'pasta'] as const) {
    test(`${net}: COMMAND stays on the host network; the new one is at $ROOTLESSKIT_STATE_DIR/netns and -p reaches it`, async () => {
      const port = await freePort();
      const hostNetns = readlinkSync('/proc/self/ns/net');
      const r = await runNsgate([
        '--detach-netns', `--net=${net}`, '--port-driver=builtin', '-p', `127.0.0.1:${port}:8080/tcp`,
        ...sh(
          'readlink /proc/self/ns/net; inns() { nsenter -n"$ROOTLESSKIT_STATE_DIR/netns" "$@"; }; inns ip -o -4 addr show tap0; ' +
            `inns ${process.execPath} ${FIXTURE} http,8080 & until curl -sS --max-time 2 http://127.0.0.1:${port}/ 2>/dev/null; do sleep 0.1; done`,
        ),
      ]);
      assert.equal(r.code, 0, r.stderr);
      const [own, ...rest] = r.stdout.trim().split('\n');
      assert.equal(own, hostNetns, 'COMMAND is in the host network namespace');
      assert.match(rest.join('\n'), /tap0\s+inet 10\.0\.2\.100\/24/);
      assert.match(rest.join('\n'), /^hello from nsgate$/m);
    });
  }
});
