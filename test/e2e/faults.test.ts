/** Faults a long-running nsgate meets: COMMAND killed, nsgate stopped, the helper dying, servers refusing. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { eventually, fixture, freePort, hostListeners, nsgate, userProcesses, userTempDir } from './harness.js';

const portOpen = (port: number) => hostListeners().some((l) => l.endsWith(`:${port}`));

describe('faults', () => {
  test('SIGKILL to COMMAND: nsgate exits 137 and its host port closes within 1 s', async () => {
    const port = await freePort();
    const p = nsgate(['--net=slirp4netns', '--port-driver=builtin', '-p', `127.0.0.1:${port}:8080/tcp`, '--', ...fixture('http,8080')]);
    await p.waitFor(/ready/, 20_000);
    assert.ok(portOpen(port));
    // The server itself, not nsgate whose command line names it too.
    const server = spawnSync('pgrep', ['-u', 'nsgtest', '-f', '^[^ ]+ [^ ]+fixtures/servers\\.js'], { encoding: 'utf8' }).stdout.trim();
    assert.match(server, /^\d+$/);
    process.kill(Number(server), 'SIGKILL');
    const exit = await p.exited(5_000);
    assert.equal(exit.code, 137);
    await eventually('host port closed', () => !portOpen(port), 1_000);
  });

  test('SIGTERM to nsgate: COMMAND gets it, nsgate exits with its code, nothing left running, within 2 s', async () => {
    const before = new Set(userProcesses());
    const p = nsgate(['--net=slirp4netns', '--port-driver=builtin', '-p', `127.0.0.1:${await freePort()}:80/tcp`, 'sh', '-c', "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done"]);
    await p.waitFor(/ready/, 20_000);
    const t0 = Date.now();
    p.kill('SIGTERM');
    const exit = await p.exited(2_000);
    assert.equal(exit.code, 42);
    await eventually('every process gone', () => userProcesses().every((pid) => before.has(pid)), 2_000 - (Date.now() - t0));
  });

  test('slirp4netns dying under COMMAND: nsgate says so and exits non-zero', async () => {
    const dir = userTempDir();
    const p = nsgate([`--state-dir=${dir}/s`, '--net=slirp4netns', 'sh', '-c', 'echo ready; sleep 30']);
    await p.waitFor(/ready/, 20_000);
    const helper = spawnSync('pgrep', ['-u', 'nsgtest', '-f', `slirp4netns .*${dir}/s/`], { encoding: 'utf8' }).stdout.trim().split('\n');
    assert.equal(helper.length, 1);
    process.kill(Number(helper[0]), 'SIGKILL');
    const exit = await p.exited(5_000);
    assert.equal(exit.code, 1);
    assert.match(p.stderr, /slirp4netns died: .*SIGKILL/);
    rmSync(dir, { recursive: true, force: true });
  });

  test('nothing listening inside: the client is reset at once, and other connections are unaffected', async () => {
    const [dead, alive] = [await freePort(), await freePort()];
    const p = nsgate(['--net=none', '--port-driver=builtin', '-p', `127.0.0.1:${dead}:9/tcp`, '-p', `127.0.0.1:${alive}:7/tcp`, '--', ...fixture('tcp-echo,7,127.0.0.1')]);
    await p.waitFor(/ready/, 20_000);
    const held = connect(alive, '127.0.0.1');
    await new Promise((resolve) => held.once('connect', resolve));
    const t0 = Date.now();
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      const s = connect(dead, '127.0.0.1');
      s.on('error', resolve);
      s.on('close', () => resolve(null));
    });
    assert.ok(Date.now() - t0 < 1_000, 'promptly');
    assert.equal(err?.code, 'ECONNRESET');
    held.write('still here');
    const echoed = await new Promise<string>((resolve) => held.once('data', (d) => resolve(d.toString())));
    assert.equal(echoed, 'still here');
    held.destroy();
    p.kill();
    await p.exited();
  });
});
