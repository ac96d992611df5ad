/**
 * The bypass port driver end to end, as the unprivileged test user: the app in the namespace gets host sockets
 * for its published ports (no relay), real servers binding in their own ways, the real client address,
 * in-namespace clients, ports added and removed at run time, refusals, and what a host socket may not do.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { ApiClient } from '../../src/api/client.js';
import { exchange, probe, udpExchange } from './clients.js';
import { createClientNetns, descendants, eventually, FIXTURE, freePort, freeUdpPort, HASH_SERVER, hostListeners, launchCommand, launchNsgate, type Launched, runNsgate, sha256, startAsUser, SUBNET, type Proc } from './harness.js';
import { assertTakenPortRefused, curl, holdPort } from './published.js';

const BYPASS = ['--net=slirp4netns', '--port-driver=bypass'];
const HAS_PYTHON = spawnSync('sh', ['-c', 'command -v python3'], { env: { PATH: '/usr/bin:/bin' } }).status === 0;

/** A python3 prelude: `attempt(name, f)` prints the name and `success`, or the errno f failed with. */
function pythonAttempt(success: string): string {
  return `
import ctypes, errno, socket
def attempt(name, f):
    try:
        f(); print(name, '${success}')
    except OSError as e:
        print(name, errno.errorcode[e.errno])`;
}

/** Run a node script as root inside the namespace of nsgate's child (a client that lives there, not under the filter). */
function insideNamespace(api: ApiClient, script: string): Promise<string> {
  return api.info().then(
    ({ childPID }) =>
      spawnSync('nsenter', [`--net=/proc/${childPID}/ns/net`, '--', process.execPath, '-e', script], { encoding: 'utf8', timeout: 10_000 }).stdout,
  );
}

/** A TCP exchange inside the namespace: what came back, or the error code. */
function insideExchange(api: ApiClient, host: string, port: number, data: string): Promise<string> {
  return insideNamespace(
    api,
    `const s = require('net').connect({ host: '${host}', port: ${port}, allowHalfOpen: true }, () => s.end('${data}'));
     let got = ''; s.on('data', (d) => (got += d)); s.on('end', () => process.stdout.write(got)); s.on('error', (e) => process.stdout.write(e.code));`,
  );
}

/** The pid and command line of whatever listens on the host at 127.0.0.1:port (ss -p, as root). */
function hostListenerProcess(port: number): { pid: number; cmdline: string } | undefined {
  const out = spawnSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' }).stdout;
  const pid = Number(/pid=(\d+)/.exec(out)?.[1]);
  if (!pid) return undefined;
  return { pid, cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ') };
}

/** Kill the fixture servers process of `p` (the COMMAND's loop starts a new one). */
function killFixture(p: Proc): void {
  const server = descendants(p.pid).find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[1] === FIXTURE;
    } catch {
      return false;
    }
  });
  assert.ok(server, 'the fixture servers run');
  process.kill(server, 'SIGKILL');
}

describe('bypass driver: one app, many ways to bind', () => {
  let run: Launched;
  const clientNetns = createClientNetns();
  const ports: Record<string, number> = {};

  before(async () => {
    for (const name of ['echo', 'udp', 'dual', 'loopback', 'peer', 'udpPeer']) ports[name] = await freePort();
    run = await launchNsgate(
      [
        ...BYPASS,
        `--publish=127.0.0.1:${ports.echo}:7/tcp`,
        `--publish=127.0.0.1:${ports.udp}:7/udp`,
        `--publish=:${ports.dual}:8/tcp`,
        `--publish=127.0.0.1:${ports.loopback}:10/tcp`,
        `--publish=${SUBNET}1:${ports.peer}:9/tcp`,
        `--publish=${SUBNET}1:${ports.udpPeer}:9/udp`,
      ],
      // Port 11 is not published.
      ['tcp-echo,7', 'udp-echo,7', 'tcp-echo,8,::', 'tcp-peer,10,127.0.0.1', 'tcp-peer,9', 'udp-peer,9', 'tcp-echo,11'],
    );
  });
  after(async () => {
    await run?.stop();
    clientNetns.remove();
  });

  test('TCP bytes through a bypassed port arrive intact (8 MiB, sha256)', async () => {
    const data = randomBytes(8 << 20);
    assert.equal(sha256(await exchange('127.0.0.1', ports.echo!, data)), sha256(data));
  });

  test('the host listener is the server in the namespace itself: no relay process holds the port', async () => {
    const owner = hostListenerProcess(ports.echo!);
    assert.ok(owner, 'something listens on the host port');
    assert.match(owner.cmdline, /servers\.js/);
    assert.ok(descendants(run.p.pid).includes(owner.pid), 'it is COMMAND, started by nsgate');
  });

  test('UDP echo through a bypassed port', async () => {
    const messages = Array.from({ length: 20 }, (_, i) => `datagram ${i}`);
    assert.deepEqual((await udpExchange('127.0.0.1', ports.udp!, messages)).sort(), [...messages].sort());
  });

  test('a dual-stack [::] server is reachable on IPv4 and IPv6', async () => {
    assert.equal((await exchange('127.0.0.1', ports.dual!, 'four')).toString(), 'four');
    assert.equal((await exchange('::1', ports.dual!, 'six')).toString(), 'six');
  });

  test('a server bound to 127.0.0.1 inside is published', async () => {
    assert.match((await exchange('127.0.0.1', ports.loopback!)).toString(), /^peer 127\.0\.0\.1 \d+\n$/);
  });

  test("the server sees the client's own address, TCP and UDP (a client in a netns of its own, 198.51.100.2)", () => {
    assert.match(clientNetns.run(`require('net').connect(${ports.peer}, '${SUBNET}1').pipe(process.stdout);`), /^peer 198\.51\.100\.2 \d+\n$/);
    const udp = `const s = require('dgram').createSocket('udp4'); s.on('message', (m) => { process.stdout.write(m); s.close(); }); s.send('who', ${ports.udpPeer}, '${SUBNET}1');`;
    assert.match(clientNetns.run(udp), /^peer 198\.51\.100\.2 \d+$/);
  });

  test('an unpublished port stays in the namespace: refused on the host, served inside', async () => {
    assert.ok(!hostListeners().some((local) => local.endsWith(':11')), 'nothing listens on port 11 on the host');
    assert.equal(await probe('127.0.0.1', 11), 'refused');
    assert.equal(await insideExchange(run.api, '127.0.0.1', 11, 'inner'), 'inner');
  });

  test('an in-namespace client reaches a bypassed port at the address the app bound (health checks)', async () => {
    assert.equal(await insideExchange(run.api, '127.0.0.1', 7, 'health'), 'health');
    assert.equal(await insideExchange(run.api, '::1', 8, 'health6'), 'health6');
  });

  test('list-ports says each bypassed port is bound (an extra field rootlessctl ignores)', async () => {
    const states = (await run.api.listPorts()).map((p) => p.state);
    assert.deepEqual(states, Array(6).fill('bound'));
  });

  test('a port taken on the host when it is added is refused in the usual words, leaving nothing behind', async () => {
    await assertTakenPortRefused(run.api, (port) => ({ proto: 'tcp', parentIP: '127.0.0.1', parentPort: port, childPort: 80 }), /cannot listen on 127\.0\.0\.1:\d+\/tcp: the port is already in use on the host/);
  });

  test('sctp is refused with the supported list', async () => {
    await assert.rejects(run.api.addPort({ proto: 'sctp', parentPort: 9999, childPort: 9999 }), /proto sctp is not supported by the bypass driver \(supported: tcp, tcp4, tcp6, udp, udp4, udp6\)/);
  });
});

describe('bypass driver: ports added and removed at run time, app restarts', () => {
  let run: Launched;
  let first: number;
  let later: number;

  before(async () => {
    first = await freePort();
    later = await freePort();
    // The fixture restarts whenever it is killed: every start is a new bind.
    run = await launchCommand([...BYPASS, `--publish=127.0.0.1:${first}:7/tcp`], () => ['sh', '-c', `while :; do "${process.execPath}" "${FIXTURE}" tcp-echo,7 tcp-echo,12; done`], /ready/);
  });
  after(() => run?.stop());

  const restarted = async (times: number) => {
    killFixture(run.p);
    await eventually(`the app started ${times} times`, () => run.p.stdout.split('ready').length - 1 >= times, 10_000);
  };

  test('a port added at run time applies to the next bind; an app restart rebinds every published port', async () => {
    const { id } = await run.api.addPort({ proto: 'tcp', parentIP: '127.0.0.1', parentPort: later, childPort: 12 });
    assert.equal((await run.api.listPorts()).find((p) => p.id === id)?.state, 'unbound');
    assert.equal(await probe('127.0.0.1', later), 'refused', 'the app bound port 12 inside before it was published');
    await restarted(2);
    assert.equal((await exchange('127.0.0.1', first, 'again')).toString(), 'again');
    assert.equal((await exchange('127.0.0.1', later, 'now')).toString(), 'now');
    assert.deepEqual((await run.api.listPorts()).map((p) => p.state), ['bound', 'bound']);
  });

  test('a removed port: the app keeps its socket (nsgate says so) until its next bind, which stays inside', async () => {
    const id = (await run.api.listPorts()).find((p) => p.spec.parentPort === first)!.id;
    await run.api.removePort(id);
    await eventually('the warning', () => /bypass: 127\.0\.0\.1:\d+:7\/tcp is removed, but the app keeps its host socket/.test(run.p.stderr));
    assert.equal((await exchange('127.0.0.1', first, 'still')).toString(), 'still');
    await restarted(3);
    assert.equal(await probe('127.0.0.1', first), 'refused');
    assert.equal(await insideExchange(run.api, '127.0.0.1', 7, 'inside'), 'inside');
  });
});

describe('bypass driver: real servers', () => {
  test('busybox httpd', async () => {
    const port = await freePort();
    const run = await launchCommand([...BYPASS, `--publish=127.0.0.1:${port}:8080/tcp`], (dir) => {
      writeFileSync(`${dir}/index.html`, 'busybox says hi\n');
      return ['sh', '-c', `echo ready; exec busybox httpd -f -p 8080 -h ${dir}`];
    }, /ready/);
    try {
      await eventually('httpd answers', () => curl(port) === 'busybox says hi\n');
    } finally {
      await run.stop();
    }
  });

  test('nginx, a master and two workers, each worker with its own SO_REUSEPORT socket', async () => {
    const port = await freePort();
    const run = await launchCommand([...BYPASS, `--publish=127.0.0.1:${port}:8080/tcp`], (dir) => {
      writeFileSync(
        `${dir}/nginx.conf`,
        `daemon off; master_process on; worker_processes 2; pid ${dir}/nginx.pid; error_log stderr;
         events { worker_connections 64; }
         http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
                server { listen 8080 reuseport; listen [::]:8080; location / { return 200 "nginx says hi\\n"; } } }`,
      );
      return ['sh', '-c', `echo ready; exec nginx -c ${dir}/nginx.conf -e stderr`];
    }, /ready/);
    try {
      await eventually('nginx answers', () => curl(port) === 'nginx says hi\n');
      const listeners = spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).stdout.trim().split('\n');
      assert.equal(listeners.length, 2, `one host socket per worker:\n${listeners.join('\n')}`);
      for (let i = 0; i < 20; i++) assert.equal(curl(port), 'nginx says hi\n');
    } finally {
      await run.stop();
    }
  });

  test("python3's http.server on [::] (dual-stack)", { skip: !HAS_PYTHON && 'python3 is not installed' }, async () => {
    const port = await freePort();
    const run = await launchCommand([...BYPASS, `--publish=:${port}:8000/tcp`], (dir) => {
      writeFileSync(`${dir}/index.html`, 'python says hi\n');
      return ['sh', '-c', `echo ready; exec python3 -m http.server 8000 --bind :: --directory ${dir}`];
    }, /ready/);
    try {
      await eventually('http.server answers on IPv4', () => curl(port) === 'python says hi\n');
      const v6 = spawnSync('curl', ['-sS', '--max-time', '5', `http://[::1]:${port}/`], { encoding: 'utf8' });
      assert.equal(v6.stdout, 'python says hi\n');
    } finally {
      await run.stop();
    }
  });
});

describe('bypass driver: a program with a seccomp filter of its own', () => {
  // The filter below names uname by its x86_64 number.
  const skip = process.arch !== 'x64' ? 'x86_64 only' : !HAS_PYTHON && 'python3 is not installed';
  test("its filter stacks on nsgate's: both apply, and its published port is served", { skip }, async () => {
    const port = await freePort();
    // A filter that fails uname() with EPERM and allows the rest, installed as a sandboxing program would.
    const script = `
import ctypes, errno, os, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
prog = b''.join(struct.pack('HBBI', *i) for i in [(0x20, 0, 0, 0), (0x15, 0, 1, 63), (0x06, 0, 0, 0x00050000 | errno.EPERM), (0x06, 0, 0, 0x7fff0000)])
buf = ctypes.create_string_buffer(prog)
class Fprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]
fprog = Fprog(4, ctypes.addressof(buf))
assert libc.prctl(38, 1, 0, 0, 0) == 0
assert libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0, ctypes.get_errno()
try:
    os.uname(); print('uname allowed')
except OSError as e:
    print('uname', errno.errorcode[e.errno])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 7)); s.listen()
print('ready', flush=True)
while True:
    c, _ = s.accept(); c.sendall(b'own filter says hi\\n'); c.close()
`;
    const run = await launchCommand([...BYPASS, `--publish=127.0.0.1:${port}:7/tcp`], () => ['python3', '-c', script], /ready/);
    try {
      assert.match(run.p.stdout, /^uname EPERM\n/);
      assert.equal((await exchange('127.0.0.1', port)).toString(), 'own filter says hi\n');
    } finally {
      await run.stop();
    }
  });
});

describe('bypass driver: outgoing connects', () => {
  /** A server outside: in a test netns of this file's own, a part of TEST-NET-2 (the Docker bypass test uses .128/25 beside it). */
  const OUTSIDE = { netns: 'nsgate-test-out2', veth: 'nsgout2-host', hostIP: `${SUBNET}193`, clientIP: `${SUBNET}194`, prefix: 26 };
  const [TCP_PORT, UDP_PORT] = [7070, 7071];
  let outside: ReturnType<typeof createClientNetns>;
  let server: Proc;

  before(async () => {
    outside = createClientNetns(OUTSIDE);
    server = startAsUser(process.execPath, ['-e', HASH_SERVER, OUTSIDE.clientIP, String(TCP_PORT), String(UDP_PORT)], { user: 'root', netns: outside.netns });
    await server.waitFor(/ready/);
  });
  after(() => {
    server?.kill('SIGKILL');
    outside?.remove();
  });

  /**
   * Inside nsgate: 1 MiB by TCP with a blocking connect and with a non-blocking one (socat's connect-timeout),
   * and a datagram on a connected UDP socket; each line is the local sha256, then the server's.
   */
  const exchanges = (flags: string[]) =>
    runNsgate([...BYPASS, '--disable-host-loopback', '--debug', ...flags, '--', 'sh', '-c', `
      f=$(mktemp); head -c 1048576 /dev/urandom > "$f"
      echo "$(sha256sum < "$f" | cut -d' ' -f1) $(socat - TCP:${OUTSIDE.clientIP}:${TCP_PORT} < "$f")"
      echo "$(sha256sum < "$f" | cut -d' ' -f1) $(socat - TCP:${OUTSIDE.clientIP}:${TCP_PORT},connect-timeout=5 < "$f")"
      head -c 1000 "$f" > "$f.udp"
      echo "$(sha256sum < "$f.udp" | cut -d' ' -f1) $(socat -t 5 - UDP:${OUTSIDE.clientIP}:${UDP_PORT} < "$f.udp")"
      rm -f "$f" "$f.udp"`]);
  const bypassedLines = (stderr: string) => (stderr.match(/bypass: socat \(pid \d+\) connects to \S+ from the host/g) ?? []).map((line) => line.replace(/pid \d+/, 'pid N'));
  const assertIntact = (stdout: string) => {
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 3, stdout);
    for (const line of lines) {
      const [mine, theirs] = line.split(' ');
      assert.match(mine!, /^[0-9a-f]{64}$/);
      assert.equal(theirs, mine, 'the server got the bytes intact');
    }
  };

  test('TCP (blocking and non-blocking connect) and connected UDP to an outside address run on host sockets', async () => {
    const r = await exchanges([]);
    assert.equal(r.code, 0, r.stderr);
    assertIntact(r.stdout);
    assert.deepEqual(bypassedLines(r.stderr), [`${TCP_PORT}/tcp`, `${TCP_PORT}/tcp`, `${UDP_PORT}/udp`].map((to) => `bypass: socat (pid N) connects to ${OUTSIDE.clientIP}:${to} from the host`));
  });

  test('--bypass-outgoing=false and --bypass-ignore keep them in the namespace (slirp4netns carries the same bytes)', async () => {
    for (const flags of [['--bypass-outgoing=false'], [`--bypass-ignore=${SUBNET}192/26`]]) {
      const r = await exchanges(flags);
      assert.equal(r.code, 0, r.stderr);
      assertIntact(r.stdout);
      assert.deepEqual(bypassedLines(r.stderr), [], flags.join(' '));
    }
  });

  test("a bypassed socket cannot be turned to the host's loopback: sendto, a new connect, AF_UNSPEC then connect", { skip: !HAS_PYTHON && 'python3 is not installed' }, async () => {
    const hostTcp = await freePort();
    const hostUdp = await freeUdpPort('127.0.0.1');
    let reached = 0;
    const tcp = createServer((s) => {
      reached++;
      s.end();
    });
    const udp = createSocket('udp4').on('message', () => reached++);
    await new Promise<void>((resolve) => tcp.listen(hostTcp, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => udp.bind(hostUdp, '127.0.0.1', resolve));
    const script = `${pythonAttempt('sent')}
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(5)
u.connect(('${OUTSIDE.clientIP}', ${UDP_PORT})); u.send(b'hello'); print('udp reply', len(u.recv(100)))
attempt('udp sendto', lambda: u.sendto(b'escape', ('127.0.0.1', ${hostUdp})))
attempt('udp connect', lambda: (u.connect(('127.0.0.1', ${hostUdp})), u.send(b'escape')))
t = socket.socket(); t.settimeout(5)
t.connect(('${OUTSIDE.clientIP}', ${TCP_PORT})); t.shutdown(socket.SHUT_WR); print('tcp reply', len(t.recv(100)))
unspec = ctypes.create_string_buffer(16)
print('dissolve', ctypes.CDLL(None, use_errno=True).connect(t.fileno(), unspec, 16))
attempt('tcp connect', lambda: t.connect(('127.0.0.1', ${hostTcp})))
`;
    try {
      const r = await runNsgate([...BYPASS, '--disable-host-loopback', '--debug', '--', 'python3', '-c', script]);
      assert.equal(r.code, 0, r.stderr);
      // Tied to the veth the outside server is behind, the sockets reach nothing else: the kernel takes 127.0.0.1
      // for an address on that link (datagrams wait for an ARP answer that never comes there; TCP fails).
      assert.match(r.stdout, /^udp reply 65\nudp sendto (sent|E[A-Z]+)\nudp connect (sent|E[A-Z]+)\ntcp reply 65\ndissolve 0\ntcp connect E[A-Z]+\n$/);
      assert.equal(r.stderr.match(/bypass: python3 \(pid \d+\) connects to \S+ from the host/g)?.length, 2, 'both first connects were bypassed');
      assert.equal(reached, 0, "the host's loopback services saw nothing");
    } finally {
      tcp.close();
      udp.close();
    }
  });

  test('--net=none: the namespace reaches nothing outside, and bypass gives it nothing either', async () => {
    const r = await runNsgate(['--net=none', '--port-driver=bypass', '--debug', '--', 'socat', '-', `TCP:${OUTSIDE.clientIP}:${TCP_PORT}`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Network is unreachable/);
    assert.deepEqual(bypassedLines(r.stderr), []);
  });

  test('a setuid-root program run by another uid inside gets euid 0 under the filter (no no_new_privs)', async () => {
    const r = await runNsgate([...BYPASS, '--', 'sh', '-c', `
      d=$(mktemp -d); chmod 755 "$d"; cp /usr/bin/id "$d/id"; chmod 4755 "$d/id"
      setpriv --reuid=1000 --regid=1000 --clear-groups "$d/id"; rm -rf "$d"`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^uid=1000\b.* euid=0\b/);
    assert.doesNotMatch(r.stderr, /no-new-privs/);
  });
});

describe('bypass driver: limits and safety', () => {
  let hostService: Server;
  let hostPort: number;
  let connections = 0;

  before(async () => {
    hostPort = await freePort();
    hostService = createServer((s) => {
      connections++;
      s.end();
    });
    await new Promise<void>((resolve) => hostService.listen(hostPort, '127.0.0.1', resolve));
  });
  after(() => new Promise<void>((resolve) => hostService.close(() => resolve())));

  test("a published TCP port's host socket cannot connect out to the host's loopback, even after dissolving the listener", { skip: !HAS_PYTHON && 'python3 is not installed' }, async () => {
    const [udpPort, tcpPort, udpPeer] = [await freePort(), await freePort(), await freePort()];
    const script = `${pythonAttempt('connected')}
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 7))
print('getsockname', u.getsockname()[1])
attempt('udp', lambda: u.connect(('127.0.0.1', ${udpPeer})))
t = socket.socket(); t.bind(('0.0.0.0', 8))
libc = ctypes.CDLL(None, use_errno=True)
unspec = ctypes.create_string_buffer(16)
rc = libc.connect(t.fileno(), unspec, 16)
print('dissolve', 'ok' if rc == 0 else errno.errorcode[ctypes.get_errno()])
attempt('tcp', lambda: t.connect(('127.0.0.1', ${hostPort})))
`;
    const r = await runNsgate([...BYPASS, `--publish=127.0.0.1:${udpPort}:7/udp`, `--publish=127.0.0.1:${tcpPort}:8/tcp`, '--', 'python3', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    // UDP may connect (servers connect to a client, as iperf3 does): a UDP socket reaches any address with sendto() anyway.
    assert.equal(r.stdout, `getsockname ${udpPort}\nudp connected\ndissolve EPERM\ntcp EPERM\n`);
    assert.match(r.stderr, /bypass: refused a connect\(\) of python3 \(pid \d+\) on its host socket \(fd \d+\): a published TCP port's socket only accepts/);
    assert.equal(connections, 0, 'the host service saw no connection');
  });

  test("a host port taken after publishing: the app's bind fails with EADDRINUSE, nsgate says why and keeps no fd of it", async () => {
    const port = await freePort();
    // --debug: nsgate has written to stderr before the count, so its stderr stream is not what the count sees appear.
    const run = await launchCommand(
      [...BYPASS, '--debug', `--publish=127.0.0.1:${port}:7/tcp`],
      (dir) => ['sh', '-c', `echo waiting; while [ ! -e ${dir}/go ]; do sleep 0.05; done; "${process.execPath}" "${FIXTURE}" tcp-echo,7; echo "server exited $?"; exec sleep 60`],
      /waiting/,
    );
    const taken = await holdPort(port);
    try {
      const fdsBefore = readdirSync(`/proc/${run.p.pid}/fd`).length;
      writeFileSync(`${run.dir}/go`, '');
      await run.p.waitFor(/server exited 1/);
      assert.match(run.p.stderr, /servers: listen EADDRINUSE/);
      assert.match(run.p.stderr, new RegExp(`bypass: the bind\\(\\) of node \\(pid \\d+\\) for 127\\.0\\.0\\.1:${port}:7/tcp failed with EADDRINUSE: cannot listen on 127\\.0\\.0\\.1:${port}/tcp: the port is already in use on the host`));
      assert.equal(readdirSync(`/proc/${run.p.pid}/fd`).length, fdsBefore, "nsgate holds no fd of the failed bind");
    } finally {
      taken.close();
      await run.stop();
    }
  });

  test("other system calls are untouched: outbound HTTP through slirp4netns to the host's 127.0.0.1 (10.0.2.2)", async () => {
    const port = await freePort();
    const web = createHttpServer((_req, res) => res.end('from the host\n'));
    await new Promise<void>((resolve) => web.listen(port, '127.0.0.1', resolve));
    try {
      const r = await runNsgate([...BYPASS, `--publish=127.0.0.1:${await freePort()}:80/tcp`, '--', 'busybox', 'wget', '-q', '-O', '-', `http://10.0.2.2:${port}/`]);
      assert.equal(r.stdout, 'from the host\n', r.stderr);
      assert.equal(r.code, 0);
    } finally {
      web.close();
    }
  });

  test('bypass with --detach-netns is refused before anything starts', async () => {
    const r = await runNsgate([...BYPASS, '--detach-netns', '--', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--port-driver=bypass cannot be used with --detach-netns: COMMAND stays in the host network namespace/);
  });

  test('a COMMAND that cannot run: RootlessKit\'s words and exit status 1, as without bypass', async () => {
    const r = await runNsgate([...BYPASS, '--', 'no-such-command-nsgate']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nsgate: error: command \[no-such-command-nsgate\] exited: exec: "no-such-command-nsgate": executable file not found in \$PATH/);
  });
});
