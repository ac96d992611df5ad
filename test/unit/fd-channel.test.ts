import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, closeSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FD_CHANNEL_CHILD_ENV, fdChannelStdioIf, handOverFdChannel, sendFdFor } from '../../src/ipc/fd-channel.js';
import { insideLaunches, insideEnv } from '../../src/parent/namespace-handle.js';

const FD_CHANNEL = new URL('../../src/ipc/fd-channel.js', import.meta.url).href;

/**
 * A spawned node process that takes its fd channel as the namespace process does, tells the parent whether it got
 * one, and writes "from inside" to the fd the parent sends it for request 7.
 */
function spawnTaker(): ChildProcess {
  const script = `
    import { writeSync } from 'node:fs';
    import { receiveFdFor, takeFdChannel } from ${JSON.stringify(FD_CHANNEL)};
    const channel = takeFdChannel();
    process.send({ got: channel !== undefined });
    process.on('message', () => {
      writeSync(receiveFdFor(channel, 7), 'from inside');
      process.disconnect();
    });`;
  return spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'inherit', 'inherit', ...fdChannelStdioIf(true, ['ipc'])],
    env: { ...process.env, ...FD_CHANNEL_CHILD_ENV },
  });
}

const nextMessage = (proc: ChildProcess) => new Promise<unknown>((resolve) => proc.once('message', resolve));
const exited = (proc: ChildProcess) => new Promise((resolve) => proc.once('exit', resolve));

test('fd channel: handed over after the spawn on the socket Node made, it carries an fd to the spawned process', async () => {
  const proc = spawnTaker();
  const channel = handOverFdChannel(proc);
  assert.ok(channel, 'native calls are available here');
  assert.deepEqual(await nextMessage(proc), { got: true });
  const dir = mkdtempSync(join(tmpdir(), 'nsgate-fdc-'));
  try {
    const fd = openSync(join(dir, 'out'), 'w');
    sendFdFor(channel.parentEnd, 7, fd);
    closeSync(fd);
    proc.send({});
    assert.equal(await exited(proc), 0);
    assert.equal(readFileSync(join(dir, 'out'), 'utf8'), 'from inside');
  } finally {
    channel.close();
    rmSync(dir, { recursive: true });
  }
});

test('fd channel: a handover socket closed without a channel leaves the spawned process without one', async () => {
  const proc = spawnTaker();
  (proc.stdio as unknown as Socket[])[6]!.destroy();
  assert.deepEqual(await nextMessage(proc), { got: false });
  proc.kill();
  await exited(proc);
});

test('inside launches: the fd channel goes where the inside half runs, the dialer with --detach-netns', () => {
  const builtin = { driver: 'builtin', fdChannel: true };
  assert.deepEqual(insideLaunches({ portDriver: 'builtin', detachNetns: false }), { namespaceProcess: builtin, dialer: null });
  assert.deepEqual(insideLaunches({ portDriver: 'builtin', detachNetns: true }), { namespaceProcess: { fdChannel: false }, dialer: builtin });
  assert.deepEqual(insideLaunches({ portDriver: 'none', detachNetns: false }), { namespaceProcess: { fdChannel: false }, dialer: null });
  assert.deepEqual(insideEnv(builtin), { ...FD_CHANNEL_CHILD_ENV, NSGATE_PORT_DRIVER: 'builtin' });
  assert.deepEqual(insideEnv({ fdChannel: false }), {});
});
