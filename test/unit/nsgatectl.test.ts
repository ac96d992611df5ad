import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { link, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startApiServer } from '../../src/api/server.js';
import { API_VERSION, type ApiInfo } from '../../src/api/types.js';
import type { PortService } from '../../src/port/types.js';
import { main, parseArgs, resolveSocket, type Invocation } from '../../src/cli/nsgatectl.js';
import { UserError } from '../../src/errors.js';
import type { PortSpec } from '../../src/port/types.js';
import { VERSION } from '../../src/version.js';
import { describePeer, NO_PEER, referencePeer } from '../e2e/peers.js';

/** The reference RootlessKit's rootlessctl (test/e2e/peers.ts). */
const PEER = referencePeer();
const NSGATECTL = fileURLToPath(new URL('../../src/cli/nsgatectl.js', import.meta.url));

const INFO: ApiInfo = {
  apiVersion: API_VERSION,
  version: VERSION,
  stateDir: '/tmp/state & <dir>', // Go escapes & < > in JSON: so must nsgatectl
  childPID: 4242,
  networkDriver: { driver: 'slirp4netns', dns: ['10.0.2.3', 'fd00::3'], childIP: '10.0.2.100' },
  portDriver: { driver: 'builtin', protos: ['tcp', 'tcp4', 'tcp6', 'udp', 'udp4', 'udp6'] },
};

/** What nsgate and RootlessKit v2 answer with --net=pasta and --port-driver=none or implicit. */
const NO_PORT_DRIVER_INFO: ApiInfo = {
  apiVersion: API_VERSION,
  version: VERSION,
  stateDir: '/tmp/state & <dir>',
  childPID: 4242,
  networkDriver: { driver: 'pasta', dns: ['10.0.2.3'], childIP: '10.0.2.100' },
};

/** Ports in memory with RootlessKit's messages for an unknown id. */
function fakePorts(): PortService {
  const ports = new Map<number, PortSpec>();
  let nextId = 1;
  return {
    list: () => [...ports].map(([id, spec]) => ({ id, spec })),
    add: async (spec) => {
      ports.set(nextId, spec);
      return { id: nextId++, spec };
    },
    remove: async (id) => {
      if (!ports.delete(id)) throw new UserError(`unknown id: ${id}`);
    },
  };
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function nsgatectl(args: string[], env: Record<string, string> = {}): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env,
  });
  return { code, stdout, stderr };
}

async function execResult(file: string, args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const { code, stdout, stderr } = err as Result;
    return { code, stdout, stderr };
  }
}

/** Runs `fn` with the socket path of a fresh server (fresh fake ports) in a temp state dir. */
async function withServer(
  fn: (socketPath: string, stateDir: string) => Promise<void>,
  ports: PortService | null = fakePorts(),
  info: ApiInfo = INFO,
): Promise<void> {
  const stateDir = await mkdtemp(join(tmpdir(), 'nsgatectl-test-'));
  const socketPath = join(stateDir, 'api.sock');
  const server = await startApiServer({ socketPath, info: () => info, ports });
  try {
    await fn(socketPath, stateDir);
  } finally {
    await server.close();
    await rm(stateDir, { recursive: true, force: true });
  }
}

describe('parseArgs', () => {
  test('global flags, commands and their flags', () => {
    const cases: [string[], Invocation][] = [
      [['list-ports'], { action: 'run', socket: undefined, debug: false, command: { name: 'list-ports', json: false, stats: false } }],
      [['list-ports', '--stats'], { action: 'run', socket: undefined, debug: false, command: { name: 'list-ports', json: false, stats: true } }],
      [['--socket', '/s', '--debug', 'list-ports', '--json'], { action: 'run', socket: '/s', debug: true, command: { name: 'list-ports', json: true, stats: false } }],
      [['--socket=/s', 'info', '--json=true'], { action: 'run', socket: '/s', debug: false, command: { name: 'info', json: true } }],
      [['-socket', '/s', '-debug=false', 'info', '-json'], { action: 'run', socket: '/s', debug: false, command: { name: 'info', json: true } }],
      [['remove-ports', '3', '--', '4'], { action: 'run', socket: undefined, debug: false, command: { name: 'remove-ports', ids: [3, 4] } }],
      [['remove-ports', '3-6', '9'], { action: 'run', socket: undefined, debug: false, command: { name: 'remove-ports', ids: [3, 4, 5, 6, 9] } }],
      [['remove-reverse-ports', '2-2'], { action: 'run', socket: undefined, debug: false, command: { name: 'remove-reverse-ports', ids: [2] } }],
      [
        ['add-ports', '127.0.0.1:8080:80/tcp', '--json', '[::1]:8443:[::1]:443/tcp6'],
        {
          action: 'run',
          socket: undefined,
          debug: false,
          command: {
            name: 'add-ports',
            json: true,
            specs: [
              { proto: 'tcp', parentIP: '127.0.0.1', parentPort: 8080, childPort: 80 },
              { proto: 'tcp6', parentIP: '::1', parentPort: 8443, childIP: '::1', childPort: 443 },
            ],
          },
        },
      ],
    ];
    for (const [argv, expected] of cases) assert.deepEqual(parseArgs(argv), expected, argv.join(' '));
  });

  test('help and version', () => {
    const cases: [string[], Invocation][] = [
      [[], { action: 'help' }],
      [['--help'], { action: 'help' }],
      [['-h', 'info'], { action: 'help' }],
      [['help'], { action: 'help' }],
      [['h', 'add-ports'], { action: 'help', command: 'add-ports' }],
      [['remove-ports', '--help'], { action: 'help', command: 'remove-ports' }],
      [['info', '-h', '--bogus'], { action: 'help', command: 'info' }],
      [['--version'], { action: 'version' }],
      [['-v', 'info'], { action: 'version' }],
    ];
    for (const [argv, expected] of cases) assert.deepEqual(parseArgs(argv), expected, argv.join(' '));
  });

  test('bad usage is a UserError that names the problem', () => {
    const commands = /commands: list-ports, add-ports, remove-ports, info, list-reverse-ports, add-reverse-ports, remove-reverse-ports, help/;
    const cases: [string[], RegExp][] = [
      [['bogus'], /^unknown command "bogus"/],
      [['bogus'], commands],
      [['help', 'bogus'], /^unknown command "bogus"/],
      [['--bogus', 'info'], /^unknown flag "--bogus"/],
      [['--bogus', 'info'], commands],
      [['list-ports', '--bogus'], /^unknown flag "--bogus" for list-ports \(its flags: --json, --stats, --help\)$/],
      [['list-ports', '--socket', '/s'], /^unknown flag "--socket" for list-ports/],
      [['remove-ports', '--json', '1'], /^unknown flag "--json" for remove-ports \(its flags: --help\)$/],
      [['--socket'], /^flag --socket needs a value/],
      [['--debug=maybe', 'info'], /expected true or false/],
      [['info', 'extra'], /^info takes no arguments, got "extra"$/],
      [['add-ports'], /^no port specified$/],
      [['add-ports', '127.0.0.1:8080:80/tcp', '8080:80'], /^invalid port spec "8080:80"/],
      [['remove-ports'], /^no ID specified$/],
      [['remove-ports', '1', 'x'], /^invalid port ID "x"/],
      [['remove-ports', '3-'], /^invalid port ID "3-": expected an integer, or a range of them like 3-12$/],
      [['remove-ports', '1-2-3'], /^invalid port ID "1-2-3"/],
      [['remove-ports', '5-3'], /^invalid ID range "5-3": expected FIRST-LAST with FIRST <= LAST, at most 1000 IDs$/],
      [['remove-ports', '1-1001'], /^invalid ID range "1-1001"/],
      [['add-port', ':8080:80/tcp'], /^unknown command "add-port" \(did you mean "add-ports"\? commands: /],
      [['list-reverse'], /^unknown command "list-reverse" \(did you mean "list-reverse-ports"\? /],
      [['add-reverse-ports'], /^no reverse port specified: give one like 5432:5432\/tcp$/],
      [['add-reverse-ports', '5432/tcp'], /^invalid reverse port spec "5432\/tcp": expected 2 to 4 ":"-separated parts, got 1 .*\(the form is \[CHILD_IP:\]CHILD_PORT:\[PARENT_IP:\]PARENT_PORT\/PROTO/],
      [['remove-reverse-ports'], /^no ID specified \(list-reverse-ports shows them\)$/],
      [['list-reverse-ports', '--bogus'], /^unknown flag "--bogus" for list-reverse-ports \(its flags: --json, --stats, --help\)$/],
      [['remove-ports', '-1'], /^unknown flag "-1"/],
    ];
    for (const [argv, message] of cases) {
      assert.throws(() => parseArgs(argv), (err) => err instanceof UserError && message.test(err.message), argv.join(' '));
    }
  });
});

test('resolveSocket: --socket, else $ROOTLESSKIT_STATE_DIR/api.sock, else an error', () => {
  assert.equal(resolveSocket('/a/api.sock', { ROOTLESSKIT_STATE_DIR: '/b' }), '/a/api.sock');
  assert.equal(resolveSocket(undefined, { ROOTLESSKIT_STATE_DIR: '/b' }), '/b/api.sock');
  assert.equal(resolveSocket('', { ROOTLESSKIT_STATE_DIR: '/b' }), '/b/api.sock');
  assert.throws(() => resolveSocket(undefined, { ROOTLESSKIT_STATE_DIR: '' }), /^UserError: please specify --socket or set \$ROOTLESSKIT_STATE_DIR$/);
});

describe('main', () => {
  test('--version, --help and help COMMAND', async () => {
    assert.deepEqual(await nsgatectl(['--version']), { code: 0, stdout: `nsgatectl version ${VERSION}\n`, stderr: '' });
    const help = await nsgatectl(['--help']);
    assert.equal(help.code, 0);
    assert.match(
      help.stdout,
      /^COMMANDS:\n {3}list-ports {12}List ports\n {3}add-ports {13}Add ports\n {3}remove-ports {10}Remove ports\n {3}info {18}Show info\n {3}list-reverse-ports {4}List reverse ports \(nsgate\)\n {3}add-reverse-ports {5}Add reverse ports \(nsgate\)\n {3}remove-reverse-ports {2}Remove reverse ports \(nsgate\)\n/m,
    );
    for (const command of ['add-reverse-ports', 'list-reverse-ports', 'remove-reverse-ports', 'list-ports']) {
      const commandHelp = await nsgatectl([command, '--help']);
      assert.equal(commandHelp.code, 0);
      assert.match(commandHelp.stdout, new RegExp(`^NAME:\n {3}nsgatectl ${command} - `));
    }
    assert.match((await nsgatectl(['help', 'add-reverse-ports'])).stdout, /also with --disable-host-loopback/);
    assert.match((await nsgatectl(['help', 'list-ports'])).stdout, /--stats +Prints each port's traffic counters/);
    assert.match(help.stdout, /--socket value {2}Path to api\.sock/);
    assert.match((await nsgatectl(['help', 'add-ports'])).stdout, /USAGE:\n {3}nsgatectl add-ports \[command options\] \[flags\] PARENTIP:PARENTPORT/);
  });

  test('errors go to stderr as "error: ..." with exit code 1', async () => {
    assert.deepEqual(await nsgatectl(['list-ports']), {
      code: 1,
      stdout: '',
      stderr: 'error: please specify --socket or set $ROOTLESSKIT_STATE_DIR\n',
    });
    const unknown = await nsgatectl(['bogus']);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stdout, '');
    assert.match(unknown.stderr, /^error: unknown command "bogus" \(commands: list-ports, add-ports, remove-ports, info, list-reverse-ports, add-reverse-ports, remove-reverse-ports, help\)\n$/);
  });

  test('a missing socket is named, with what to do', async () => {
    const { code, stderr } = await nsgatectl(['info'], { ROOTLESSKIT_STATE_DIR: '/nonexistent/state' });
    assert.equal(code, 1);
    assert.match(stderr, /^error: .*\/nonexistent\/state\/api\.sock: no such socket\..*--socket.*ROOTLESSKIT_STATE_DIR/);
  });

  test('a socket nobody listens on is "connection refused"', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nsgatectl-test-'));
    try {
      const stale = join(dir, 'stale.sock');
      await withServer((socketPath) => link(socketPath, stale));
      const { code, stderr } = await nsgatectl(['--socket', stale, 'info']);
      assert.equal(code, 1);
      assert.match(stderr, /^error: cannot talk to the API server on .*stale\.sock: connection refused/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('uses $ROOTLESSKIT_STATE_DIR, prints the table, and --debug logs requests', async () => {
    await withServer(async (_socketPath, stateDir) => {
      const env = { ROOTLESSKIT_STATE_DIR: stateDir };
      assert.deepEqual(await nsgatectl(['add-ports', ':8080:80/tcp', '127.0.0.1:5353:[::1]:53/udp'], env), { code: 0, stdout: '1\n2\n', stderr: '' });
      assert.deepEqual(await nsgatectl(['--debug', 'list-ports'], env), {
        code: 0,
        stdout:
          'ID    PROTO    PARENTIP     PARENTPORT    CHILDIP    CHILDPORT    \n' +
          '1     tcp                   8080                     80           \n' +
          '2     udp      127.0.0.1    5353          ::1        53           \n',
        stderr: 'debug: GET /v1/ports -> 200\n',
      });
      assert.deepEqual(await nsgatectl(['remove-ports', '2', '7', '1'], env), { code: 1, stdout: '2\n', stderr: 'error: unknown id: 7\n' });
    });
  });

  test('without a port driver it reports the server’s message', async () => {
    await withServer(async (socketPath) => {
      assert.deepEqual(await nsgatectl(['--socket', socketPath, 'list-ports']), { code: 1, stdout: '', stderr: 'error: no PortDriver is available\n' });
    }, null);
  });

  test('with --port-driver=none or implicit (no portDriver in info, as RootlessKit v2): info shows no port driver, port commands fail', async () => {
    await withServer(
      async (socketPath) => {
        const ctl = (...args: string[]) => nsgatectl(['--socket', socketPath, ...args]);
        assert.deepEqual(await ctl('info'), {
          code: 0,
          stdout:
            '- REST API version: 1.1.1\n' +
            `- Implementation version: ${VERSION}\n` +
            '- State Directory: /tmp/state & <dir>\n' +
            '- Child PID: 4242\n' +
            '- Network Driver: pasta\n' +
            '  - DNS: [10.0.2.3]\n' +
            '  - IP: 10.0.2.100\n',
          stderr: '',
        });
        const json = await ctl('info', '--json');
        assert.equal(json.code, 0);
        assert.deepEqual(Object.keys(JSON.parse(json.stdout) as object), ['apiVersion', 'version', 'stateDir', 'childPID', 'networkDriver']);
        for (const args of [['list-ports'], ['add-ports', ':8080:80/tcp'], ['remove-ports', '1']]) {
          assert.deepEqual(await ctl(...args), { code: 1, stdout: '', stderr: 'error: no PortDriver is available\n' }, args.join(' '));
        }
      },
      null,
      NO_PORT_DRIVER_INFO,
    );
  });
});

describe('nsgatectl prints the same bytes as rootlessctl', { skip: PEER ? false : NO_PEER }, () => {
  test('the same commands against two identical servers', async (t) => {
    t.diagnostic(`rootlessctl of ${describePeer(PEER!)}`);
    await withServer((oursSocket) =>
      withServer(async (theirsSocket) => {
        const commands = [
          ['info'],
          ['info', '--json'],
          ['list-ports'],
          ['list-ports', '--json'],
          ['add-ports', '0.0.0.0:8080:80/tcp', '127.0.0.1:5353:10.0.2.100:53/udp'],
          ['add-ports', '--json', '[::1]:8443:[::1]:443/tcp6', ':9000:9000/tcp4'],
          ['list-ports'],
          ['list-ports', '--json'],
          ['remove-ports', '1', '3'],
          ['remove-ports', '2', '99'],
          ['list-ports'],
        ];
        for (const args of commands) {
          const theirs = await execResult(PEER!.rootlessctl, ['--socket', theirsSocket, ...args]);
          const ours = await nsgatectl(['--socket', oursSocket, ...args]);
          assert.deepEqual(ours, theirs, args.join(' '));
        }
      }),
    );
  });

  test('without a port driver', async () => {
    await withServer(
      (oursSocket) =>
        withServer(
          async (theirsSocket) => {
            for (const args of [['info'], ['info', '--json'], ['list-ports'], ['add-ports', ':8080:80/tcp'], ['remove-ports', '1']]) {
              const theirs = await execResult(PEER!.rootlessctl, ['--socket', theirsSocket, ...args]);
              assert.deepEqual(await nsgatectl(['--socket', oursSocket, ...args]), theirs, args.join(' '));
            }
          },
          null,
          NO_PORT_DRIVER_INFO,
        ),
      null,
      NO_PORT_DRIVER_INFO,
    );
  });
});

describe('the executable', () => {
  test('starts with a shebang, runs main and sets the exit code', async () => {
    assert.match(await readFile(NSGATECTL, 'utf8'), /^#!\/usr\/bin\/env node\n/);
    assert.deepEqual(await execResult(process.execPath, [NSGATECTL, '--version']), { code: 0, stdout: `nsgatectl version ${VERSION}\n`, stderr: '' });
    const bogus = await execResult(process.execPath, [NSGATECTL, 'bogus']);
    assert.equal(bogus.code, 1);
    assert.match(bogus.stderr, /^error: unknown command "bogus"/);
  });
});
