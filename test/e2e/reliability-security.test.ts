/**
 * Reliability, security: the state dir and api.sock are the user's alone, unsafe state dirs are refused,
 * --disable-host-loopback closes the host's 127.0.0.1 and ::1, and nsgate listens on nothing it was not asked to.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  asUser, createOuterNetns, descendants, fixture, freePort, launchNsgate, listenersOf, nsgate, Proc, runNsgate, userEnv, userTempDir,
} from './harness.js';

const OTHER_USER = 'nsgtest2';

describe('the state dir and api.sock of a running nsgate', () => {
  let p: Proc;
  let dir: string;
  let port: number;
  before(async () => {
    dir = userTempDir();
    chmodSync(dir, 0o755); // others may look in the parent; the state dir itself must stop them
    port = await freePort();
    p = nsgate([`--state-dir=${dir}/state`, '--net=slirp4netns', '--port-driver=builtin', '-p', `127.0.0.1:${port}:8080/tcp`, '--', ...fixture('http,8080,0.0.0.0')]);
    await p.waitFor(/ready/, 20_000);
  });
  after(async () => {
    p.kill();
    await p.exited();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the state dir is 0700 and api.sock 0600, both the user\'s', () => {
    const owner = Number(spawnSync('id', ['-u', 'nsgtest'], { encoding: 'utf8' }).stdout);
    const state = statSync(`${dir}/state`);
    const sock = statSync(`${dir}/state/api.sock`);
    assert.equal(state.mode & 0o777, 0o700);
    assert.equal(sock.mode & 0o777, 0o600);
    assert.equal(state.uid, owner);
    assert.equal(sock.uid, owner);
  });

  test('another unprivileged user can neither read the state dir nor reach api.sock', () => {
    const run = (cmd: string, ...args: string[]) => {
      const [file, argv] = asUser(cmd, args, OTHER_USER);
      return spawnSync(file, argv, { encoding: 'utf8', env: userEnv(OTHER_USER) });
    };
    const ls = run('ls', `${dir}/state`);
    assert.notEqual(ls.status, 0);
    assert.match(ls.stderr, /Permission denied/);
    const curl = run('curl', '-sS', '--max-time', '3', '--unix-socket', `${dir}/state/api.sock`, 'http://x/v1/info');
    assert.notEqual(curl.status, 0);
    assert.equal(curl.stdout, '');
  });

});

/** Every process nsgate started (child, COMMAND, helpers, socat) listens on the host only where -p asked. */
describe('nsgate listens on no address or port it was not asked for (ss -lntup)', () => {
  const SETUPS: Array<[string, string[]]> = [
    ['slirp4netns, builtin', ['--net=slirp4netns', '--port-driver=builtin']],
    ['pasta, builtin', ['--net=pasta', '--port-driver=builtin']],
    ['slirp4netns, slirp4netns', ['--net=slirp4netns', '--port-driver=slirp4netns']],
    ['slirp4netns, socat', ['--net=slirp4netns', '--port-driver=socat']],
  ];
  for (const [name, flags] of SETUPS) {
    test(name, async () => {
      const [tcp, udp] = [await freePort(), await freePort()];
      const run = await launchNsgate([...flags, '-p', `127.0.0.1:${tcp}:80/tcp`, '-p', `127.0.0.1:${udp}:53/udp`], ['http,80,0.0.0.0', 'udp-echo,53,0.0.0.0']);
      try {
        assert.deepEqual(listenersOf([run.p.pid, ...descendants(run.p.pid)]), [`tcp 127.0.0.1:${tcp}`, `udp 127.0.0.1:${udp}`]);
      } finally {
        await run.stop();
      }
    });
  }
});

describe('an unsafe --state-dir is refused', () => {
  let dir: string;
  before(() => {
    dir = userTempDir();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const owner of ['root', OTHER_USER]) {
    test(`owned by someone else (${owner})`, async () => {
      const uid = Number(spawnSync('id', ['-u', owner], { encoding: 'utf8' }).stdout);
      mkdirSync(`${dir}/${owner}`, { mode: 0o700 });
      chmodSync(`${dir}/${owner}`, 0o777); // writable, but still not the user's
      chownSync(`${dir}/${owner}`, uid, uid);
      const r = await runNsgate([`--state-dir=${dir}/${owner}`, '--net=none', 'true']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`is owned by uid ${uid}, not by you`));
    });
  }

  test('a symlink in its place', async () => {
    const target = userTempDir();
    symlinkSync(target, `${dir}/link`);
    const r = await runNsgate([`--state-dir=${dir}/link`, '--net=none', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a directory \(symlinks are refused\)/);
    rmSync(target, { recursive: true, force: true });
  });

  test('open to other users', async () => {
    const r0 = await runNsgate([`--state-dir=${dir}/open`, '--net=none', 'chmod', '755', `${dir}/open`]);
    assert.equal(r0.code, 0, r0.stderr);
    const r = await runNsgate([`--state-dir=${dir}/open`, '--net=none', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is open to other users \(mode 755\)/);
  });
});

for (const net of ['slirp4netns', 'pasta'] as const) {
  describe(`--net=${net}: the host's loopback, with "the host" an outer namespace of the test's own`, () => {
    let outer: ReturnType<typeof createOuterNetns>;
    let server: Proc;
    const PORT = 17777;
    // The gateway's addresses map to the host's 127.0.0.1 and ::1; pasta's IPv6 gateway is the host's own.
    const GATEWAYS = { 4: '10.0.2.2', 6: net === 'slirp4netns' ? 'fd00::2' : '2001:db8::2' };
    before(async () => {
      outer = createOuterNetns(`nsgate-test-${net}`);
      const listen = (host: string) => `require('net').createServer((s) => s.end('host loopback ${host}\\n')).listen(${PORT}, '${host}')`;
      server = new Proc(spawn('ip', ['netns', 'exec', outer.name, process.execPath, '-e', `${listen('127.0.0.1')}; ${listen('::1')}; console.log('ready')`]));
      await server.waitFor(/ready/);
    });
    after(async () => {
      server.kill();
      await server.exit;
      outer.remove();
    });

    /**
     * Connects from inside to the gateway once IPv6 is configured there (slirp4netns' comes by router
     * advertisement), so that a refusal means blocked, not "not there yet". Prints "configured", then the answer.
     */
    const probe = (family: 4 | 6, ...flags: string[]) =>
      runNsgate(
        [`--net=${net}`, '--ipv6', ...flags, 'sh', '-c',
          `for i in $(seq 100); do ip -6 route show default | grep -q . && ! ip -6 addr | grep -q tentative && echo configured && break; sleep 0.1; done; exec "$0" -e "$1"`,
          process.execPath,
          `require('net').connect(${PORT}, '${GATEWAYS[family]}').on('data', (d) => process.stdout.write(d)).on('error', (e) => console.log('error ' + e.code)).setTimeout(2000, function () { console.log('timeout'); this.destroy(); })`],
        30_000,
        { netns: outer.name },
      );

    for (const family of [4, 6] as const) {
      const loopback = family === 4 ? '127.0.0.1' : '::1';
      test(`${loopback} is reachable as ${GATEWAYS[family]} by default`, async () => {
        const r = await probe(family);
        assert.equal(r.stdout.trim(), `configured\nhost loopback ${loopback}`, r.stderr);
      });

      test(`--disable-host-loopback blocks ${loopback}`, async () => {
        const r = await probe(family, '--disable-host-loopback');
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout.trim(), /^configured\n(error \w+|timeout)$/);
      });
    }
  });
}
