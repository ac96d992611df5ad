/**
 * Docker 20.10 rootless on nsgate with `--port-driver=bypass` (DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER), as
 * a user would set it: published ports whose container binds the same port in its own network namespace (the
 * bind filter leaves binds outside nsgate's namespace alone), and containers' outgoing TCP and connected UDP on
 * host sockets, to a server in a test network namespace behind a veth (198.51.100.0/24), while the host's
 * loopback and the containers' own networks stay out of reach of the bypass.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { dockerTestSkip, firstBody, firstUdpEcho, killDockerUserProcesses, missingForDocker, RootlessDocker, writeImageTarball } from './docker-rootless.js';
import { createClientNetns, eventually, HASH_SERVER, freePort, freeUdpPort, IS_ROOT, openFds, sha256, startAsUser, SUBNET, type Proc } from './harness.js';

const IMAGE = 'nsgate-e2e-busybox';
/** The server outside: a part of TEST-NET-2 of this file's own (the ports-bypass tests use 198.51.100.1-2/24 beside it). */
const OUTSIDE = { netns: 'nsgate-test-out', veth: 'nsgout-host', hostIP: `${SUBNET}129`, clientIP: `${SUBNET}130`, prefix: 25 };
/** Nobody: a connect there waits for ARP, a few seconds. */
const NOBODY = `${SUBNET}131`;
const missing = IS_ROOT ? missingForDocker() : undefined;
const skip = dockerTestSkip(missing);


describe('Docker 20.10 rootless with nsgate --port-driver=bypass', { skip, timeout: 240_000 }, () => {
  let docker: RootlessDocker;
  let outside: ReturnType<typeof createClientNetns>;
  let server: Proc;
  let hostService: Server;
  let hostConnections = 0;
  const payload = randomBytes(1 << 20);
  const ports = { same: 0, udp: 0, other: 0, hostOnly: 0, tcp: 7070, udpOutside: 7071 };

  const runOnce = (...args: string[]) => docker.docker('run', '--rm', ...args);
  const bypassed = (what: string) => new RegExp(`bypass: socat \\(pid \\d+\\) connects to ${what.replaceAll('.', '\\.')} from the host`);

  before(async () => {
    if (missing) throw new Error(`CI=true, and Docker rootless cannot run here: ${missing}`);
    killDockerUserProcesses();
    outside = createClientNetns(OUTSIDE);
    server = startAsUser(process.execPath, ['-e', HASH_SERVER, OUTSIDE.clientIP, String(ports.tcp), String(ports.udpOutside)], { user: 'root', netns: outside.netns });
    await server.waitFor(/ready/);
    ports.same = await freePort();
    ports.udp = await freeUdpPort('127.0.0.1');
    ports.other = await freePort();
    ports.hostOnly = await freePort();
    hostService = createServer((s) => {
      hostConnections++;
      s.end('host loopback\n');
    });
    await new Promise<void>((resolve) => hostService.listen(ports.hostOnly, '127.0.0.1', resolve));
    docker = new RootlessDocker(undefined, { DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER: 'bypass', DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS: '--debug' });
    await docker.ready();
    await docker.docker('import', writeImageTarball(docker.dir, payload), IMAGE);
  });

  after(async () => {
    if (docker) await docker.shutDown();
    server?.kill('SIGKILL');
    outside?.remove();
    hostService?.close();
  });

  test('-p PORT:PORT: the container binds the port Docker\'s proxy holds on the host, in its own namespace, and serves', async () => {
    await docker.docker('run', '-d', '--name', 'same-port', '-p', `127.0.0.1:${ports.same}:${ports.same}`, IMAGE, 'httpd', '-f', '-p', String(ports.same), '-h', '/www');
    assert.equal(sha256(await firstBody('127.0.0.1', ports.same)), sha256(payload));
  });

  test('-p PORT:PORT/udp: the same for UDP', async () => {
    await docker.docker('run', '-d', '--name', 'same-udp', '-p', `127.0.0.1:${ports.udp}:${ports.udp}/udp`, IMAGE, 'socat', `UDP4-RECVFROM:${ports.udp},fork`, 'PIPE');
    const { question, reply } = await firstUdpEcho('127.0.0.1', ports.udp);
    assert.equal(sha256(reply), sha256(question));
  });

  test('-p PORT:80 still serves', async () => {
    await docker.docker('run', '-d', '--name', 'other-port', '-p', `127.0.0.1:${ports.other}:80`, IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www');
    assert.equal(sha256(await firstBody('127.0.0.1', ports.other)), sha256(payload));
  });

  test("a container's outgoing TCP reaches a server outside on a host socket (1 MiB, sha256)", async () => {
    const out = await runOnce(IMAGE, 'sh', '-c', `socat - TCP:${OUTSIDE.clientIP}:${ports.tcp} < /www/payload`);
    assert.equal(out.trim(), sha256(payload));
    assert.match(docker.proc.stderr, bypassed(`${OUTSIDE.clientIP}:${ports.tcp}/tcp`));
  });

  test("a container's connected UDP reaches a server outside on a host socket", async () => {
    const out = await runOnce(IMAGE, 'sh', '-c', `busybox head -c 1000 /www/payload | socat -t 5 - UDP:${OUTSIDE.clientIP}:${ports.udpOutside}`);
    assert.equal(out.trim(), sha256(payload.subarray(0, 1000)));
    assert.match(docker.proc.stderr, bypassed(`${OUTSIDE.clientIP}:${ports.udpOutside}/udp`));
  });

  test("the host's 127.0.0.1 stays unreachable (--disable-host-loopback): not through the gateway, not bypassed", async () => {
    for (const host of ['10.0.2.2', '127.0.0.1']) {
      const out = await runOnce(IMAGE, 'sh', '-c', `socat -T 3 - TCP:${host}:${ports.hostOnly},connect-timeout=3 </dev/null; echo "exit $?"`);
      assert.doesNotMatch(out, /host loopback/, host);
      assert.match(out, /exit 1/, host);
      assert.doesNotMatch(docker.proc.stderr, bypassed(`${host}:${ports.hostOnly}/tcp`));
    }
    assert.equal(hostConnections, 0, 'the host service saw no connection');
  });

  test('containers on a user-defined network reach each other inside, not bypassed', async () => {
    await docker.docker('network', 'create', 'nsgnet');
    await docker.docker('run', '-d', '--name', 'peer', '--network', 'nsgnet', IMAGE, 'socat', 'TCP-LISTEN:9000,fork', 'SYSTEM:busybox sha256sum');
    const ip = (await docker.docker('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 'peer')).trim();
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
    let out = '';
    await eventually('the peer answers', async () => {
      out = await runOnce('--network', 'nsgnet', IMAGE, 'sh', '-c', `socat -t 5 - TCP:${ip}:9000 < /www/payload`).catch(() => '');
      return out !== '';
    }, 20_000);
    assert.equal(out.split(/\s/)[0], sha256(payload));
    assert.doesNotMatch(docker.proc.stderr, bypassed(`${ip}:9000/tcp`));
  });

  test('a container killed in the middle of a bypassed connect leaves the supervisor with no fd more than before', async () => {
    const before = openFds(docker.proc.pid);
    await docker.docker('run', '-d', '--name', 'hanging', IMAGE, 'socat', '-', `TCP:${NOBODY}:9`);
    await eventually('the bypassed connect', () => bypassed(`${NOBODY}:9/tcp`).test(docker.proc.stderr), 20_000);
    await docker.docker('rm', '-f', 'hanging');
    await eventually(`nsgate's fds back to ${before}`, () => openFds(docker.proc.pid) <= before, 10_000).catch(() => {
      assert.equal(openFds(docker.proc.pid), before);
    });
    assert.equal(sha256(await firstBody('127.0.0.1', ports.other)), sha256(payload), 'published ports still serve');
  });
});
