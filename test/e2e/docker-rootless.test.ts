/**
 * Docker 20.10 rootless end to end, with nsgate as its `rootlesskit`: Debian's dockerd-rootless.sh starts
 * nsgate with the flags it gives RootlessKit, dockerd publishes container ports through
 * rootlesskit-docker-proxy and nsgate's API, and SIGTERM to the script ends it all.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { probe } from './clients.js';
import { DOCKER_USER, dockerTestSkip, dockerUserProcesses, firstBody, firstUdpEcho, httpGet, killDockerUserProcesses, missingForDocker, ROOTLESSCTL, RootlessDocker, writeImageTarball } from './docker-rootless.js';
import { descendants, eventually, freePort, freeUdpPort, hostListeners, IS_ROOT, listenersOf, sha256 } from './harness.js';

const IMAGE = 'nsgate-e2e-busybox';
const missing = IS_ROOT ? missingForDocker() : undefined;
const skip = dockerTestSkip(missing);

/** Nothing answers at `port` and no host socket is bound to it. */
async function assertClosed(port: number, hosts: string[]): Promise<void> {
  for (const host of hosts) assert.equal(await probe(host, port), 'refused', `${host} port ${port}`);
  assert.deepEqual(hostListeners().filter((l) => l.endsWith(`:${port}`)), [], `host sockets on port ${port}`);
}

describe('Docker 20.10 rootless with nsgate as its rootlesskit', { skip, timeout: 180_000 }, () => {
  let docker: RootlessDocker;
  const payload = randomBytes(256 << 10);
  const ports = { v4: 0, v6: 0, all: 0, udp: 0 };

  /** The processes of nsgate (the script exec'ed it) and everything it started: they hold published ports. */
  const nsgateTree = () => [docker.proc.pid, ...descendants(docker.proc.pid)];
  const run = (name: string, ...args: string[]) => docker.docker('run', '-d', '--name', name, '--stop-timeout=1', ...args);
  const listPorts = async () => {
    const out = await docker.runAsUser(ROOTLESSCTL, [`--socket=${docker.stateDir()}/api.sock`, 'list-ports', '--json']);
    // One JSON object per line: {"id":1,"spec":{"proto":"tcp4","parentIP":"127.0.0.1","parentPort":8080,...}}
    return out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const { spec } = JSON.parse(line) as { spec: { proto: string; parentIP: string; parentPort: number } };
        return `${spec.proto} ${spec.parentIP} ${spec.parentPort}`;
      })
      .sort();
  };

  before(async () => {
    if (missing) throw new Error(`CI=true, and Docker rootless cannot run here: ${missing}; .ci/run installs docker.io, rootlesskit, busybox-static and socat`);
    killDockerUserProcesses(); // what an interrupted run left
    ports.v4 = await freePort('127.0.0.1');
    ports.v6 = await freePort('::1');
    ports.all = await freePort('::');
    ports.udp = await freeUdpPort('127.0.0.1');
    docker = new RootlessDocker();
    const version = await docker.ready();
    assert.match(version, /^20\.10\./, 'the daemon is Debian\'s docker.io');
    await docker.docker('import', writeImageTarball(docker.dir, payload), IMAGE);
  });

  after(async () => {
    if (docker) await docker.shutDown();
  });

  test('dockerd runs inside nsgate, which holds its API socket', () => {
    const [nsgateCmdline] = readFileSync(`/proc/${docker.proc.pid}/cmdline`, 'utf8').split('\0').slice(1);
    assert.match(nsgateCmdline!, /nsgate\.js$/, 'the script exec\'ed the wrapper, which exec\'ed nsgate');
    assert.ok(docker.dockerdPid(), 'dockerd is a descendant of nsgate');
    assert.ok(existsSync(`${docker.stateDir()}/api.sock`), docker.stateDir());
  });

  test('-p 127.0.0.1:PORT:80 serves the container\'s bytes at 127.0.0.1 only', async () => {
    await run('web-v4', '-p', `127.0.0.1:${ports.v4}:80`, IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www');
    assert.equal(sha256(await firstBody('127.0.0.1', ports.v4)), sha256(payload));
    assert.equal(await probe('::1', ports.v4), 'refused');
    assert.ok(listenersOf(nsgateTree()).includes(`tcp 127.0.0.1:${ports.v4}`), listenersOf(nsgateTree()).join(', '));
  });

  test('-p [::1]:PORT:80 serves the container\'s bytes at ::1 only', async () => {
    await run('web-v6', '-p', `[::1]:${ports.v6}:80`, IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www');
    assert.equal(sha256(await firstBody('::1', ports.v6)), sha256(payload));
    assert.equal(await probe('127.0.0.1', ports.v6), 'refused');
    assert.ok(listenersOf(nsgateTree()).includes(`tcp [::1]:${ports.v6}`), listenersOf(nsgateTree()).join(', '));
  });

  test('-p PORT:80 serves the container\'s bytes at every address', async () => {
    await run('web-all', '-p', `${ports.all}:80`, IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www');
    for (const host of ['127.0.0.1', '::1']) assert.equal(sha256(await firstBody(host, ports.all)), sha256(payload), host);
    const held = listenersOf(nsgateTree());
    for (const socket of [`tcp 0.0.0.0:${ports.all}`, `tcp [::]:${ports.all}`]) assert.ok(held.includes(socket), `${socket} in ${held.join(', ')}`);
  });

  test('-p 127.0.0.1:PORT:PORT/udp echoes a datagram', async () => {
    // busybox's nc has no UDP: socat answers each datagram with its bytes (PIPE), a child per datagram.
    await run('udp-echo', '-p', `127.0.0.1:${ports.udp}:${ports.udp}/udp`, IMAGE, 'socat', `UDP4-RECVFROM:${ports.udp},fork`, 'PIPE');
    const { question, reply } = await firstUdpEcho('127.0.0.1', ports.udp);
    assert.equal(sha256(reply), sha256(question));
  });

  test('rootlessctl lists on nsgate\'s api.sock the ports Docker published', async () => {
    assert.deepEqual(await listPorts(), [
      `tcp4 0.0.0.0 ${ports.all}`,
      `tcp4 127.0.0.1 ${ports.v4}`,
      `tcp6 :: ${ports.all}`,
      `tcp6 ::1 ${ports.v6}`,
      `udp4 127.0.0.1 ${ports.udp}`,
    ].sort());
  });

  test('docker rm -f closes the container\'s host ports and removes them from the API', async () => {
    await docker.docker('rm', '-f', 'web-v4', 'web-v6', 'udp-echo');
    await assertClosed(ports.v4, ['127.0.0.1']);
    await assertClosed(ports.v6, ['::1']);
    assert.deepEqual(hostListeners().filter((l) => l.endsWith(`:${ports.udp}`)), [], `UDP port ${ports.udp}`);
    assert.deepEqual(await listPorts(), [`tcp4 0.0.0.0 ${ports.all}`, `tcp6 :: ${ports.all}`].sort());
    assert.equal(sha256(await httpGet('127.0.0.1', ports.all)), sha256(payload), 'the other container still serves');
  });

  test('SIGTERM to dockerd-rootless.sh ends dockerd, its container, nsgate and its state dir', async () => {
    const stateDir = docker.stateDir();
    docker.proc.kill('SIGTERM');
    const exit = await docker.proc.exited(60_000);
    assert.deepEqual(exit, { code: 0, signal: null }, `dockerd's status\n${docker.logTail()}`);
    await eventually(`no process of ${DOCKER_USER} left`, () => dockerUserProcesses().length === 0, 10_000).catch(() => {
      assert.deepEqual(dockerUserProcesses(), [], 'left running');
    });
    assert.equal(existsSync(stateDir), false, `state dir ${stateDir} removed`);
    await assertClosed(ports.all, ['127.0.0.1', '::1']);
  });
});
