/** The state dir and api.sock are the user's alone, and nsgate listens on nothing it was not asked to. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { asUser, fixture, freePort, hostListeners, nsgate, type Proc, runNsgate, userEnv, userTempDir } from './harness.js';

const OTHER_USER = 'nsgtest2';

describe('a running nsgate', () => {
  let p: Proc;
  let dir: string;
  let port: number;
  let listenersBefore: string[];
  before(async () => {
    dir = userTempDir();
    chmodSync(dir, 0o755); // others may look in the parent; the state dir itself must stop them
    port = await freePort();
    listenersBefore = hostListeners();
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

  test('it listens on the published port and nowhere else', () => {
    const added = hostListeners().filter((l) => !listenersBefore.includes(l));
    assert.deepEqual(added, [`127.0.0.1:${port}`]);
  });
});

describe('an unsafe --state-dir is refused', () => {
  let dir: string;
  before(() => {
    dir = userTempDir();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('owned by someone else', async () => {
    mkdirSync(`${dir}/rootowned`, { mode: 0o700 });
    chmodSync(`${dir}/rootowned`, 0o777); // writable, but still not the user's
    const r = await runNsgate([`--state-dir=${dir}/rootowned`, '--net=none', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is owned by uid 0, not by you/);
  });

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
