/** Publishing ports with the builtin driver: the listen matrix, UDP flows, bulk bytes, the API and interop. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ApiClient } from '../../src/api/client.js';
import { exchange, probe, udpAsk } from './clients.js';
import { asUser, fixture, freePort, hostListeners, nsgate, NSGATECTL, type Proc, runNsgate, sha256, startAsUser, userEnv, userTempDir } from './harness.js';
import { describePeer, newestPeer, NO_PEER, type Peer, referencePeer } from './peers.js';

/** The interop peers: the reference RootlessKit, and the newest v3 when it was built. */
const PEERS = [referencePeer(), newestPeer()].filter((peer): peer is Peer => peer !== undefined);
if (PEERS.length === 0) test('the Go rootlessctl against nsgate, nsgatectl against RootlessKit', { skip: NO_PEER }, () => {});

describe('builtin driver', () => {
  let p: Proc;
  let api: ApiClient;
  let dir: string;
  const ports: Record<string, number> = {};

  before(async () => {
    for (const name of ['dual', 'v4', 'v6', 'v4to6', 'v6to4', 'bracketed', 'mapped', 'side', 'udp', 'echo', 'http']) ports[name] = await freePort();
    dir = userTempDir();
    p = nsgate([
      `--state-dir=${dir}/state`, '--net=slirp4netns', '--port-driver=builtin',
      '-p', `0.0.0.0:${ports.dual}:80/tcp`,
      '-p', `0.0.0.0:${ports.v4}:80/tcp4`,
      '-p', `[::]:${ports.v6}:80/tcp6`,
      '--publish', `127.0.0.1:${ports.v4to6}:[::1]:81/tcp`,
      `--publish=[::1]:${ports.v6to4}:127.0.0.1:82/tcp6`,
      '-p', `[::]:${ports.bracketed}:[127.0.0.1]:82/tcp6`,
      '-p', `[::ffff:127.0.0.1]:${ports.mapped}:80/tcp4`,
      '-p', `127.0.0.1:${ports.side}:80/tcp4`, '-p', `[::1]:${ports.side}:80/tcp6`,
      '-p', `127.0.0.1:${ports.udp}:53/udp`,
      '-p', `127.0.0.1:${ports.echo}:7/tcp`,
      '-p', `127.0.0.1:${ports.http}:8080/tcp`,
      '--',
      ...fixture('tcp-peer,80,::', 'tcp-peer,81,::1', 'tcp-peer,82,127.0.0.1', 'udp-peer,53,127.0.0.1', 'tcp-echo,7,127.0.0.1', 'http,8080,0.0.0.0'),
    ]);
    await p.waitFor(/ready/, 20_000);
    api = new ApiClient(`${dir}/state/api.sock`);
  });

  after(async () => {
    p.kill();
    await p.exited();
    rmSync(dir, { recursive: true, force: true });
  });

  test('tcp on 0.0.0.0 listens on IPv4 and IPv6; the child side is dialed at 127.0.0.1', async () => {
    assert.match(await probe('127.0.0.1', ports.dual!), /^peer (::ffff:)?127\.0\.0\.1 \d+\n$/);
    assert.match(await probe('::1', ports.dual!), /^peer (::ffff:)?127\.0\.0\.1 \d+\n$/);
  });

  test('tcp4 is IPv4 only, tcp6 IPv6 only', async () => {
    assert.match(await probe('127.0.0.1', ports.v4!), /^peer/);
    assert.equal(await probe('::1', ports.v4!), 'refused');
    assert.match(await probe('::1', ports.v6!), /^peer/);
    assert.equal(await probe('127.0.0.1', ports.v6!), 'refused');
  });

  test('v4 -> v6 and v6 -> v4 child addresses', async () => {
    assert.match(await probe('127.0.0.1', ports.v4to6!), /^peer ::1 \d+\n$/);
    assert.match(await probe('::1', ports.v6to4!), /^peer 127\.0\.0\.1 \d+\n$/);
  });

  test("RootlessKit's spec forms: brackets around an IPv4 address; an IPv4-mapped one is IPv4", async () => {
    assert.match(await probe('::1', ports.bracketed!), /^peer 127\.0\.0\.1 \d+\n$/);
    assert.equal(await probe('127.0.0.1', ports.bracketed!), 'refused', 'tcp6 is IPv6 only');
    assert.match(await probe('127.0.0.1', ports.mapped!), /^peer (::ffff:)?127\.0\.0\.1 \d+\n$/);
    assert.equal(await probe('::1', ports.mapped!), 'refused', 'tcp4 on ::ffff:127.0.0.1 listens on 127.0.0.1 only');
  });

  test('tcp4 and tcp6 on one port coexist', async () => {
    assert.match(await probe('127.0.0.1', ports.side!), /^peer/);
    assert.match(await probe('::1', ports.side!), /^peer/);
  });

  test('HTTP through a published port', async () => {
    const r = spawnSync('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${ports.http}/`], { encoding: 'utf8' });
    assert.equal(r.stdout, 'hello from nsgate\n', r.stderr);
  });

  test('64 MiB through an echo server, checksum compared, with half-close', async () => {
    const data = randomBytes(64 * 1024 * 1024);
    const back = await exchange('127.0.0.1', ports.echo!, data);
    assert.equal(back.length, data.length);
    assert.equal(sha256(back), sha256(data));
  });

  test('UDP: two clients at once each get their own flow and their own replies', async () => {
    const [a, b] = await Promise.all([udpAsk('127.0.0.1', ports.udp!, 'a'), udpAsk('127.0.0.1', ports.udp!, 'b')]);
    const pa = a.reply.match(/^peer 127\.0\.0\.1 (\d+)$/);
    const pb = b.reply.match(/^peer 127\.0\.0\.1 (\d+)$/);
    assert.ok(pa && pb, `${a.reply} / ${b.reply}`);
    assert.notEqual(pa[1], pb[1], 'each client has its own flow inside');
    const again = await udpAsk('127.0.0.1', ports.udp!, 'again');
    assert.match(again.reply, /^peer 127\.0\.0\.1 \d+$/);
  });

  test('info and list-ports describe the driver and the published ports', async () => {
    const info = await api.info();
    assert.equal(info.apiVersion, '1.1.1');
    assert.equal(info.portDriver?.driver, 'builtin');
    assert.deepEqual(info.portDriver?.protos, ['tcp', 'tcp4', 'tcp6', 'udp', 'udp4', 'udp6']);
    assert.equal(info.networkDriver?.driver, 'slirp4netns');
    const list = await api.listPorts();
    assert.deepEqual(list.map((x) => x.id), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // Each entry also has nsgate's traffic counters (test/e2e/ports-beyond.test.ts checks their values).
    assert.deepEqual(list.map((x) => x.stats && ('flows' in x.stats ? 'udp' : 'tcp')), list.map((x) => x.spec.proto.slice(0, 3)));
    const entries = list.map(({ id, spec }) => ({ id, spec }));
    assert.deepEqual(entries[0], { id: 1, spec: { proto: 'tcp', parentIP: '0.0.0.0', parentPort: ports.dual, childPort: 80 } });
    assert.deepEqual(entries[3], { id: 4, spec: { proto: 'tcp', parentIP: '127.0.0.1', parentPort: ports.v4to6, childIP: '::1', childPort: 81 } });
    // As RootlessKit: brackets gone, the addresses as written.
    assert.deepEqual(entries[5], { id: 6, spec: { proto: 'tcp6', parentIP: '::', parentPort: ports.bracketed, childIP: '127.0.0.1', childPort: 82 } });
    assert.deepEqual(entries[6], { id: 7, spec: { proto: 'tcp4', parentIP: '::ffff:127.0.0.1', parentPort: ports.mapped, childPort: 80 } });
  });

  test('add at run time, then remove: the port closes, with its open connections', async () => {
    const port = await freePort();
    const { id } = await api.addPort({ proto: 'tcp', parentIP: '127.0.0.1', parentPort: port, childPort: 7 });
    assert.ok(id > 12);
    const held = connect(port, '127.0.0.1');
    await new Promise((resolve) => held.once('connect', resolve));
    held.write('ping');
    await new Promise((resolve) => held.once('data', resolve));
    const closed = new Promise((resolve) => held.once('close', resolve));
    await api.removePort(id);
    await closed;
    assert.equal(await probe('127.0.0.1', port), 'refused');
    assert.ok(!(await api.listPorts()).some((x) => x.id === id));
    const again = await api.addPort({ proto: 'tcp', parentIP: '127.0.0.1', parentPort: port, childPort: 7 });
    assert.ok(again.id > id, 'ids are never reused');
    await api.removePort(again.id);
  });

  test('a conflicting spec or a taken host port is refused, leaving nothing behind', async () => {
    await assert.rejects(api.addPort({ proto: 'tcp', parentIP: '0.0.0.0', parentPort: ports.dual!, childPort: 80 }), /conflicts with id 1 /);
    const taken: Server = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    const before = await api.listPorts();
    await assert.rejects(api.addPort({ proto: 'tcp4', parentIP: '127.0.0.1', parentPort: port, childPort: 80 }), /already in use/);
    assert.deepEqual(await api.listPorts(), before);
    taken.close();
    assert.equal(await probe('127.0.0.1', port), 'refused', 'no listener left behind');
  });

  test('sctp is refused clearly by the builtin driver', async () => {
    await assert.rejects(api.addPort({ proto: 'sctp', parentIP: '127.0.0.1', parentPort: await freePort(), childPort: 80 }), /sctp is not supported by the builtin driver/);
  });

  for (const peer of PEERS) {
    test(`the Go rootlessctl of RootlessKit ${peer.version} drives nsgate's api.sock`, async (t) => {
      t.diagnostic(`rootlessctl of ${describePeer(peer)}`);
      const port = await freePort();
      const ctl = (...args: string[]) => {
        const [cmd, argv] = asUser(peer.rootlessctl, [`--socket=${dir}/state/api.sock`, ...args]);
        return spawnSync(cmd, argv, { encoding: 'utf8', env: userEnv() });
      };
      const add = ctl('add-ports', `127.0.0.1:${port}:8080/tcp`);
      assert.equal(add.status, 0, add.stderr);
      const id = add.stdout.trim();
      assert.match(id, /^\d+$/);
      const r = spawnSync('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
      assert.equal(r.stdout, 'hello from nsgate\n');
      const list = ctl('list-ports');
      assert.match(list.stdout, new RegExp(`^${id}\\s+tcp\\s+127\\.0\\.0\\.1\\s+${port}\\s+8080\\s*$`, 'm'));
      assert.equal(ctl('remove-ports', id).stdout.trim(), id);
      const info = ctl('info', '--json');
      assert.equal(JSON.parse(info.stdout).portDriver.driver, 'builtin');
    });
  }
});

describe('-p failures stop nsgate before COMMAND runs, leaving nothing behind', () => {
  test('a taken port', async () => {
    const taken = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    const other = await freePort();
    const dir = userTempDir();
    const listenersBefore = hostListeners();
    const r = await runNsgate([`--state-dir=${dir}/s`, '--net=none', '--port-driver=builtin', '-p', `127.0.0.1:${other}:80/tcp`, '-p', `127.0.0.1:${port}:80/tcp`, 'touch', `${dir}/ran`]);
    taken.close();
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}/tcp: the port is already in use`));
    assert.equal(existsSync(`${dir}/ran`), false, 'COMMAND did not run');
    assert.deepEqual(readdirSync(`${dir}/s`), [], 'state dir emptied');
    assert.deepEqual(hostListeners().filter((l) => !listenersBefore.includes(l)), [], 'the first port was closed again');
    rmSync(dir, { recursive: true, force: true });
  });

  test('a privileged port says how to allow it', async () => {
    const r = await runNsgate(['--net=none', '--port-driver=builtin', '-p', '127.0.0.1:81:80/tcp', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ip_unprivileged_port_start=0/);
  });

  test('--net=host with a port driver is refused', async () => {
    const r = await runNsgate(['--port-driver=builtin', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /network namespace/);
  });
});

for (const peer of PEERS) {
  describe(`nsgatectl drives RootlessKit ${peer.version}`, () => {
    let rk: Proc;
    let dir: string;
    before(async () => {
      dir = userTempDir();
      rk = startAsUser(peer.rootlesskit, [`--state-dir=${dir}/rk`, '--net=slirp4netns', '--port-driver=builtin', '--', ...fixture('http,8080,0.0.0.0')]);
      await rk.waitFor(/ready/, 20_000);
    });
    after(async () => {
      rk.kill();
      await rk.exited();
      rmSync(dir, { recursive: true, force: true });
    });

    test('add-ports, list-ports, info, remove-ports', async (t) => {
      t.diagnostic(`against ${describePeer(peer)}`);
      const port = await freePort();
      const ctl = (...args: string[]) => {
        const [cmd, argv] = asUser(process.execPath, [NSGATECTL, `--socket=${dir}/rk/api.sock`, ...args]);
        return spawnSync(cmd, argv, { encoding: 'utf8', env: userEnv() });
      };
      const add = ctl('add-ports', `127.0.0.1:${port}:8080/tcp`);
      assert.equal(add.status, 0, add.stderr);
      const id = add.stdout.trim();
      const r = spawnSync('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
      assert.equal(r.stdout, 'hello from nsgate\n');
      assert.match(ctl('list-ports').stdout, new RegExp(`^${id}\\s+tcp\\s+127\\.0\\.0\\.1\\s+${port}\\s+8080`, 'm'));
      assert.match(ctl('info').stdout, /builtin/);
      assert.equal(ctl('remove-ports', id).stdout.trim(), id);
    });

    test("nsgate's extensions against RootlessKit: a range or reverse ports are errors that say what happened", async () => {
      const ctl = (...args: string[]) => {
        const [cmd, argv] = asUser(process.execPath, [NSGATECTL, `--socket=${dir}/rk/api.sock`, ...args]);
        return spawnSync(cmd, argv, { encoding: 'utf8', env: userEnv() });
      };
      const port = await freePort();
      const range = ctl('add-ports', `127.0.0.1:${port}-${port + 1}:8080-8081/tcp`);
      assert.equal(range.status, 1);
      const id = range.stderr.match(/it does not take port ranges \(nsgate does\) and added one port, id (\d+): remove it with "remove-ports \1"; add the ports one by one/)?.[1];
      assert.ok(id, range.stderr);
      assert.equal(ctl('remove-ports', id).status, 0);
      const reverse = ctl('list-reverse-ports');
      assert.equal(reverse.status, 1);
      assert.match(reverse.stderr, /has no reverse ports \(GET \/v1\/reverse-ports: 404\): they are nsgate's, RootlessKit has none/);
    });
  });
}
