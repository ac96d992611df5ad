/**
 * The relay's starter (src/dataplane/starter.ts) with real sockets on host loopback: it relays while no
 * worker runs, keeps the connections it holds after the hand-over, and accepts no new ones then.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Starter } from '../../src/dataplane/starter.js';
import { openHostSocket } from '../../src/port/drivers/builtin/host-socket.js';
import { socketCalls } from '../../src/sys/socket.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Send `data` on `socket` and resolve with as many bytes read back. */
function exchange(socket: Socket, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      got.push(chunk);
      size += chunk.length;
      if (size < data.length) return;
      socket.off('data', onData).off('error', reject);
      resolve(Buffer.concat(got));
    };
    socket.on('data', onData).once('error', reject);
    socket.write(data);
  });
}

function connected(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Open pipe fds of this process (the relay lends pipes to connections from a pool). */
function pipeFds(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith('pipe:');
    } catch {
      return false; // the directory's own fd, gone by now
    }
  }).length;
}

/** The port a socket is bound to. */
function boundPort(fd: number): number {
  const c = socketCalls()!;
  const addr = Buffer.alloc(28);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(28);
  assert.equal(c.getsockname(fd, addr, len), 0);
  return addr.readUInt16BE(2);
}

test('starter: relays before the hand-over, keeps its connection after it, and accepts no new one', { timeout: 20_000 }, async (t) => {
  const c = socketCalls();
  assert.ok(c, 'koffi loads on this machine');
  const echo: Server = createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  t.after(() => echo.close());
  const pipesBefore = pipeFds();
  const fd = openHostSocket(c, { parentIP: '127.0.0.1', parentPort: 0, childPort: 0, proto: 'tcp' }, 'tcp');
  const hostPort = boundPort(fd);
  const starter = new Starter();
  starter.addTcp({ op: 'tcp', id: 1, fd, target: { ip: '127.0.0.1', port: (echo.address() as AddressInfo).port }, sourceIp: false });
  t.after(() => {
    starter.drop(1);
    c.close(fd);
  });

  const early = await connected(hostPort);
  const first = randomBytes(4 << 20);
  assert.equal(sha(await exchange(early, first)), sha(first), 'relayed before the hand-over');

  starter.handOver();
  const second = randomBytes(4 << 20);
  assert.equal(sha(await exchange(early, second)), sha(second), 'the same connection after the hand-over');

  // A new connection waits in the listen queue for a worker: nothing answers it here.
  const late = await connected(hostPort);
  const unanswered = await Promise.race([exchange(late, Buffer.from('ping')).then(() => 'answered'), sleep(300, 'waiting')]);
  assert.equal(unanswered, 'waiting');
  late.destroy();

  // Its last connection gone, the starter stops and closes the pipes it kept.
  early.end();
  await new Promise((resolve) => early.once('close', resolve));
  await sleep(50);
  assert.equal(pipeFds(), pipesBefore, 'no pipe left open');
});
