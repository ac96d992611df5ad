/**
 * nerdctl rootless on nsgate: nerdctl's own containerd-rootless.sh with nsgate first on PATH as `rootlesskit`
 * (so --detach-netns, --copy-up=/etc,/run,/var/lib, the builtin port driver), an image made without a
 * registry (`nerdctl import` of a rootfs holding busybox), `nerdctl run -p` fetched from the host's loopback
 * and from a client in its own netns, `nerdctl rm -f` taking the ports away, SIGTERM ending everything.
 * nerdctl, containerd and the CNI plugins come from scripts/build-nerdctl.sh (needs Go), runc from Debian;
 * without them the test is skipped and says what is missing. The same scenario runs with RootlessKit v2.3.4
 * when it is built (test/e2e/peers.ts), so that a failure can be told from one of the machine's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { ApiClient } from '../../src/api/client.js';
import { exchange, probe } from './clients.js';
import { createClientNetns, descendants, endNsgate, eventually, freePort, IS_ROOT, NSGATE, sha256, startAsUser, SUBNET, TEST_USER, userEnv, userTempDir } from './harness.js';
import { describePeer, PEERS_DIR, REFERENCE_VERSION, referencePeer } from './peers.js';

const IMAGE = 'nsgate-test/busybox:1';
/** nerdctl's default network ("bridge", 10.4.0.0/24): what portmap masquerades loopback clients to. */
const BRIDGE_GATEWAY = /^peer \[?(::ffff:)?10\.4\.0\.1\]?\n$/;

/** The newest NAME-vX.Y.Z directory scripts/build-nerdctl.sh made, if any. */
function built(name: string): string | undefined {
  const dirs = existsSync(PEERS_DIR) ? readdirSync(PEERS_DIR).filter((d) => d.startsWith(`${name}-v`)) : [];
  return dirs.length > 0 ? join(PEERS_DIR, dirs.sort().at(-1)!) : undefined;
}

const NERDCTL = built('nerdctl');
const CONTAINERD = built('containerd');
const CNI_PLUGINS = built('cni-plugins');
const REQUIRED: Array<[string, string | undefined, string[]]> = [
  ['nerdctl', NERDCTL, ['nerdctl', 'containerd-rootless.sh']],
  ['containerd', CONTAINERD, ['containerd', 'containerd-shim-runc-v2']],
  ['cni-plugins', CNI_PLUGINS, ['bridge', 'loopback', 'host-local', 'portmap', 'firewall', 'tuning']],
];
const HOST_TOOLS = ['runc', 'nsenter', 'slirp4netns', 'iptables', 'tar', 'ldd'];

/** Why the test cannot run here, or undefined. */
function missing(): string | undefined {
  if (!IS_ROOT) return 'needs root (it runs nerdctl as the test user and makes a client netns)';
  const absent = REQUIRED.flatMap(([name, dir, files]) =>
    files.map((f) => join(dir ?? join(PEERS_DIR, `${name}-v*`), f)).filter((path) => !existsSync(path)),
  );
  if (absent.length > 0) return `not built: ${absent.join(', ')} (scripts/build-nerdctl.sh, needs Go)`;
  const tools = HOST_TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`], { env: userEnv() }).status !== 0);
  if (tools.length > 0) return `not installed: ${tools.join(', ')}`;
  if (!existsSync('/bin/busybox')) return 'no /bin/busybox for the image (package busybox or busybox-static)';
  return undefined;
}

/** Copy `file` into `root` at its own path, following symlinks. */
function copyInto(root: string, file: string): void {
  mkdirSync(join(root, dirname(file)), { recursive: true });
  cpSync(file, join(root, file), { dereference: true });
}

/**
 * An image tarball for `nerdctl import`: busybox (with the libraries it loads, if it is not the static one),
 * /bin/sh, a 1 MiB file of random bytes and a CGI script that prints the client's address.
 */
function imageTarball(dir: string, blob: Buffer): string {
  const root = join(dir, 'rootfs');
  copyInto(root, '/bin/busybox');
  const libs = spawnSync('ldd', ['/bin/busybox'], { encoding: 'utf8' }).stdout.match(/\/\S+(?= \(0x)/g) ?? [];
  for (const lib of libs) copyInto(root, lib);
  spawnSync('ln', ['-s', 'busybox', join(root, 'bin/sh')]);
  mkdirSync(join(root, 'www/cgi-bin'), { recursive: true });
  writeFileSync(join(root, 'www/blob'), blob);
  writeFileSync(join(root, 'www/cgi-bin/peer'), '#!/bin/sh\nprintf \'Content-Type: text/plain\\r\\n\\r\\npeer %s\\n\' "$REMOTE_ADDR"\n', { mode: 0o755 });
  const tarball = join(dir, 'image.tar');
  const r = spawnSync('tar', ['-C', root, '-cf', tarball, '.'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `tar: ${r.stderr}`);
  rmSync(root, { recursive: true });
  return tarball;
}

/** The body of an HTTP/1.0 GET of `path` at host:port. */
async function httpGet(host: string, port: number, path: string): Promise<Buffer> {
  const answer = await exchange(host, port, `GET ${path} HTTP/1.0\r\n\r\n`);
  const end = /\r\n\r\n/.exec(answer.toString('latin1'));
  assert.ok(end, `GET ${path}: no end of headers in ${answer.subarray(0, 200).toString()}`);
  assert.match(answer.subarray(0, end.index).toString(), /^HTTP\/1\.[01] 200 /, `GET ${path}: ${answer.subarray(0, 200).toString()}`);
  return answer.subarray(end.index + end[0].length);
}

/** Processes of the test user running `exe` (a containerd shim, say), zombies aside. */
function processesOf(exe: string): number[] {
  const uid = Number(spawnSync('id', ['-u', TEST_USER], { encoding: 'utf8' }).stdout);
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return statSync(`/proc/${p}`).uid === uid && readlinkSync(`/proc/${p}/exe`) === exe && !/\) Z /.test(readFileSync(`/proc/${p}/stat`, 'utf8'));
      } catch {
        return false;
      }
    })
    .map(Number);
}

/**
 * containerd-rootless.sh with `rootlesskit` on PATH being `launcher`, then the whole nerdctl scenario;
 * `afterStop` checks what the launcher left once it ended.
 */
async function scenario(launcher: string, afterStop: (stateDir: string) => void): Promise<void> {
  const dir = userTempDir();
  const { uid, gid } = statSync(dir);
  const owned = (path: string, mode = 0o755) => {
    mkdirSync(path, { recursive: true, mode });
    chownSync(path, uid, gid);
  };
  const home = join(dir, 'home');
  const runtime = join(dir, 'run');
  for (const d of [home, join(home, '.config'), join(home, '.config/containerd'), join(dir, 'bin')]) owned(d);
  owned(runtime, 0o700);
  writeFileSync(join(dir, 'bin/rootlesskit'), `#!/bin/sh\nexec ${launcher} "$@"\n`, { mode: 0o755 });
  // No CRI: nerdctl does not use it, and it would look for Kubernetes' CNI configuration.
  writeFileSync(join(home, '.config/containerd/config.toml'), 'version = 4\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n');
  const blob = randomBytes(1 << 20);
  const tarball = imageTarball(dir, blob);
  const env = {
    HOME: home,
    XDG_RUNTIME_DIR: runtime,
    PATH: `${dir}/bin:${NERDCTL}:${CONTAINERD}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    CNI_PATH: CNI_PLUGINS!,
  };
  const stateDir = join(runtime, 'containerd-rootless');
  const nerdctl = async (...args: string[]) => {
    const p = startAsUser(join(NERDCTL!, 'nerdctl'), args, { env });
    const { code } = await p.exited(60_000);
    assert.equal(code, 0, `nerdctl ${args.join(' ')} exited ${code}\nstdout: ${p.stdout}\nstderr: ${p.stderr}`);
    return p.stdout;
  };

  const daemon = startAsUser(join(NERDCTL!, 'containerd-rootless.sh'), [], { env });
  const clientNetns = createClientNetns();
  try {
    await eventually('containerd up in the namespaces', () => daemon.stderr.includes('containerd successfully booted'), 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\nstdout: ${daemon.stdout}\nstderr: ${daemon.stderr}`);
    });
    await nerdctl('import', tarball, IMAGE);
    const [loopbackPort, hostPort] = [await freePort(), await freePort('0.0.0.0')];
    await nerdctl('run', '-d', '--name', 'web', '-p', `127.0.0.1:${loopbackPort}:80`, '-p', `${hostPort}:80`, IMAGE, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www');

    // nerdctl asked the API for each port as RootlessKit's client does: parent port = child port, no child IP.
    const api = new ApiClient(join(stateDir, 'api.sock'));
    const specs = (await api.listPorts()).map((p) => p.spec).sort((a, b) => a.parentPort - b.parentPort);
    const expected = [
      { proto: 'tcp', parentIP: '127.0.0.1', parentPort: loopbackPort, childPort: loopbackPort },
      { proto: 'tcp', parentIP: '0.0.0.0', parentPort: hostPort, childPort: hostPort },
    ].sort((a, b) => a.parentPort - b.parentPort);
    assert.deepEqual(specs, expected);

    // httpd may not listen yet when `run -d` returns.
    let body: Buffer = Buffer.alloc(0);
    await eventually('the container answers on 127.0.0.1', async () => {
      body = await httpGet('127.0.0.1', loopbackPort, '/blob').catch(() => Buffer.alloc(0));
      return body.length > 0;
    }, 10_000);
    assert.equal(sha256(body), sha256(blob), '1 MiB through the published port, byte for byte');
    assert.match((await httpGet('127.0.0.1', loopbackPort, '/cgi-bin/peer')).toString(), BRIDGE_GATEWAY);
    const fromClient = clientNetns.run(
      `require('http').get('http://${SUBNET}1:${hostPort}/cgi-bin/peer', (r) => r.pipe(process.stdout)).on('error', (e) => console.log(e.message))`,
    );
    assert.match(fromClient, BRIDGE_GATEWAY, 'a client in its own netns, through the DNAT to the container');

    await nerdctl('rm', '-f', 'web');
    assert.deepEqual(await api.listPorts(), [], '`nerdctl rm -f` removed its ports through the API');
    assert.equal(await probe('127.0.0.1', loopbackPort), 'refused');
    assert.equal(await probe('127.0.0.1', hostPort), 'refused');
    await eventually('no shim left', () => processesOf(join(CONTAINERD!, 'containerd-shim-runc-v2')).length === 0);

    await endNsgate(daemon);
    assert.deepEqual(processesOf(join(CONTAINERD!, 'containerd')), [], 'no containerd left');
    afterStop(stateDir);
  } finally {
    // After a failure, what would outlive the test and keep its output pipes open: the launcher's tree (a
    // RootlessKit child outlives a killed parent), and the shims, which init adopted, with their containers.
    const shims = processesOf(join(CONTAINERD!, 'containerd-shim-runc-v2'));
    const left = [...descendants(daemon.pid), ...shims, ...shims.flatMap(descendants)];
    daemon.kill('SIGKILL');
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    clientNetns.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

const why = missing();
/** Only v2.3.4 itself: Debian's 1.1.0, the fallback reference, has no --detach-netns for the script to use. */
const reference = referencePeer();
const noReference = reference?.version === REFERENCE_VERSION ? undefined : `RootlessKit ${REFERENCE_VERSION} is not built (scripts/build-peers.sh, needs Go)`;

describe('nerdctl rootless (containerd-rootless.sh, nerdctl run -p)', { skip: why }, () => {
  test('with nsgate as rootlesskit: run -p from loopback and from a client netns, rm -f, SIGTERM', { timeout: 120_000 }, async () => {
    await scenario(`${process.execPath} ${NSGATE}`, (stateDir) => {
      assert.deepEqual(readdirSync(stateDir), [], 'nsgate removed what it put in the state dir');
    });
  });

  test(`the same with RootlessKit ${REFERENCE_VERSION}, the reference`, { skip: noReference, timeout: 120_000 }, async (t) => {
    t.diagnostic(describePeer(reference!));
    await scenario(reference!.rootlesskit, () => {});
  });
});
