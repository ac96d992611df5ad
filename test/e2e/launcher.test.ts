/** The launcher as a user meets it: namespaces, id maps, network drivers, copy-up, state dir, exit codes, signals. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import { descendants, eventually, FIXTURE, freePort, NSGATE, nsgate, running, runNsgate, startAsUser, userProcesses, userTempDir } from './harness.js';

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

describe('copy-up', () => {
  test('--copy-up=/etc makes /etc writable inside and nothing reaches the host', async () => {
    const r = await runNsgate([
      '--net=none',
      '--copy-up=/etc',
      ...sh(
        'echo inside > /etc/nsgate-copyup-test && cat /etc/nsgate-copyup-test && ' +
          'test -r /etc/passwd && echo passwd-readable && ' +
          '(echo x >> /etc/hostname 2>/dev/null && echo wrote-through || echo original-protected) && ' +
          'rm /etc/hostname && echo replaced > /etc/hostname && cat /etc/hostname',
      ),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['inside', 'passwd-readable', 'original-protected', 'replaced']);
    assert.equal(existsSync('/etc/nsgate-copyup-test'), false);
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

    test('--cidr, --mtu and --ifname are honoured; with --copy-up=/etc resolv.conf is written there', async () => {
      const r = await runNsgate([`--net=${net}`, '--cidr=10.99.0.0/24', '--mtu=1500', '--ifname=eth7', '--copy-up=/etc', ...sh('ip -o -4 addr show eth7; ip -o link show eth7; cat /etc/resolv.conf')]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /eth7\s+inet 10\.99\.0\.100\/24/);
      assert.match(r.stdout, /eth7: .* mtu 1500 /);
      assert.match(r.stdout, /^nameserver 10\.99\.0\.3$/m);
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
