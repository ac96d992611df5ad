/**
 * The builtin driver's native relay: source-IP propagation, bytes under concurrent load with checksums and
 * the relay's fds back to their baseline, UDP datagram boundaries, and the JavaScript fallback where koffi
 * is missing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect } from 'node:net';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exchange, probe } from './clients.js';
import { createClientNetns, E2E_DIR, eventually, FIXTURE, freePort, launchCommand, launchNsgate, settledFds, sha256, sleep, startAsUser, SUBNET } from './harness.js';

/** nsgate with the builtin driver on slirp4netns, running the fixture `servers`. */
const launch = (flags: string[], servers: string[]) => launchNsgate(['--net=slirp4netns', '--port-driver=builtin', ...flags], servers);

const peerSeenFrom = (netns: ReturnType<typeof createClientNetns>, port: number) =>
  netns.run(`require('net').connect(${port}, '${SUBNET}1').pipe(process.stdout)`);

describe('source IP (--source-ip-transparent, on by default)', () => {
  let run: Awaited<ReturnType<typeof launch>>;
  let clientNetns: ReturnType<typeof createClientNetns>;
  const ports: Record<string, number> = {};

  before(async () => {
    for (const name of ['wildcard', 'loopback', 'childIp']) ports[name] = await freePort();
    clientNetns = createClientNetns();
    run = await launch(
      ['-p', `0.0.0.0:${ports.wildcard}:80/tcp4`, '-p', `0.0.0.0:${ports.loopback}:81/tcp4`, '-p', `0.0.0.0:${ports.childIp}:10.0.2.100:82/tcp4`],
      ['tcp-peer,80,0.0.0.0', 'tcp-peer,81,127.0.0.1', 'tcp-peer,82,0.0.0.0'],
    );
  });

  after(async () => {
    try {
      await run?.stop();
    } finally {
      clientNetns?.remove();
    }
  });

  test("a client in its own netns (198.51.100.2) is seen with its address, by a server on 0.0.0.0 or on 127.0.0.1", () => {
    assert.match(peerSeenFrom(clientNetns, ports.wildcard!), /^peer 198\.51\.100\.2 \d+\n$/);
    assert.match(peerSeenFrom(clientNetns, ports.loopback!), /^peer 198\.51\.100\.2 \d+\n$/);
  });

  test('also through a child IP that is not loopback (10.0.2.100)', () => {
    assert.match(peerSeenFrom(clientNetns, ports.childIp!), /^peer 198\.51\.100\.2 \d+\n$/);
  });

  test('loopback clients stay 127.0.0.1', async () => {
    assert.match(await probe('127.0.0.1', ports.wildcard!), /^peer 127\.0\.0\.1 \d+\n$/);
  });
});

/**
 * A script for the client netns: from each address in `from`, one socket per port in `ports`, all at once,
 * sends `count` numbered datagrams to 198.51.100.1 and reads the udp-peer-echo answers: how many came back with
 * their payload intact (sha256), and every peer the server reported that was not this socket's own address.
 */
function udpPeersScript(from: string[], ports: number[], count: number): string {
  return `
    const dgram = require('dgram');
    const hash = (d) => require('crypto').createHash('sha256').update(d).digest('hex');
    const results = [];
    const bursts = [];
    for (const address of ${JSON.stringify(from)}) {
      // First one datagram from each address to a closed port, so that both ends know each other's link
      // address before the bursts: packets queued while that is resolved are few, the rest dropped.
      const warmUp = dgram.createSocket('udp4');
      warmUp.bind(0, address, () => warmUp.send('x', 9, '${SUBNET}1', () => warmUp.close()));
      for (const port of ${JSON.stringify(ports)}) {
        const s = dgram.createSocket('udp4');
        const sent = new Map();
        const r = { address, port, back: 0, corrupt: 0, otherPeers: [] };
        results.push(r);
        s.on('message', (m) => {
          const nl = m.indexOf(10);
          const peer = m.subarray(0, nl).toString();
          const body = m.subarray(nl + 1);
          if (peer !== 'peer ' + address + ' ' + s.address().port && !r.otherPeers.includes(peer)) r.otherPeers.push(peer);
          if (body.length >= 4 && sent.get(body.readUInt32BE(0)) === hash(body)) r.back++;
          else r.corrupt++;
        });
        s.bind(0, address);
        bursts.push(() => {
          for (let i = 1; i <= ${count}; i++) {
            const d = require('crypto').randomBytes(200 + i * 20);
            d.writeUInt32BE(i, 0);
            sent.set(i, hash(d));
            s.send(d, port, '${SUBNET}1');
          }
        });
      }
    }
    setTimeout(() => bursts.forEach((burst) => burst()), 300);
    setTimeout(() => { console.log(JSON.stringify(results)); process.exit(0); }, 2300);`;
}

describe('UDP source IP (--source-ip-transparent, on by default)', () => {
  const COUNT = 50;
  let run: Awaited<ReturnType<typeof launch>>;
  let clientNetns: ReturnType<typeof createClientNetns>;
  const ports: Record<string, number> = {};

  before(async () => {
    for (const name of ['wildcard', 'loopback', 'childIp']) ports[name] = await freePort();
    clientNetns = createClientNetns();
    // A second client address in the same netns, so that two real addresses talk at once.
    const added = spawnSync('ip', ['-n', clientNetns.netns, 'addr', 'add', `${SUBNET}3/24`, 'dev', 'client0'], { encoding: 'utf8' });
    assert.equal(added.status, 0, added.stderr);
    // udp (not udp4) on 0.0.0.0 is a dual-stack host socket: its IPv4 clients arrive v4-mapped.
    run = await launch(
      ['-p', `0.0.0.0:${ports.wildcard}:53/udp4`, '-p', `0.0.0.0:${ports.loopback}:54/udp`, '-p', `0.0.0.0:${ports.childIp}:10.0.2.100:55/udp4`],
      ['udp-peer-echo,53,0.0.0.0', 'udp-peer-echo,54,127.0.0.1', 'udp-peer-echo,55,10.0.2.100'],
    );
  });

  after(async () => {
    try {
      await run?.stop();
    } finally {
      clientNetns?.remove();
    }
  });

  test('clients at two addresses at once (198.51.100.2 and .3) are seen with their own, by servers on 0.0.0.0, 127.0.0.1 and the child IP; every reply comes back intact', () => {
    const from = [`${SUBNET}2`, `${SUBNET}3`];
    const results = JSON.parse(clientNetns.run(udpPeersScript(from, [ports.wildcard!, ports.loopback!, ports.childIp!], COUNT))) as Array<{
      address: string;
      port: number;
      back: number;
      corrupt: number;
      otherPeers: string[];
    }>;
    assert.equal(results.length, 6);
    for (const r of results) {
      const where = JSON.stringify(r);
      assert.deepEqual(r.otherPeers, [], where);
      assert.equal(r.corrupt, 0, where);
      assert.ok(r.back >= COUNT * 0.9, where);
    }
  });

  test('loopback clients stay 127.0.0.1', async () => {
    const s = createSocket('udp4');
    try {
      const answer = new Promise<string>((resolve) => s.once('message', (m) => resolve(m.toString())));
      s.send('hello', ports.wildcard!, '127.0.0.1');
      assert.match(await answer, /^peer 127\.0\.0\.1 \d+\nhello$/);
    } finally {
      s.close();
    }
  });
});

/**
 * What CNI's portmap does for a container (nerdctl publishes ports this way): the child port on 127.0.0.1 is
 * DNATed to a server in another namespace (203.0.113.2, behind a veth), and what comes from loopback is
 * masqueraded. COMMAND sets it up with ip and iptables, as uid 0 in nsgate's namespaces.
 */
const DNAT_TO_NAMESPACE = `set -e
unshare -n sh -c 'ip link set lo up; exec "$0" "$@"' ${process.execPath} ${FIXTURE} tcp-peer,80,0.0.0.0 > "$1/server.out" &
server=$!
while [ "$(readlink /proc/$server/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.05; done
ip link add dn0 type veth peer name dn1 netns $server
ip addr add 203.0.113.1/24 dev dn0
ip link set dn0 up
nsenter -t $server -n sh -c 'ip addr add 203.0.113.2/24 dev dn1 && ip link set dn1 up'
echo 1 > /proc/sys/net/ipv4/conf/dn0/route_localnet
iptables -t nat -A OUTPUT -d 127.0.0.1/32 -p tcp --dport 80 -j DNAT --to-destination 203.0.113.2:80
iptables -t nat -A POSTROUTING -s 127.0.0.1/32 -o dn0 -j MASQUERADE
until grep -q ready "$1/server.out"; do sleep 0.05; done
echo dnat ready
wait $server`;

describe('a child port DNATed to another namespace (CNI portmap, as nerdctl publishes)', () => {
  test('loopback clients and a client in its own netns both get through, seen as the masquerading address as with RootlessKit', async () => {
    const port = await freePort();
    const clientNetns = createClientNetns();
    const run = await launchCommand(['--net=slirp4netns', '--port-driver=builtin', '-p', `0.0.0.0:${port}:80/tcp4`], (dir) => ['sh', '-c', DNAT_TO_NAMESPACE, 'dnat', dir], /dnat ready/);
    try {
      // Nothing listens at 127.0.0.1:80 in nsgate's namespace, so no transparent bind: the replies of a
      // container could not find their way back to it. Loopback-sourced traffic is not taken by the source-IP
      // routing either.
      assert.match(await probe('127.0.0.1', port), /^peer 203\.0\.113\.1 \d+\n$/);
      assert.match(peerSeenFrom(clientNetns, port), /^peer 203\.0\.113\.1 \d+\n$/);
    } finally {
      await run.stop();
      clientNetns.remove();
    }
  });
});

describe('--source-ip-transparent=false', () => {
  test('every client is seen as 127.0.0.1', async () => {
    const port = await freePort();
    const clientNetns = createClientNetns();
    const run = await launch(['--source-ip-transparent=false', '-p', `0.0.0.0:${port}:80/tcp4`], ['tcp-peer,80,0.0.0.0']);
    try {
      assert.match(peerSeenFrom(clientNetns, port), /^peer 127\.0\.0\.1 \d+\n$/);
    } finally {
      await run.stop();
      clientNetns.remove();
    }
  });
});

describe('load: short connections and a bulk transfer at once', () => {
  const SHORT = Number(process.env.NSGATE_SOAK_SHORT ?? 3_000);
  const PARALLEL = 50;
  const BULK = 64 << 20;

  test(`${SHORT} short connections (${PARALLEL} at a time) and ${BULK >> 20} MiB, every byte checked; the relay's fds return to baseline`, async () => {
    const port = await freePort();
    const run = await launch(['-p', `127.0.0.1:${port}:7/tcp`], ['tcp-echo,7,127.0.0.1']);
    try {
      // The native relay runs in the child: its fds are the connections' and the pipes'.
      const fds = () => run.fds().child;
      assert.equal((await exchange('127.0.0.1', port, 'warm-up')).toString(), 'warm-up');
      // The relay closes pipes unused for a second and starts its extra workers in the background.
      await sleep(1_500);
      const { child: baseline } = await settledFds(run);

      const bulk = randomBytes(BULK);
      const bulkDone = exchange('127.0.0.1', port, bulk).then((echoed) => assert.equal(sha256(echoed), sha256(bulk), 'bulk transfer'));
      let next = 0;
      let checked = 0;
      const worker = async () => {
        while (next < SHORT) {
          next++;
          const payload = randomBytes(1024 + (next % 4096));
          const echoed = await exchange('127.0.0.1', port, payload);
          assert.equal(sha256(echoed), sha256(payload));
          checked++;
        }
      };
      await Promise.all([bulkDone, ...Array.from({ length: PARALLEL }, worker)]);
      assert.equal(checked, SHORT);
      await eventually(`child fds back to their baseline of ${baseline}`, () => fds() === baseline, 5_000);
    } finally {
      await run.stop();
    }
  });
});

/**
 * One connection to an echo server, in phases: request/response exchanges (each answer awaited and compared),
 * a bulk transfer both ways at once (compared by sha256), and exchanges again. The relay copies small reads
 * and splices large ones, switching per direction as the traffic changes: no byte may be lost or reordered.
 */
async function phasedEcho(port: number, exchanges: number, bulk: Buffer): Promise<void> {
  const s = connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  const received: Buffer[] = [];
  let have = 0;
  let wanted = 0;
  let ready: (() => void) | undefined;
  s.on('data', (d: Buffer) => {
    received.push(d);
    have += d.length;
    if (have >= wanted) ready?.();
  });
  const echoOf = async (data: Buffer): Promise<Buffer> => {
    wanted = have + data.length;
    const arrived = new Promise<void>((resolve) => (ready = resolve));
    s.write(data);
    if (have < wanted) await arrived;
    const all = Buffer.concat(received);
    received.length = 0;
    received.push(all.subarray(data.length));
    have -= data.length;
    return all.subarray(0, data.length);
  };
  try {
    const talk = async (phase: string) => {
      for (let i = 0; i < exchanges; i++) {
        const request = randomBytes(1 + ((i * 97) % 3000));
        assert.equal(sha256(await echoOf(request)), sha256(request), `${phase}: exchange ${i}`);
      }
    };
    await talk('request/response');
    assert.equal(sha256(await echoOf(bulk)), sha256(bulk), 'bulk');
    await talk('request/response after bulk');
  } finally {
    s.destroy();
  }
}

describe('one connection from request/response to bulk and back', () => {
  // A lost byte leaves an answer waiting forever: the timeout fails the test instead.
  test('every byte arrives, in order, in each phase', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const run = await launch(['-p', `127.0.0.1:${port}:7/tcp`], ['tcp-echo,7,127.0.0.1']);
    try {
      await phasedEcho(port, 300, randomBytes(32 << 20));
    } finally {
      await run.stop();
    }
  });
});

/**
 * Bursts of datagrams whose lengths make the relay's GSO groups (runs of one length, a shorter last one,
 * longer ones that must not join, empty ones, groups cut at 64 KiB), all sent at once so that they reach
 * the relay in one batch. Each starts with its number (4 bytes; the empty ones cannot).
 */
const BURSTS: number[][] = [
  [...Array(20).fill(1400), 700, ...Array(5).fill(1400)],
  [...Array(10).fill(100), 101, 101, 99, ...Array(5).fill(100), 4, 5, 4],
  [...Array(47).fill(1400), 1399],
  [20_000, 20_000, 20_000, 4, 0, 0, 8, 8, 0, 8],
  [65_507, 30_000, 30_000],
  Array.from({ length: 60 }, (_, i) => 500 + (i % 3)),
];

/**
 * Sends BURSTS to an echo server through `port`, one burst at a time (the next once the echoes stop for
 * 300 ms), and checks every datagram that comes back against the sha256 of the one sent with its number.
 */
async function echoBursts(host: string, port: number): Promise<{ sent: number; back: number; empty: number; wrong: string[] }> {
  const s = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
  await new Promise<void>((resolve) => s.bind(0, host, resolve));
  const sent = new Map<number, string>();
  const wrong: string[] = [];
  let back = 0;
  let empty = 0;
  let lastEcho = Date.now();
  s.on('message', (d: Buffer) => {
    lastEcho = Date.now();
    if (d.length === 0) return void empty++;
    const seq = d.length >= 4 ? d.readUInt32BE(0) : -1;
    if (sha256(d) !== sent.get(seq)) wrong.push(`${d.length} bytes, numbered ${seq}`);
    sent.delete(seq);
    back++;
  });
  let seq = 0;
  let emptySent = 0;
  try {
    for (const burst of BURSTS) {
      for (const length of burst) {
        const d = randomBytes(length);
        if (length === 0) emptySent++;
        else {
          d.writeUInt32BE(++seq, 0);
          sent.set(seq, sha256(d));
        }
        s.send(d, port, host);
      }
      lastEcho = Date.now();
      await eventually('the echoes of a burst', () => Date.now() - lastEcho > 300, 10_000);
    }
  } finally {
    s.close();
  }
  if (empty > emptySent) wrong.push(`${empty} empty datagrams for ${emptySent} sent`);
  return { sent: seq + emptySent, back: back + empty, empty, wrong };
}

describe('UDP datagram boundaries', () => {
  test('mixed lengths in bursts come back as the same datagrams, byte for byte, over IPv4 (a dual-stack port) and IPv6', async () => {
    const [v4, v6] = [await freePort(), await freePort('::1')];
    // udp on 0.0.0.0 is one dual-stack host socket: IPv4 clients are v4-mapped there.
    const run = await launch(['-p', `0.0.0.0:${v4}:7/udp`, '-p', `[::1]:${v6}:[::1]:7/udp6`], ['udp-echo,7,127.0.0.1', 'udp-echo,7,::1']);
    try {
      for (const [host, port] of [['127.0.0.1', v4], ['::1', v6]] as const) {
        const { sent, back, empty, wrong } = await echoBursts(host, port);
        assert.deepEqual(wrong, [], `${host}: datagrams that were not sent so came back`);
        // Loopback with 4 MiB queues loses nothing here; a few losses would not be a boundary error.
        assert.ok(back >= sent * 0.95, `${host}: ${back} of ${sent} datagrams came back`);
        assert.ok(empty > 0, `${host}: empty datagrams come back too`);
      }
    } finally {
      await run.stop();
    }
  });

  test('replies too long for a GSO send on the path (1480 bytes, MTU 1500) still reach a client in its own netns', async () => {
    const port = await freePort();
    const clientNetns = createClientNetns();
    const run = await launch(['-p', `0.0.0.0:${port}:7/udp4`], ['udp-echo,7,127.0.0.1']);
    const COUNT = 20;
    try {
      // The kernel refuses (EINVAL) a GSO send whose datagrams do not fit the MTU; the relay then sends them one by one.
      const out = clientNetns.run(`
        const s = require('dgram').createSocket('udp4');
        const hash = (d) => require('crypto').createHash('sha256').update(d).digest('hex');
        const sent = new Map();
        const result = { back: 0, wrong: [] };
        s.on('message', (d) => (sent.get(d.readUInt32BE(0)) === hash(d) ? result.back++ : result.wrong.push(d.length)));
        s.bind(0, () => {
          for (let i = 1; i <= ${COUNT}; i++) {
            const d = require('crypto').randomBytes(1480);
            d.writeUInt32BE(i, 0);
            sent.set(i, hash(d));
            s.send(d, ${port}, '${SUBNET}1');
          }
          setTimeout(() => { console.log(JSON.stringify(result)); s.close(); }, 2000);
        });`);
      const { back, wrong } = JSON.parse(out) as { back: number; wrong: number[] };
      assert.deepEqual(wrong, []);
      assert.ok(back >= COUNT * 0.95, `${back} of ${COUNT} came back`);
    } finally {
      await run.stop();
      clientNetns.remove();
    }
  });
});

/**
 * FLOWS client sockets at once, each sending 1,400-byte datagrams as fast as its send callbacks allow (a few
 * in flight each) for `ms`, to an echo server through `port`. A datagram carries its flow's number and its
 * own sha256, so each echo is checked without remembering what was sent. Returns per flow: echoes back
 * intact, and echoes that were damaged or belonged to another flow.
 */
async function saturateFlows(port: number, flows: number, ms: number): Promise<Array<{ sent: number; back: number; wrong: number }>> {
  const IN_FLIGHT = 8;
  const stats = Array.from({ length: flows }, () => ({ sent: 0, back: 0, wrong: 0 }));
  const sockets = await Promise.all(
    stats.map(async (stat, flow) => {
      const s = createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
      await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
      s.on('message', (d: Buffer) => {
        const body = d.subarray(0, d.length - 32);
        const intact = d.length === 1400 && body.readUInt32BE(0) === flow && createHash('sha256').update(body).digest().equals(d.subarray(-32));
        if (intact) stat.back++;
        else stat.wrong++;
      });
      return s;
    }),
  );
  const until = Date.now() + ms;
  const pump = (flow: number) => {
    if (Date.now() >= until) return;
    const body = randomBytes(1400 - 32);
    body.writeUInt32BE(flow, 0);
    stats[flow]!.sent++;
    sockets[flow]!.send(Buffer.concat([body, createHash('sha256').update(body).digest()]), port, '127.0.0.1', () => pump(flow));
  };
  for (let flow = 0; flow < flows; flow++) for (let i = 0; i < IN_FLIGHT; i++) pump(flow);
  await sleep(ms + 1_000);
  for (const s of sockets) s.close();
  return stats;
}

describe('UDP: many flows at saturation', () => {
  const FLOWS = 64;
  test(`${FLOWS} flows sending as fast as they can: every flow gets datagrams through, each echo intact and to its own flow`, async (t) => {
    const port = await freePort();
    const run = await launch(['-p', `127.0.0.1:${port}:7/udp4`], ['udp-echo,7,127.0.0.1']);
    try {
      const stats = await saturateFlows(port, FLOWS, 3_000);
      const total = stats.reduce((sum, s) => sum + s.back, 0);
      const backs = stats.map((s) => s.back);
      t.diagnostic(`sent ${stats.reduce((sum, s) => sum + s.sent, 0)}, echoed ${total}, per flow ${Math.min(...backs)} to ${Math.max(...backs)}`);
      assert.ok(total > 0, 'echoes came back');
      stats.forEach((s, flow) => {
        assert.equal(s.wrong, 0, `flow ${flow}: ${JSON.stringify(s)}`);
        assert.ok(s.back > 0, `flow ${flow} starved: ${JSON.stringify(s)} (all flows: ${stats.map((x) => x.back).join(' ')})`);
      });
    } finally {
      await run.stop();
    }
  });
});

describe('without koffi', () => {
  let copy: string;
  before(() => {
    // The same build with no node_modules: koffi cannot load, as on a platform it has no binary for.
    copy = mkdtempSync('/tmp/nsgate-nokoffi-');
    cpSync(join(E2E_DIR, 'dist'), join(copy, 'dist'), { recursive: true });
    cpSync(join(E2E_DIR, 'package.json'), join(copy, 'package.json'));
    chmodSync(copy, 0o755);
    assert.throws(() => createRequire(join(copy, 'dist/src/sys/libc.js'))('koffi'), /Cannot find module 'koffi'/, 'no node_modules above the copy');
  });
  after(() => rmSync(copy, { recursive: true, force: true }));

  test('the builtin driver relays in JavaScript, with one warning, and the bytes arrive intact', async () => {
    const port = await freePort();
    const p = startAsUser(process.execPath, [
      join(copy, 'dist/bundle/nsgate.js'), '--net=slirp4netns', '--port-driver=builtin', '-p', `127.0.0.1:${port}:7/tcp`,
      '--', process.execPath, FIXTURE.replace(E2E_DIR, copy), 'tcp-echo,7,127.0.0.1',
    ]);
    try {
      await p.waitFor(/ready/, 20_000);
      const data = randomBytes(4 << 20);
      assert.equal(sha256(await exchange('127.0.0.1', port, data)), sha256(data));
      const warnings = p.stderr.match(/native relay unavailable[^\n]*/g) ?? [];
      assert.equal(warnings.length, 1, p.stderr);
      assert.match(warnings[0]!, /relays in JavaScript/);
    } finally {
      p.kill();
      await p.exited();
    }
  });
});
