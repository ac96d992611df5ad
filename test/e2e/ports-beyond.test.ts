/**
 * nsgate's extensions to publishing (issue 16): port ranges, parent port 0, per-port traffic counters and
 * /metrics, that RootlessKit's Go rootlessctl still reads a port list with them, and reverse ports.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { ApiClient } from '../../src/api/client.js';
import type { PortStatus } from '../../src/port/types.js';
import { exchange, probe } from './clients.js';
import { asUser, E2E_DIR, eventually, fixture, freePort, nsgate, NSGATECTL, type Proc, runNsgate, sha256, userEnv, userTempDir } from './harness.js';
import { describePeer, newestPeer, packagedPeer, type Peer, referencePeer } from './peers.js';

/** The Go rootlessctl builds that read our port lists: the reference, the newest v3 and Debian's, each once. */
const PEERS = [referencePeer(), newestPeer(), packagedPeer()]
  .filter((peer): peer is Peer => peer !== undefined)
  .filter((peer, i, all) => all.findIndex((other) => other.rootlessctl === peer.rootlessctl) === i);
/** The child ports of the range's servers: each answers "port N". */
const CHILD_BASE = 9000;
const RANGE = 10;

/** `count` consecutive free TCP ports on 127.0.0.1 (tried by binding each, from a random start). */
async function freeRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const held: ReturnType<typeof createServer>[] = [];
    let free = true;
    for (let port = base; port < base + count && free; port++) {
      const srv = createServer();
      free = await new Promise<boolean>((resolve) => {
        srv.once('error', () => resolve(false));
        srv.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (free) held.push(srv);
    }
    await Promise.all(held.map((srv) => new Promise((resolve) => srv.close(resolve))));
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports`);
}

/** Send each datagram from its own socket per client, wait for every echo; returns the bytes sent per client. */
function udpEcho(port: number, datagrams: Buffer[]): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const replies: Buffer[] = [];
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`${replies.length} of ${datagrams.length} UDP echoes`));
    }, 5_000);
    s.on('message', (reply) => {
      replies.push(reply);
      if (replies.length < datagrams.length) return;
      clearTimeout(timer);
      s.close();
      resolve(replies);
    });
    // One at a time: the test counts exact datagrams, and a burst could overflow a socket queue.
    let next = 0;
    const sendNext = () => next < datagrams.length && s.send(datagrams[next++]!, port, '127.0.0.1', () => setTimeout(sendNext, 2));
    sendNext();
  });
}

describe('port ranges, parent port 0 and counters (builtin)', () => {
  let p: Proc;
  let api: ApiClient;
  let dir: string;
  let base: number;
  let echoPort: number;
  let udpPort: number;

  const ctl = (...args: string[]) => {
    const [cmd, argv] = asUser(process.execPath, [NSGATECTL, `--socket=${dir}/state/api.sock`, ...args]);
    return spawnSync(cmd, argv, { encoding: 'utf8', env: userEnv() });
  };
  const entry = async (parentPort: number, proto = 'tcp'): Promise<PortStatus> => {
    const found = (await api.listPorts()).find((s) => s.spec.parentPort === parentPort && s.spec.proto === proto);
    assert.ok(found, `port ${parentPort}/${proto} is listed`);
    return found;
  };

  before(async () => {
    base = await freeRange(RANGE);
    echoPort = await freePort();
    udpPort = await freePort();
    dir = userTempDir();
    const servers = Array.from({ length: RANGE }, (_, i) => `tcp-port,${CHILD_BASE + i},127.0.0.1`);
    p = nsgate([
      `--state-dir=${dir}/state`, '--net=none', '--port-driver=builtin',
      '-p', `127.0.0.1:${base}-${base + RANGE - 1}:${CHILD_BASE}-${CHILD_BASE + RANGE - 1}/tcp`,
      '-p', `127.0.0.1:0:${CHILD_BASE}/tcp`,
      '-p', `127.0.0.1:${echoPort}:7/tcp`,
      '-p', `127.0.0.1:${udpPort}:7/udp`,
      '--',
      ...fixture(...servers, 'tcp-echo,7,127.0.0.1', 'udp-echo,7,127.0.0.1'),
    ]);
    await p.waitFor(/ready/, 20_000);
    api = new ApiClient(`${dir}/state/api.sock`);
  });

  after(async () => {
    p.kill();
    await p.exited();
    rmSync(dir, { recursive: true, force: true });
  });

  test('-p with a 10-port range reaches 10 servers inside, each on its own port; listed one per port, in order', async () => {
    for (let i = 0; i < RANGE; i++) assert.equal(await probe('127.0.0.1', base + i), `port ${CHILD_BASE + i}\n`);
    const list = (await api.listPorts()).slice(0, RANGE);
    assert.deepEqual(list.map((s) => [s.id, s.spec.parentPort, s.spec.childPort]), Array.from({ length: RANGE }, (_, i) => [i + 1, base + i, CHILD_BASE + i]));
    const table = ctl('list-ports');
    assert.equal(table.status, 0, table.stderr);
    const rows = table.stdout.trim().split('\n').slice(1, RANGE + 1);
    assert.deepEqual(rows.map((row) => row.trim().split(/\s+/)), list.map((s) => [String(s.id), 'tcp', '127.0.0.1', String(s.spec.parentPort), String(s.spec.childPort)]));
  });

  test('-p with parent port 0: the kernel picked a port, which is listed and answers', async () => {
    const picked = (await api.listPorts())[RANGE]!;
    assert.equal(picked.spec.childPort, CHILD_BASE);
    assert.notEqual(picked.spec.parentPort, 0);
    assert.equal(await probe('127.0.0.1', picked.spec.parentPort), `port ${CHILD_BASE}\n`);
  });

  test('POST /v1/ports with parentPort 0 answers 201 with the real port, which answers', async () => {
    const added = await api.addPort({ proto: 'tcp', parentIP: '127.0.0.1', parentPort: 0, childPort: CHILD_BASE + 3 });
    assert.ok(added.spec.parentPort > 0);
    assert.equal(await probe('127.0.0.1', added.spec.parentPort), `port ${CHILD_BASE + 3}\n`);
    assert.deepEqual((await entry(added.spec.parentPort)).spec, added.spec);
    await api.removePort(added.id);
    assert.equal(await probe('127.0.0.1', added.spec.parentPort), 'refused');
  });

  test('POST /v1/ports with parentPortEnd and childPortEnd adds a range and answers its entries', async () => {
    const start = await freeRange(RANGE);
    const added = await api.addPorts({ proto: 'tcp', parentIP: '127.0.0.1', parentPort: start, parentPortEnd: start + RANGE - 1, childPort: CHILD_BASE, childPortEnd: CHILD_BASE + RANGE - 1 });
    assert.deepEqual(added.map((s) => s.spec.parentPort), Array.from({ length: RANGE }, (_, i) => start + i));
    assert.deepEqual(added.map((s) => s.id), Array.from({ length: RANGE }, (_, i) => added[0]!.id + i), 'consecutive ids');
    for (let i = 0; i < RANGE; i++) assert.equal(await probe('127.0.0.1', start + i), `port ${CHILD_BASE + i}\n`);
    for (const { id } of added) await api.removePort(id);
  });

  test('a range that collides half-way adds nothing and opens nothing', async () => {
    const start = await freeRange(RANGE);
    const blocker = await api.addPort({ proto: 'tcp', parentIP: '127.0.0.1', parentPort: start + 5, childPort: CHILD_BASE });
    const before = await api.listPorts();
    const r = ctl('add-ports', `127.0.0.1:${start}-${start + RANGE - 1}:${CHILD_BASE}-${CHILD_BASE + RANGE - 1}/tcp`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`port 127\\.0\\.0\\.1:${start + 5}:${CHILD_BASE + 5}/tcp of the range .* \\(none of it added\\) conflicts with id ${blocker.id}`));
    assert.deepEqual(await api.listPorts(), before);
    for (let i = 0; i < RANGE; i++) if (i !== 5) assert.equal(await probe('127.0.0.1', start + i), 'refused');
    // Taken on the host instead of by nsgate: opened ports of the range are closed again.
    await api.removePort(blocker.id);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(start + 7, '127.0.0.1', resolve));
    const r2 = ctl('add-ports', `127.0.0.1:${start}-${start + RANGE - 1}:${CHILD_BASE}-${CHILD_BASE + RANGE - 1}/tcp`);
    taken.close();
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, new RegExp(`the range 127\\.0\\.0\\.1:${start}-${start + RANGE - 1}:.* was not added \\(no port of it is open\\): port 127\\.0\\.0\\.1:${start + 7}:${CHILD_BASE + 7}/tcp: .*already in use`));
    assert.deepEqual((await api.listPorts()).map((s) => s.id), before.filter((s) => s.id !== blocker.id).map((s) => s.id));
    for (let i = 0; i < RANGE; i++) if (i !== 7) assert.equal(await probe('127.0.0.1', start + i), 'refused');
  });

  test('nsgatectl add-ports takes a range (one id per port) and refuses unequal ones, saying what to write', async () => {
    const start = await freeRange(3);
    const r = ctl('add-ports', `127.0.0.1:${start}-${start + 2}:${CHILD_BASE}-${CHILD_BASE + 2}/tcp`);
    assert.equal(r.status, 0, r.stderr);
    const ids = r.stdout.trim().split('\n');
    assert.equal(ids.length, 3);
    assert.equal(await probe('127.0.0.1', start + 2), `port ${CHILD_BASE + 2}\n`);
    const removed = ctl('remove-ports', `${ids[0]}-${ids[2]}`);
    assert.equal(removed.stdout, `${ids.join('\n')}\n`, 'an ID range removes the range');
    assert.equal(await probe('127.0.0.1', start + 2), 'refused');
    const bad = ctl('add-ports', `127.0.0.1:${start}-${start + 9}:80/tcp`);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /the parent side is 10 ports .* but the child side is one port \(80\): both must have as many \(write equal ranges, e\.g\. 127\.0\.0\.1:8000-8009:80-89\/tcp\)/);
    const long = ctl('add-ports', '127.0.0.1:10000-11000:10000-11000/tcp');
    assert.match(long.stderr, /a range of 1001 ports is longer than the limit of 1000/);
  });

  test('TCP counters match the connections and bytes sent, and a refused dial is counted', async () => {
    const sizes = [1, 1000, 65_536, 1_000_000];
    let sent = 0;
    for (const size of sizes) {
      const data = randomBytes(size);
      const echoed = await exchange('127.0.0.1', echoPort, data);
      assert.equal(sha256(echoed), sha256(data));
      sent += size;
    }
    await eventually('the echo connections are closed in the relay', async () => (await entry(echoPort)).stats?.active === 0);
    assert.deepEqual((await entry(echoPort)).stats, { connections: sizes.length, active: 0, bytesToChild: sent, bytesFromChild: sent, refused: 0 });
    // Nothing listens inside at child port 1: the dial is refused and the client reset.
    const nobody = await api.addPort({ proto: 'tcp', parentIP: '127.0.0.1', parentPort: 0, childPort: 1 });
    await assert.rejects(exchange('127.0.0.1', nobody.spec.parentPort, 'x'));
    await eventually('the refusal is counted', async () => ((await entry(nobody.spec.parentPort)).stats as { refused?: number } | undefined)?.refused === 1);
    assert.deepEqual((await entry(nobody.spec.parentPort)).stats, { connections: 1, active: 0, bytesToChild: 0, bytesFromChild: 0, refused: 1 });
    await api.removePort(nobody.id);
  });

  test('UDP counters match the flows, datagrams and bytes sent', async () => {
    const first = [randomBytes(10), randomBytes(1400), randomBytes(60_000)];
    const second = [randomBytes(1), randomBytes(512)];
    for (const [client, datagrams] of [first, second].entries()) {
      const replies = await udpEcho(udpPort, datagrams);
      assert.deepEqual(replies.map(sha256).sort(), datagrams.map(sha256).sort(), `client ${client}`);
    }
    const all = [...first, ...second];
    const bytes = all.reduce((sum, d) => sum + d.length, 0);
    assert.deepEqual((await entry(udpPort, 'udp')).stats, {
      flows: 2,
      active: 2,
      datagramsToChild: all.length,
      datagramsFromChild: all.length,
      bytesToChild: bytes,
      bytesFromChild: bytes,
      dropped: 0,
    });
  });

  test('nsgatectl list-ports --stats prints the counters as a table, --json as JSON', async () => {
    const table = ctl('list-ports', '--stats');
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^ID\s+PROTO\s+PARENTIP\s+PARENTPORT\s+CHILDIP\s+CHILDPORT\s+CONNS\/FLOWS\s+ACTIVE\s+BYTES_TO_CHILD\s+BYTES_FROM_CHILD\s+DGRAMS_TO_CHILD\s+DGRAMS_FROM_CHILD\s+REFUSED\/DROPPED\s*$/m);
    const echo = await entry(echoPort);
    const s = echo.stats as { connections: number; bytesToChild: number; bytesFromChild: number };
    assert.match(table.stdout, new RegExp(`^${echo.id}\\s+tcp\\s+127\\.0\\.0\\.1\\s+${echoPort}\\s+7\\s+${s.connections}\\s+0\\s+${s.bytesToChild}\\s+${s.bytesFromChild}\\s+-\\s+-\\s+0\\s*$`, 'm'));
    const json = ctl('list-ports', '--json');
    const lines = json.stdout.trim().split('\n').map((line) => JSON.parse(line) as PortStatus);
    assert.deepEqual(lines.find((l) => l.id === echo.id)!.stats, echo.stats);
  });

  test('GET /metrics on api.sock: a Prometheus text parser reads the counters the API shows, and the processes', async () => {
    const [cmd, argv] = asUser('curl', ['-sS', '-i', '--max-time', '5', '--unix-socket', `${dir}/state/api.sock`, 'http://nsgate/metrics']);
    const r = spawnSync(cmd, argv, { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [head, body] = r.stdout.split('\r\n\r\n') as [string, string];
    assert.match(head, /^HTTP\/1\.1 200 OK/);
    assert.match(head, /^Content-Type: text\/plain; version=0\.0\.4; charset=utf-8$/im);
    const families = parsePrometheusTextFormat(body);
    const samples = (name: string) => families.find((f) => f.name === name)?.metrics ?? [];
    const list = await api.listPorts();
    assert.equal(samples('nsgate_ports')[0]?.value, String(list.length));
    const echo = await entry(echoPort);
    const echoStats = echo.stats as { connections: number; bytesToChild: number; bytesFromChild: number };
    const labels = { id: String(echo.id), proto: 'tcp', parent: `127.0.0.1:${echoPort}`, child: ':7' };
    assert.deepEqual(samples('nsgate_port_connections_total').find((m) => m.labels?.id === labels.id), { value: String(echoStats.connections), labels });
    assert.deepEqual(
      samples('nsgate_port_bytes_total').filter((m) => m.labels?.id === labels.id).map((m) => [m.labels?.direction, m.value]),
      [['to_child', String(echoStats.bytesToChild)], ['from_child', String(echoStats.bytesFromChild)]],
    );
    const udp = await entry(udpPort, 'udp');
    const udpStats = udp.stats as { datagramsToChild: number };
    assert.equal(samples('nsgate_port_datagrams_total').find((m) => m.labels?.id === String(udp.id) && m.labels.direction === 'to_child')?.value, String(udpStats.datagramsToChild));
    assert.equal(samples('nsgate_port_connections_total').length, list.filter((s) => s.spec.proto === 'tcp').length, 'one sample per TCP port');
    assert.deepEqual(samples('nsgate_process_open_fds').map((m) => m.labels?.process), ['parent', 'child']);
    for (const m of samples('nsgate_process_resident_memory_bytes')) assert.ok(Number(m.value) > 1024 * 1024, `${m.labels?.process} RSS`);
  });

  for (const peer of PEERS) {
    test(`the Go rootlessctl of RootlessKit ${peer.version} lists ports that carry stats`, async (t) => {
      t.diagnostic(`rootlessctl of ${describePeer(peer)}`);
      const rk = (...args: string[]) => {
        const [cmd, argv] = asUser(peer.rootlessctl, [`--socket=${dir}/state/api.sock`, ...args]);
        return spawnSync(cmd, argv, { encoding: 'utf8', env: userEnv() });
      };
      const list = await api.listPorts();
      assert.ok(list.every((s) => s.stats !== undefined));
      const table = rk('list-ports');
      assert.equal(table.status, 0, table.stderr);
      assert.equal(table.stdout, ctl('list-ports').stdout, "rootlessctl's table is nsgatectl's");
      const json = rk('list-ports', '--json');
      assert.equal(json.status, 0, json.stderr);
      assert.deepEqual(json.stdout.trim().split('\n').map((line) => (JSON.parse(line) as PortStatus).id), list.map((s) => s.id));
    });
  }
});

describe('parent port 0 with drivers that cannot pick one', () => {
  test('slirp4netns refuses it at launch, naming the driver', async () => {
    const r = await runNsgate(['--net=slirp4netns', '--port-driver=slirp4netns', '-p', '127.0.0.1:0:80/tcp', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /parent port 0 \(a free port the kernel picks\) is not supported by the slirp4netns port driver: give a port number/);
  });

  test('socat refuses it at launch', async (t) => {
    if (spawnSync('socat', ['-V']).error) return t.skip('no socat');
    const r = await runNsgate(['--net=slirp4netns', '--port-driver=socat', '-p', '127.0.0.1:0:80/tcp', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not supported by the socat port driver/);
  });
});

describe('reverse ports (builtin)', () => {
  const CLIENTS = join(E2E_DIR, 'dist/test/e2e/fixtures/clients-inside.js');
  const TCP_BYTES = 1_000_000;
  const UDP_COUNT = 5;
  let tcpServer: Server;
  let udpServer: ReturnType<typeof createSocket>;
  let tcpPort: number;
  let udpPort: number;
  /** What the host's TCP server received, by connection, as checksums. */
  const received: string[] = [];

  before(async () => {
    // The host's services on 127.0.0.1 only: a TCP server that answers the checksum of what it got, a UDP echo.
    tcpServer = createServer({ allowHalfOpen: true }, (s) => {
      const hash = createHash('sha256');
      s.on('data', (d) => hash.update(d));
      s.on('end', () => {
        const sum = hash.digest('hex');
        received.push(sum);
        s.end(sum);
      });
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => tcpServer.listen(0, '127.0.0.1', resolve));
    tcpPort = (tcpServer.address() as AddressInfo).port;
    udpServer = createSocket('udp4');
    udpServer.on('message', (msg, from) => udpServer.send(msg, from.port, from.address));
    await new Promise<void>((resolve) => udpServer.bind(0, '127.0.0.1', resolve));
    udpPort = udpServer.address().port;
  });

  after(() => {
    tcpServer.close();
    udpServer.close();
  });

  for (const disableHostLoopback of [false, true]) {
    test(`a host server on 127.0.0.1 is reached from inside${disableHostLoopback ? ' with --disable-host-loopback, which still blocks 10.0.2.2' : ''}, checksummed, and counted`, async () => {
      const dir = userTempDir();
      received.length = 0;
      const p = nsgate([
        `--state-dir=${dir}/state`, '--net=slirp4netns', '--port-driver=builtin', ...(disableHostLoopback ? ['--disable-host-loopback'] : []),
        '--reverse-publish', `7000:${tcpPort}/tcp`,
        '--reverse-publish', `127.0.0.1:7001:127.0.0.1:${udpPort}/udp`,
        '--', process.execPath, CLIENTS, `tcp,7000,${TCP_BYTES}`, `udp,7001,${UDP_COUNT}`, `dial,10.0.2.2,${tcpPort}`,
      ]);
      try {
        await p.waitFor(/^done$/m, 30_000);
        const [tcpResult, udpResult, direct] = p.stdout.trim().split('\n').slice(0, 3).map((line) => JSON.parse(line) as Record<string, unknown>);
        assert.equal(received[0], tcpResult!.sent, "the host server got exactly the client's bytes");
        assert.equal(received.length, disableHostLoopback ? 1 : 2, 'the direct dial reached the host server only without --disable-host-loopback');
        assert.equal(tcpResult!.answer, tcpResult!.sent, "and the client got the server's answer");
        assert.equal(udpResult!.echoed, UDP_COUNT);
        if (disableHostLoopback) assert.match(String(direct!.result), /^(ECONNREFUSED|ENETUNREACH|EHOSTUNREACH)$/, 'the host loopback through 10.0.2.2 is blocked');
        else assert.equal(direct!.result, 'connected', 'the host loopback through 10.0.2.2 is open');
        const api = new ApiClient(`${dir}/state/api.sock`);
        const list = await api.listReversePorts();
        assert.deepEqual(list.map((s) => s.spec), [
          { proto: 'tcp', childIP: '127.0.0.1', childPort: 7000, parentIP: '127.0.0.1', parentPort: tcpPort },
          { proto: 'udp', childIP: '127.0.0.1', childPort: 7001, parentIP: '127.0.0.1', parentPort: udpPort },
        ]);
        await eventually('the connection is closed in the relay', async () => (await api.listReversePorts())[0]!.stats?.active === 0);
        const [tcpStats, udpStats] = (await api.listReversePorts()).map((s) => s.stats);
        assert.deepEqual(tcpStats, { connections: 1, active: 0, bytesToParent: TCP_BYTES, bytesFromParent: 64, refused: 0 });
        const udpBytes = (udpResult!.sizes as number[]).reduce((a, b) => a + b, 0);
        assert.deepEqual(udpStats, { flows: 1, active: 1, datagramsToParent: UDP_COUNT, datagramsFromParent: UDP_COUNT, bytesToParent: udpBytes, bytesFromParent: udpBytes, dropped: 0 });
      } finally {
        p.kill();
        await p.exited();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test('add-reverse-ports, list-reverse-ports and remove-reverse-ports at run time; conflicts and a taken port are refused', async () => {
    const dir = userTempDir();
    const p = nsgate([`--state-dir=${dir}/state`, '--net=none', '--port-driver=builtin', '--', ...fixture('tcp-echo,7,127.0.0.1')]);
    const ctl = (...args: string[]) => {
      const [cmd, argv] = asUser(process.execPath, [NSGATECTL, `--socket=${dir}/state/api.sock`, ...args]);
      return spawnSync(cmd, argv, { encoding: 'utf8', env: userEnv() });
    };
    try {
      await p.waitFor(/ready/, 20_000);
      const add = ctl('add-reverse-ports', `7100:${tcpPort}/tcp`, `[::1]:7101:${udpPort}/udp`);
      assert.equal(add.status, 0, add.stderr);
      assert.equal(add.stdout, '1\n2\n');
      const table = ctl('list-reverse-ports');
      assert.match(table.stdout, /^ID\s+PROTO\s+CHILDIP\s+CHILDPORT\s+PARENTIP\s+PARENTPORT\s*\n/);
      assert.match(table.stdout, new RegExp(`^1\\s+tcp\\s+127\\.0\\.0\\.1\\s+7100\\s+127\\.0\\.0\\.1\\s+${tcpPort}\\s*$`, 'm'));
      assert.match(table.stdout, new RegExp(`^2\\s+udp\\s+::1\\s+7101\\s+127\\.0\\.0\\.1\\s+${udpPort}\\s*$`, 'm'));
      assert.match(ctl('list-reverse-ports', '--stats').stdout, /^1\s+tcp\s+.*\s+0\s+0\s+0\s+0\s+-\s+-\s+0\s*$/m);
      const again = ctl('add-reverse-ports', `7100:${udpPort}/tcp`);
      assert.equal(again.status, 1);
      assert.match(again.stderr, /reverse port 127\.0\.0\.1:7100:127\.0\.0\.1:\d+\/tcp conflicts with id 1 \(127\.0\.0\.1:7100:.*\) \(same proto, child IP and child port\)/);
      // Port 7 is the echo server's inside.
      const taken = ctl('add-reverse-ports', `7:${tcpPort}/tcp`);
      assert.equal(taken.status, 1);
      assert.match(taken.stderr, /cannot listen on 127\.0\.0\.1:7\/tcp: the port is already in use in the namespace/);
      assert.equal(ctl('remove-reverse-ports', '1', '2').stdout, '1\n2\n');
      assert.equal(ctl('list-reverse-ports', '--json').stdout, '');
      const gone = ctl('remove-reverse-ports', '1');
      assert.match(gone.stderr, /no reverse port with id 1 \(there are no reverse ports\)/);
      // The listener inside was closed: the port can be taken again.
      assert.equal(ctl('add-reverse-ports', `7100:${tcpPort}/tcp`).stdout, '3\n');
    } finally {
      p.kill();
      await p.exited();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--reverse-publish needs --port-driver=builtin; the API says so too', async () => {
    const r = await runNsgate(['--net=slirp4netns', '--port-driver=slirp4netns', '--reverse-publish', '7000:7000/tcp', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--reverse-publish needs --port-driver=builtin \(its relay serves reverse ports\), not --port-driver=slirp4netns/);
    const dir = userTempDir();
    const p = nsgate([`--state-dir=${dir}/state`, '--net=slirp4netns', '--port-driver=slirp4netns', '--', ...fixture('tcp-echo,7,127.0.0.1')]);
    try {
      await p.waitFor(/ready/, 20_000);
      await assert.rejects(new ApiClient(`${dir}/state/api.sock`).listReversePorts(), /reverse ports need --port-driver=builtin \(its relay serves them\); nsgate was started with --port-driver=slirp4netns/);
    } finally {
      p.kill();
      await p.exited();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
