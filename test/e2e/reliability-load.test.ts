/**
 * Reliability: load through the builtin driver with every byte checked, and nsgate's open files back to
 * their baseline afterwards. Black-box (host sockets in, an echo server inside), so it holds for any data plane.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { exchange } from './clients.js';
import { eventually, freePort, type Launched, launchNsgate, settledFds, sha256, soakSize } from './harness.js';

const BULK_CONNECTIONS = 1_000;
const BULK_BYTES = soakSize(1024 * 1024, 2 * 1024 * 1024);
const SHORT_CONNECTIONS = soakSize(100_000, 200_000);
const SHORT_IN_FLIGHT = 64;
const UDP_CLIENTS = 100;
const UDP_MESSAGES = 20;

/** A connection through nsgate, once a first byte has come back through it (so both of its halves exist). */
function openEcho(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => s.write('.'));
    s.once('data', (d) => (d.toString() === '.' ? resolve(s) : reject(new Error(`unexpected ${d.toString()}`))));
    s.once('error', reject);
  });
}

/** Sends `data` on an open echo connection, ends our side, and returns the length and sha256 of what comes back. */
function echoOn(s: Socket, data: Buffer): Promise<{ length: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let length = 0;
    s.on('data', (d: Buffer) => {
      hash.update(d);
      length += d.length;
    });
    s.once('end', () => resolve({ length, sha256: hash.digest('hex') }));
    s.once('error', reject);
    s.end(data);
  });
}

/** Runs `count` tasks, `inFlight` at a time. */
async function pool(count: number, inFlight: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < count) await task(next++);
  }));
}

/**
 * Sends `messages` one at a time from 127.0.0.`host`, resending after 1 s (UDP may drop), and returns every
 * datagram received that is not an answer to this client (a late duplicate of its own is not counted).
 */
function udpClient(host: number, port: number, messages: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const replies: string[] = [];
    const foreign: string[] = [];
    let tries = 0;
    let timer: NodeJS.Timeout;
    const sendNext = () => {
      if (replies.length === messages.length) {
        s.close();
        return resolve(foreign);
      }
      if (++tries > 5) {
        s.close();
        return reject(new Error(`127.0.0.${host}: no reply to ${messages[replies.length]}`));
      }
      s.send(messages[replies.length]!, port, '127.0.0.1');
      timer = setTimeout(sendNext, 1_000);
    };
    s.on('message', (datagram) => {
      const reply = datagram.toString();
      if (reply !== messages[replies.length]) {
        if (!replies.includes(reply)) foreign.push(reply);
        return;
      }
      clearTimeout(timer);
      replies.push(reply);
      tries = 0;
      sendNext();
    });
    s.bind(0, `127.0.0.${host}`, sendNext);
  });
}

describe('load through the builtin driver', () => {
  let run: Launched;
  let tcp: number;
  let udp: number;
  let baseline: { parent: number; child: number };

  before(async () => {
    [tcp, udp] = [await freePort(), await freePort()];
    run = await launchNsgate(
      ['--net=none', '--port-driver=builtin', '-p', `127.0.0.1:${tcp}:7/tcp`, '-p', `0.0.0.0:${udp}:7/udp4`],
      ['tcp-echo,7,127.0.0.1', 'udp-echo,7,127.0.0.1'],
    );
    // Warm-up: one of each kind, so what the first connection opens lazily is in the baseline.
    assert.equal((await exchange('127.0.0.1', tcp, 'warm')).toString(), 'warm');
    assert.deepEqual(await udpClient(2, udp, ['warm']), []);
    baseline = await settledFds(run);
  });
  after(() => run.stop());

  /** After the load, nsgate's open files return to the baseline (UDP flows may take their idle time, so not those). */
  const fdsSettle = async (t: { diagnostic(msg: string): void }) => {
    await eventually(`fds back to ${JSON.stringify(baseline)} (now ${JSON.stringify(run.fds())})`, () => {
      const now = run.fds();
      return now.parent <= baseline.parent && now.child <= baseline.child;
    }, 5_000);
    t.diagnostic(`fds: baseline ${JSON.stringify(baseline)}, after ${JSON.stringify(run.fds())}`);
  };

  test(`${BULK_CONNECTIONS} concurrent TCP connections each echoing ${BULK_BYTES / 1024} KiB, every byte checked`, { timeout: 300_000 }, async (t) => {
    const t0 = Date.now();
    // All open at once before any payload moves: 1,000 really concurrent connections, 2,000 sockets in nsgate.
    const sockets = await Promise.all(Array.from({ length: BULK_CONNECTIONS }, () => openEcho(tcp)));
    const open = run.fds();
    await Promise.all(sockets.map(async (s, i) => {
      // Different random bytes on every connection, so bytes crossing between connections are caught too.
      const data = randomBytes(BULK_BYTES);
      const expected = sha256(data);
      const back = await echoOn(s, data);
      assert.equal(back.length, BULK_BYTES, `connection ${i}: length`);
      assert.equal(back.sha256, expected, `connection ${i}: checksum`);
    }));
    t.diagnostic(`${BULK_CONNECTIONS} × ${BULK_BYTES} bytes echoed in ${Date.now() - t0} ms; fds with all open ${JSON.stringify(open)}`);
    // Wherever the relay runs (the child natively, the parent without koffi), it holds the connections' fds.
    assert.ok(open.parent + open.child >= baseline.parent + baseline.child + BULK_CONNECTIONS, 'all connections were open at once');
    await fdsSettle(t);
  });

  test(`${SHORT_CONNECTIONS} short TCP connections, each checked`, { timeout: 300_000 }, async (t) => {
    const t0 = Date.now();
    await pool(SHORT_CONNECTIONS, SHORT_IN_FLIGHT, async (i) => {
      const msg = `short ${i}`;
      assert.equal((await exchange('127.0.0.1', tcp, msg)).toString(), msg);
    });
    t.diagnostic(`${SHORT_CONNECTIONS} connections in ${Date.now() - t0} ms`);
    await fdsSettle(t);
  });

  test(`UDP from ${UDP_CLIENTS} client addresses at once: every reply goes to its own sender`, async (t) => {
    const t0 = Date.now();
    const clients = Array.from({ length: UDP_CLIENTS }, (_, i) => {
      const host = 10 + i; // 127.0.0.10 - 127.0.0.109: distinct source addresses
      const messages = Array.from({ length: UDP_MESSAGES }, (_, m) => `from 127.0.0.${host} #${m} ${randomBytes(8).toString('hex')}`);
      return udpClient(host, udp, messages).then((foreign) => assert.deepEqual(foreign, [], `127.0.0.${host} got every reply, and only its own`));
    });
    await Promise.all(clients);
    t.diagnostic(`${UDP_CLIENTS} × ${UDP_MESSAGES} datagrams answered in ${Date.now() - t0} ms`);
  });
});
