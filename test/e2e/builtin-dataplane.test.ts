/**
 * The builtin driver's native relay: source-IP propagation, bytes under concurrent load with checksums and
 * the relay's fds back to their baseline, and the JavaScript fallback where koffi is missing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exchange, probe } from './clients.js';
import { createClientNetns, E2E_DIR, eventually, FIXTURE, freePort, launchNsgate, settledFds, sha256, sleep, startAsUser, SUBNET } from './harness.js';

/** nsgate with the builtin driver on slirp4netns, running the fixture `servers`. */
const launch = (flags: string[], servers: string[]) => launchNsgate(['--net=slirp4netns', '--port-driver=builtin', ...flags], servers);

const peerSeenFrom = (netns: ReturnType<typeof createClientNetns>, port: number) =>
  netns.run(`require('net').connect(${port}, '${SUBNET}1').pipe(process.stdout)`);

describe('source IP (--source-ip-transparent, on by default)', () => {
  let run: Awaited<ReturnType<typeof launch>>;
  let clientNetns: ReturnType<typeof createClientNetns>;
  const ports: Record<string, number> = {};

  before(async () => {
    for (const name of ['wildcard', 'loopback']) ports[name] = await freePort();
    clientNetns = createClientNetns();
    run = await launch(
      ['-p', `0.0.0.0:${ports.wildcard}:80/tcp4`, '-p', `0.0.0.0:${ports.loopback}:81/tcp4`],
      ['tcp-peer,80,0.0.0.0', 'tcp-peer,81,127.0.0.1'],
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

  test('loopback clients stay 127.0.0.1', async () => {
    assert.match(await probe('127.0.0.1', ports.wildcard!), /^peer 127\.0\.0\.1 \d+\n$/);
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
      join(copy, 'dist/src/cli/nsgate.js'), '--net=slirp4netns', '--port-driver=builtin', '-p', `127.0.0.1:${port}:7/tcp`,
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
