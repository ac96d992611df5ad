/**
 * The relay's starter (src/dataplane/starter.ts) with real sockets on host loopback: it relays while no
 * worker runs; at the hand-over its connections, bytes in flight included, move to a worker's loop.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Loop } from '../../src/dataplane/loop.js';
import { PipePool } from '../../src/dataplane/pipe-pool.js';
import { Starter } from '../../src/dataplane/starter.js';
import { TcpForward } from '../../src/dataplane/tcp-relay.js';
import { openPublishedSocket } from '../../src/port/drivers/builtin/host-socket.js';
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

/** Read `size` bytes from a paused socket once it flows again. */
function readAll(socket: Socket, size: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    let n = 0;
    socket.on('data', (chunk: Buffer) => {
      got.push(chunk);
      n += chunk.length;
      if (n >= size) resolve(Buffer.concat(got));
    });
    socket.once('error', reject);
  });
}

test('starter: relays before the hand-over, then hands its connection over mid-transfer and stops', { timeout: 20_000 }, async (t) => {
  const c = socketCalls();
  assert.ok(c, 'koffi loads on this machine');
  const echo: Server = createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  t.after(() => echo.close());
  const target = { ip: '127.0.0.1', port: (echo.address() as AddressInfo).port };
  const pipesBefore = pipeFds();
  const fd = openPublishedSocket(c, { parentIP: '127.0.0.1', parentPort: 0, childPort: 0, proto: 'tcp' }, 'tcp');
  t.after(() => c.close(fd));
  const hostPort = boundPort(fd);
  const starter = new Starter();
  starter.addTcp({ t: 'tcp', id: 1, fd, target, sourceIp: false });

  const early = await connected(hostPort);
  t.after(() => early.destroy());
  const first = randomBytes(4 << 20);
  assert.equal(sha(await exchange(early, first)), sha(first), 'relayed before the hand-over');

  // The client stops reading while it sends: the echo backs up until bytes wait in the relay's pipes.
  early.pause();
  const second = randomBytes(64 << 20); // more than every socket buffer on the way can hold
  const echoed = readAll(early, second.length);
  early.write(second);
  await sleep(300);
  const held = starter.handOver();
  assert.equal(held.length, 1);
  const [id, connections] = held[0]!;
  assert.equal(id, 1);
  assert.equal(connections.length, 1);
  const [state] = connections;
  assert.ok(state!.toClient.pending + state!.toServer.pending > 0, 'handed over with bytes in flight');

  // A worker's side: its own loop and forward on the same listening socket. Not polled yet.
  const loop = new Loop();
  const pipes = new PipePool(loop);
  const forward = new TcpForward(loop, pipes, fd, target, false);
  forward.adopt(connections);
  early.resume();
  const stalled = await Promise.race([echoed.then(() => 'done'), sleep(300, 'stalled')]);
  assert.equal(stalled, 'stalled', 'the starter relays nothing after the hand-over');

  const poller = setInterval(() => loop.poll(), 1);
  t.after(() => clearInterval(poller));
  assert.equal(sha((await echoed).subarray(0, second.length)), sha(second), 'the adopting loop carried on where the starter stood');
  const late = await connected(hostPort);
  assert.equal((await exchange(late, Buffer.from('ping'))).toString(), 'ping', 'the adopting loop accepts the new connections');

  late.destroy();
  forward.drop();
  pipes.closeIdle();
  assert.equal(pipeFds(), pipesBefore, 'no pipe left open: the ones handed over came back to the adopting pool');
});
