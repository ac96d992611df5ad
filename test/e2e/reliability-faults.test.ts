/**
 * Reliability: faults a long-running nsgate meets (COMMAND or nsgate killed, the network helper dying,
 * servers refusing or resetting, a client that never reads), and a clean SIGTERM shutdown.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { exchange } from './clients.js';
import { running, descendants, eventually, fixture, freePort, hostListeners, nsgate, sha256, userTempDir } from './harness.js';

const portOpen = (port: number) => hostListeners().some((l) => l.endsWith(`:${port}`));
/** The program a process runs, as its comm (Debian's pasta runs as passt or passt.avx2). */
const comm = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim().replace(/^passt(\.avx2)?$/, 'pasta');
  } catch {
    return '(gone)';
  }
};

/** A connection that is up, with its first echo back. */
async function connected(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  s.write('ping');
  await new Promise((resolve) => s.once('data', resolve));
  return s;
}

/** How a connection to `port` ends: the error code, or 'closed'; and how long it took. */
function connectionEnd(port: number): Promise<{ how: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('error', (err: NodeJS.ErrnoException) => resolve({ how: err.code ?? 'error', ms: Date.now() - t0 }));
    s.on('close', () => resolve({ how: 'closed', ms: Date.now() - t0 }));
  });
}

describe('faults', () => {
  test('SIGKILL to COMMAND: nsgate exits 255 (as RootlessKit) and its host port closes within 1 s', async () => {
    const port = await freePort();
    const p = nsgate(['--net=slirp4netns', '--port-driver=builtin', '-p', `127.0.0.1:${port}:8080/tcp`, '--', ...fixture('http,8080')]);
    await p.waitFor(/ready/, 20_000);
    assert.ok(portOpen(port));
    const server = descendants(p.pid).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('fixtures/servers.js'))!;
    process.kill(server, 'SIGKILL');
    const t0 = Date.now();
    const exit = await p.exited(5_000);
    assert.equal(exit.code, 255);
    await eventually('host port closed', () => !portOpen(port), 1_000 - (Date.now() - t0));
  });

  // Each with the helpers it starts: the network helper, and socat per port and per open connection.
  const SETUPS: Array<{ name: string; flags: (port: number) => string[]; helpers: string[] }> = [
    { name: 'slirp4netns and builtin', flags: (port) => ['--net=slirp4netns', '--port-driver=builtin', '-p', `127.0.0.1:${port}:7/tcp`], helpers: ['slirp4netns'] },
    { name: 'pasta and builtin', flags: (port) => ['--net=pasta', '--port-driver=builtin', '-p', `127.0.0.1:${port}:7/tcp`], helpers: ['pasta'] },
    { name: 'socat', flags: (port) => ['--net=slirp4netns', '--port-driver=socat', '-p', `127.0.0.1:${port}:7/tcp`], helpers: ['slirp4netns', 'socat'] },
  ];
  for (const setup of SETUPS) {
    test(`SIGKILL to nsgate (${setup.name}, a connection open): the child, COMMAND and helpers are gone within 1 s`, async () => {
      const port = await freePort();
      // A state dir of the test's: a SIGKILLed nsgate cannot remove it, as RootlessKit cannot.
      const dir = userTempDir();
      try {
        const p = nsgate([`--state-dir=${dir}/state`, ...setup.flags(port), '--', ...fixture('tcp-echo,7,127.0.0.1')]);
        await p.waitFor(/ready/, 20_000);
        const held = await connected(port);
        const tree = descendants(p.pid);
        const names = new Set(tree.map(comm));
        for (const helper of setup.helpers) assert.ok(names.has(helper), `${helper} runs under nsgate (${[...names].join(' ')})`);
        p.kill('SIGKILL');
        const t0 = Date.now();
        await p.exit;
        await eventually(`every process gone (left: ${tree.filter(running).map((pid) => `${pid} ${comm(pid)} ${readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2]}`).join(', ')})`, () => !tree.some(running), 1_000 - (Date.now() - t0));
        held.destroy();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  for (const helper of ['slirp4netns', 'pasta']) {
    test(`${helper} dying under COMMAND: nsgate says so and exits non-zero`, async () => {
      const p = nsgate([`--net=${helper}`, 'sh', '-c', 'echo ready; sleep 30']);
      await p.waitFor(/ready/, 20_000);
      const pids = descendants(p.pid).filter((pid) => comm(pid) === helper);
      assert.equal(pids.length, 1);
      process.kill(pids[0]!, 'SIGKILL');
      const exit = await p.exited(5_000);
      assert.equal(exit.code, 1);
      assert.match(p.stderr, new RegExp(`${helper} died: .*SIGKILL`));
    });
  }

  test('a server inside refusing or resetting: the client sees it promptly, other connections unaffected', async () => {
    const [refusing, resetting, echoing] = [await freePort(), await freePort(), await freePort()];
    const p = nsgate([
      '--net=none', '--port-driver=builtin',
      '-p', `127.0.0.1:${refusing}:9/tcp`, '-p', `127.0.0.1:${resetting}:8/tcp`, '-p', `127.0.0.1:${echoing}:7/tcp`,
      '--', ...fixture('tcp-echo,7,127.0.0.1', 'tcp-reset,8,127.0.0.1'),
    ]);
    await p.waitFor(/ready/, 20_000);
    const held = await connected(echoing);
    const refused = await connectionEnd(refusing);
    assert.equal(refused.how, 'ECONNRESET', 'nothing listening inside: a reset');
    assert.ok(refused.ms < 1_000, `promptly (${refused.ms} ms)`);
    const reset = await connectionEnd(resetting);
    assert.match(reset.how, /^(ECONNRESET|closed)$/, 'reset by the server inside: a reset or a close');
    assert.ok(reset.ms < 1_000, `promptly (${reset.ms} ms)`);
    held.write('still here');
    assert.equal((await new Promise<Buffer>((resolve) => held.once('data', resolve))).toString(), 'still here');
    held.destroy();
    p.kill();
    await p.exited();
  });

  test('a client that never reads does not stall other connections', async () => {
    const port = await freePort();
    const p = nsgate(['--net=none', '--port-driver=builtin', '-p', `127.0.0.1:${port}:7/tcp`, '--', ...fixture('tcp-echo,7,127.0.0.1')]);
    await p.waitFor(/ready/, 20_000);
    // It writes 64 MiB to the echo server and reads nothing back: every buffer on its path fills up.
    const stuck = await connected(port);
    stuck.pause();
    stuck.write(Buffer.alloc(64 * 1024 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.ok(stuck.writableLength > 0, 'the stuck client is really blocked');
    const data = randomBytes(4 * 1024 * 1024);
    const back = await Promise.all(Array.from({ length: 4 }, () => exchange('127.0.0.1', port, data)));
    for (const b of back) assert.equal(sha256(b), sha256(data));
    stuck.destroy();
    p.kill();
    await p.exited();
  });
});

describe('clean shutdown', () => {
  test('SIGTERM to nsgate: COMMAND gets it, nsgate exits with its code, nothing left running or on disk, within 2 s', async () => {
    const dir = userTempDir();
    const p = nsgate([`--state-dir=${dir}/s`, '--net=slirp4netns', '--port-driver=builtin', '-p', `127.0.0.1:${await freePort()}:80/tcp`, 'sh', '-c', "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done"]);
    await p.waitFor(/ready/, 20_000);
    const tree = descendants(p.pid);
    const t0 = Date.now();
    p.kill('SIGTERM');
    const exit = await p.exited(2_000);
    assert.equal(exit.code, 42);
    await eventually('every process gone', () => !tree.some(running), 2_000 - (Date.now() - t0));
    assert.deepEqual(existsSync(`${dir}/s`) ? readdirSync(`${dir}/s`) : [], [], 'nothing left in the state dir');
    rmSync(dir, { recursive: true, force: true });
  });
});
