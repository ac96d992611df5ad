/**
 * Parity with RootlessKit. Each row is a black-box case that runs against nsgate and against the reference
 * RootlessKit (test/e2e/peers.ts: v2.3.4 when built) as the test user; both must show the result RootlessKit
 * v2.3.4 shows, written out in the row, so that a row also fails when both are wrong in the same way. Ports
 * are added with the peer's rootlessctl on both sides. The rows share the runners below.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { exchange, udpAsk } from './clients.js';
import { asUser, descendants, eventually, type Exit, fixture, freePort, NSGATE, type Proc, processesWithEnv, running, sleep, startAsUser, userEnv, userTempDir } from './harness.js';
import { describePeer, NO_PEER, REFERENCE_VERSION, referencePeer } from './peers.js';

const peer = referencePeer();

/** A launcher under test: nsgate, or the reference RootlessKit. */
interface Subject {
  name: string;
  argv: string[];
  /** Why its column does not run here. */
  skip?: string;
}

const SUBJECTS: Subject[] = [
  { name: 'nsgate', argv: [process.execPath, NSGATE] },
  ...(peer
    ? [
        {
          name: `rootlesskit-${peer.version}`,
          argv: [peer.rootlesskit],
          // Debian's 1.1.0 (no Go here) still serves as the rootlessctl client, but its own results differ:
          // it has no --net=none and no pasta.
          skip: peer.version === REFERENCE_VERSION ? undefined : `the rows hold RootlessKit ${REFERENCE_VERSION}'s results; the peer here is ${peer.version} (scripts/build-peers.sh builds ${REFERENCE_VERSION} where Go is installed)`,
        },
      ]
    : []),
];

/** A row: what RootlessKit v2.3.4 shows (`expected`), and how to observe it with a launcher (`note` adds a diagnostic). */
interface Case {
  name: string;
  expected: unknown;
  observe(subject: Subject, note: (text: string) => void): Promise<unknown>;
  /** Why the row cannot run on this machine. */
  skip?: string;
}

/** The peer's rootlessctl on `stateDir`/api.sock, as the test user (used against both launchers). */
function rootlessctl(stateDir: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const [cmd, argv] = asUser(peer!.rootlessctl, [`--socket=${stateDir}/api.sock`, ...args]);
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env: userEnv(), timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SH_LOOP = 'echo ready; while :; do sleep 0.05; done';
const sh = (script: string) => ['sh', '-c', script];

/** Set to a fresh value for each launch, to find all it started (test/e2e/harness.ts processesWithEnv). */
const RUN_TAG = 'NSGATE_PARITY_RUN';

/**
 * One launch with `--state-dir=STATE_DIR FLAGS -- COMMAND`, in a fresh directory of the test user's unless a
 * state dir is given.
 */
class Run {
  readonly p: Proc;
  readonly stateDir: string;
  private readonly ownDir: string | undefined;
  private readonly tag = randomUUID();
  private readonly seen = new Set<number>();

  constructor(subject: Subject, flags: string[], command: string[], stateDir?: string) {
    this.ownDir = stateDir === undefined ? userTempDir() : undefined;
    this.stateDir = stateDir ?? `${this.ownDir}/state`;
    const [cmd, ...argv] = subject.argv;
    this.p = startAsUser(cmd!, [...argv, `--state-dir=${this.stateDir}`, ...flags, '--', ...command], { env: { [RUN_TAG]: this.tag } });
    this.seen.add(this.p.pid);
  }

  /**
   * Every process of the launch seen so far: its descendants, and whatever carries its tag (RootlessKit
   * v2.3.4 leaves pasta running when it exits, and pasta daemonizes: it is no descendant).
   */
  processes(): number[] {
    for (const pid of [...descendants(this.p.pid), ...processesWithEnv(`${RUN_TAG}=${this.tag}`)]) this.seen.add(pid);
    return [...this.seen];
  }

  async childPid(): Promise<number> {
    const file = `${this.stateDir}/child_pid`;
    await eventually(`${file} written`, () => existsSync(file) && readFileSync(file, 'utf8').trim() !== '');
    return Number(readFileSync(file, 'utf8'));
  }

  /** The launcher's exit, or null if it still runs after `ms`. */
  exited(ms: number): Promise<Exit | null> {
    return Promise.race([this.p.exit, sleep(ms).then(() => null)]);
  }

  /** How the launcher ended (waiting up to `ms`): its exit code, the signal its stderr names as Go does ("killed"), its output. */
  async outcome(ms = 15_000): Promise<{ code: number | string | null; signal: string | null; stdout: string; stderr: string }> {
    const exit = await this.exited(ms);
    const { stdout, stderr } = this.p;
    return {
      code: exit === null ? `still running after ${ms / 1000} s` : (exit.code ?? `killed by ${exit.signal}`),
      signal: stderr.match(/\bsignal: ([a-z][a-z0-9 ]*[a-z0-9])/)?.[1] ?? null,
      stdout,
      stderr,
    };
  }

  /** Ends the launcher (SIGTERM, then SIGKILL) and every process of it still running; removes its own directory. */
  async end(): Promise<void> {
    this.processes();
    this.p.kill('SIGTERM');
    if ((await this.exited(5_000)) === null) this.p.kill('SIGKILL');
    for (const pid of await stillRunning(this.processes(), 2_000)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Ended meanwhile.
      }
    }
    if (this.ownDir) rmSync(this.ownDir, { recursive: true, force: true });
  }
}

/** Which of `pids` still run after up to `ms`. */
async function stillRunning(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  while (pids.some(running) && Date.now() < deadline) await sleep(25);
  return pids.filter(running);
}

/** `fn` with a launch, which is ended after. */
async function withRun<T>(subject: Subject, flags: string[], command: string[], fn: (run: Run) => Promise<T>, stateDir?: string): Promise<T> {
  const run = new Run(subject, flags, command, stateDir);
  try {
    return await fn(run);
  } finally {
    await run.end();
  }
}

/** The launch, to its end. */
const runToEnd = (subject: Subject, flags: string[], command: string[], stateDir?: string) => withRun(subject, flags, command, (run) => run.outcome(), stateDir);

// ---- exit status -----------------------------------------------------------------------------------------

/** COMMAND ends by itself: the exit code, and the signal named on stderr when it was killed by one. */
function exitRow(flags: string[], script: string, code: number, signal: string | null = null): Case {
  const shown = [...flags, 'sh', '-c', `'${script}'`].join(' ');
  return {
    name: `${shown}: exit ${code}${signal ? `, "signal: ${signal}"` : ''}`,
    expected: { code, signal },
    observe: async (subject) => {
      const { code: got, signal: named } = await runToEnd(subject, flags, sh(script));
      return { code: got, signal: named };
    },
  };
}

const PIDNS_VARIANTS = [[], ['--pidns'], ['--pidns', '--reaper=true'], ['--pidns', '--reaper=false']];

const EXIT_ROWS: Case[] = [
  exitRow([], 'exit 0', 0),
  exitRow([], 'exit 42', 42),
  ...PIDNS_VARIANTS.flatMap((flags) => [
    exitRow(flags, 'kill -KILL $$', 255, 'killed'),
    exitRow(flags, 'kill -USR1 $$', 255, 'user defined signal 1'),
  ]),
];

// ---- signals sent to STATE_DIR/child_pid ------------------------------------------------------------------

/**
 * COMMAND (`traps`, then "ready" and a loop) gets `signal` through the child: `kill -SIG $(cat STATE_DIR/child_pid)`.
 * Seen: the exit, what COMMAND printed after "ready", and how many of the processes are left running.
 */
function childSignalRow(name: string, flags: string[], traps: string, signal: NodeJS.Signals, expected: object): Case {
  return {
    name: `${[...flags, `kill -${signal.slice(3)} child_pid`].join(' ')}: ${name}`,
    expected: { ...expected, left: 0 },
    observe: (subject) =>
      withRun(subject, flags, sh(`${traps}${SH_LOOP}`), async (run) => {
        await run.p.waitFor(/ready/);
        const childPid = await run.childPid();
        // RootlessKit's child starts forwarding signals just after it starts COMMAND: one sent in between is lost.
        await sleep(500);
        run.processes();
        process.kill(childPid, signal);
        const { code, signal: named, stdout } = await run.outcome(10_000);
        const said = stdout.split('\n').filter((line) => line !== '' && line !== 'ready');
        return { code, signal: named, said, left: (await stillRunning(run.processes(), 3_000)).length };
      }),
  };
}

const TRAP = (sig: string, code: number) => `trap 'echo got ${sig}; exit ${code}' ${sig}; `;

const CHILD_SIGNAL_ROWS: Case[] = [
  ...[[], ['--pidns']].map((flags) =>
    childSignalRow('COMMAND\'s TERM trap runs, exit 3, nothing left', flags, TRAP('TERM', 3), 'SIGTERM', { code: 3, signal: null, said: ['got TERM'] }),
  ),
  childSignalRow('COMMAND\'s USR1 trap runs, exit 4', [], TRAP('USR1', 4), 'SIGUSR1', { code: 4, signal: null, said: ['got USR1'] }),
  childSignalRow('COMMAND without a trap dies of it: 255', [], '', 'SIGUSR1', { code: 255, signal: 'user defined signal 1', said: [] }),
  childSignalRow('the child dies: 255, COMMAND goes too', [], TRAP('TERM', 3), 'SIGKILL', { code: 255, signal: 'killed', said: [] }),
];

// ---- restart on a state dir after SIGKILL of the parent ---------------------------------------------------

const RESTART_ROW: Case = {
  name: 'SIGKILL of the parent, then a new launch on the same --state-dir with the same -p works',
  expected: { first: 'SIGKILL', second: { code: 0, signal: null, stdout: 'second\n' } },
  observe: async (subject) => {
    const dir = userTempDir();
    const port = await freePort();
    const flags = ['--net=slirp4netns', '--port-driver=builtin', '-p', `127.0.0.1:${port}:80/tcp`];
    try {
      const killed = await withRun(
        subject,
        flags,
        sh('echo ready; exec sleep 100'),
        async (first) => {
          await first.p.waitFor(/ready/);
          first.processes();
          first.p.kill('SIGKILL');
          return first.exited(15_000);
        },
        `${dir}/state`,
      );
      // COMMAND lingers for RootlessKit's parent to publish the port (see specRow).
      const { code, signal, stdout } = await runToEnd(subject, flags, sh('echo second; sleep 0.5'), `${dir}/state`);
      return { first: killed === null ? 'still running' : (killed.signal ?? killed.code), second: { code, signal, stdout } };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

// ---- the port matrix, through the peer's rootlessctl add-ports ---------------------------------------------

/** One launch per launcher and port driver, serving the peer servers below, shared by the port rows. */
class Sessions {
  private readonly runs = new Map<string, { run: Run; ready: Promise<void> }>();

  async get(subject: Subject, flags: string[]): Promise<Run> {
    const key = `${subject.name} ${flags.join(' ')}`;
    let session = this.runs.get(key);
    if (!session) {
      // A dual-stack server sees from which address inside the launcher dialed it; both echo what they get.
      const run = new Run(subject, flags, fixture('tcp-peer-echo,80,::', 'udp-peer-echo,53,::'));
      session = { run, ready: run.p.waitFor(/ready/, 20_000).then(() => undefined) };
      this.runs.set(key, session);
    }
    await session.ready;
    return session.run;
  }

  async stopAll(): Promise<void> {
    for (const { run } of this.runs.values()) await run.end();
    this.runs.clear();
  }
}

const sessions = new Sessions();

/** "peer ::ffff:127.0.0.1 51234" -> "peer 127.0.0.1": the address inside the namespace the connection came from. */
const peerOf = (line: string) => line.replace(/^peer (?:::ffff:)?(\S+) \d+$/, 'peer $1');

/** A TCP exchange through the published port: who the server saw, and whether 256 KiB came back intact. */
async function askTcp(host: string, port: number): Promise<string> {
  const payload = randomBytes(256 * 1024);
  let back: Buffer;
  try {
    back = await exchange(host, port, payload);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ECONNREFUSED' ? 'refused' : code === 'ECONNRESET' ? 'reset' : `error ${(err as Error).message}`;
  }
  const newline = back.indexOf('\n');
  if (newline < 0) return back.length === 0 ? 'closed with no answer' : `answered ${JSON.stringify(back.toString().slice(0, 80))}`;
  const echoed = back.subarray(newline + 1);
  return `${peerOf(back.subarray(0, newline).toString())}${echoed.equals(payload) ? '' : `, echo differs (${echoed.length} of ${payload.length} bytes back)`}`;
}

/** A UDP datagram through the published port: who the server saw, and whether the datagram came back intact. */
async function askUdp(host: string, port: number): Promise<string> {
  const payload = randomBytes(600).toString('hex');
  try {
    const { reply } = await udpAsk(host, port, payload);
    const newline = reply.indexOf('\n');
    return `${peerOf(reply.slice(0, newline))}${reply.slice(newline + 1) === payload ? '' : ', echo garbled'}`;
  } catch {
    return 'no reply';
  }
}

const BUILTIN = ['--net=slirp4netns', '--port-driver=builtin'];
const SLIRP4NETNS = ['--net=slirp4netns', '--port-driver=slirp4netns'];

/**
 * `specs` (P is one free host port) added with rootlessctl add-ports, then probed over `proto` from each
 * address in `answers`, which holds what each probe must get; the ports are removed after.
 */
function portRow(driver: string[], specs: string[], proto: 'tcp' | 'udp', answers: Record<string, string>, added = specs.map(() => 'added')): Case {
  return {
    name: `${driver.join(' ')}: add-ports ${specs.join(' ')}`,
    expected: { added, answers },
    observe: async (subject) => {
      const run = await sessions.get(subject, driver);
      const port = await freePort('::');
      const adds = specs.map((spec) => rootlessctl(run.stateDir, 'add-ports', spec.replace('P', String(port))));
      const got: Record<string, string> = {};
      for (const from of Object.keys(answers)) got[from] = await (proto === 'tcp' ? askTcp : askUdp)(from, port);
      const ids = adds.filter((r) => r.code === 0).map((r) => r.stdout.trim());
      if (ids.length > 0) rootlessctl(run.stateDir, 'remove-ports', ...ids);
      return { added: adds.map((r) => (r.code === 0 ? 'added' : 'refused')), answers: got };
    },
  };
}

const PORT_ROWS: Case[] = [
  portRow(BUILTIN, ['0.0.0.0:P:80/tcp'], 'tcp', { '127.0.0.1': 'peer 127.0.0.1', '::1': 'peer 127.0.0.1' }),
  portRow(BUILTIN, ['0.0.0.0:P:80/tcp4'], 'tcp', { '127.0.0.1': 'peer 127.0.0.1', '::1': 'refused' }),
  // With no child IP, RootlessKit dials the parent IP inside unless it is 0.0.0.0 (pkg/port/builtin/child).
  portRow(BUILTIN, ['[::]:P:80/tcp6'], 'tcp', { '127.0.0.1': 'refused', '::1': 'peer ::1' }),
  portRow(BUILTIN, ['[::1]:P:80/tcp6'], 'tcp', { '::1': 'peer ::1' }),
  portRow(BUILTIN, ['127.0.0.1:P:53/udp'], 'udp', { '127.0.0.1': 'peer 127.0.0.1' }),
  portRow(BUILTIN, ['[::1]:P:53/udp6'], 'udp', { '::1': 'peer ::1' }),
  portRow(BUILTIN, ['[::1]:P:[127.0.0.1]:80/tcp6'], 'tcp', { '::1': 'peer 127.0.0.1', '127.0.0.1': 'refused' }),
  portRow(BUILTIN, ['[::]:P:[127.0.0.1]:80/tcp'], 'tcp', { '127.0.0.1': 'peer 127.0.0.1', '::1': 'peer 127.0.0.1' }),
  portRow(BUILTIN, ['127.0.0.1:P:[::1]:80/tcp'], 'tcp', { '127.0.0.1': 'peer ::1' }),
  portRow(BUILTIN, ['127.0.0.1:P:80/tcp4', '[::1]:P:80/tcp6'], 'tcp', { '127.0.0.1': 'peer 127.0.0.1', '::1': 'peer ::1' }),
  // slirp4netns forwards IPv4 only, to 10.0.2.100 inside, from its gateway 10.0.2.2.
  portRow(SLIRP4NETNS, ['127.0.0.1:P:80/tcp'], 'tcp', { '127.0.0.1': 'peer 10.0.2.2', '::1': 'refused' }),
  portRow(SLIRP4NETNS, ['0.0.0.0:P:80/tcp4'], 'tcp', { '127.0.0.1': 'peer 10.0.2.2' }),
  portRow(SLIRP4NETNS, ['127.0.0.1:P:53/udp'], 'udp', { '127.0.0.1': 'peer 10.0.2.2' }),
  portRow(SLIRP4NETNS, ['[::1]:P:80/tcp6'], 'tcp', { '::1': 'refused' }, ['refused']),
  portRow(SLIRP4NETNS, ['[::1]:P:80/tcp'], 'tcp', { '::1': 'refused' }, ['refused']),
];

// ---- rootlessctl info --json and list-ports --json -------------------------------------------------------

const NO_PORT_DRIVER = 'error: no PortDriver is available';

/** A port call's error, with nsgate's longer wording of "no port driver" taken as RootlessKit's. */
const portError = (stderr: string) => (/no port ?driver is available/i.test(stderr) ? NO_PORT_DRIVER : stderr.trim());

/**
 * `info --json`, then `add-ports 127.0.0.1:P:80/tcp` and `list-ports --json`. Values that differ by nature
 * are replaced once checked: version (a string), stateDir (the --state-dir given), childPID (child_pid).
 */
function shapeRow(flags: string[], expected: { networkDriver: object; portDriver?: object; addPorts: string; listPorts: unknown }): Case {
  const { networkDriver, portDriver, addPorts, listPorts } = expected;
  return {
    name: `${flags.join(' ')}: rootlessctl info --json, add-ports, list-ports --json`,
    expected: {
      info: { apiVersion: '1.1.1', version: '<version>', stateDir: '<--state-dir>', childPID: '<child_pid>', networkDriver, ...(portDriver && { portDriver }) },
      addPorts,
      listPorts,
    },
    observe: (subject) =>
      withRun(subject, flags, sh('echo ready; exec sleep 100'), async (run) => {
        await run.p.waitFor(/ready/);
        const childPid = await run.childPid();
        const infoOut = rootlessctl(run.stateDir, 'info', '--json');
        const info = infoOut.code === 0 ? (JSON.parse(infoOut.stdout) as Record<string, unknown>) : { error: infoOut.stderr.trim() };
        if (typeof info.version === 'string') info.version = '<version>';
        if (info.stateDir === run.stateDir) info.stateDir = '<--state-dir>';
        if (info.childPID === childPid) info.childPID = '<child_pid>';
        const port = await freePort();
        const add = rootlessctl(run.stateDir, 'add-ports', `127.0.0.1:${port}:80/tcp`);
        const list = rootlessctl(run.stateDir, 'list-ports', '--json');
        const entries = list.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line.replace(`:${port},`, ':"P",')) as { id: number });
        return {
          info,
          addPorts: add.code === 0 ? add.stdout.trim() : portError(add.stderr),
          listPorts: list.code === 0 ? entries.sort((a, b) => a.id - b.id) : portError(list.stderr),
        };
      }),
  };
}

const SLIRP_NETWORK = { driver: 'slirp4netns', dns: ['10.0.2.3'], childIP: '10.0.2.100' };
const ONE_PORT = [{ id: 1, spec: { proto: 'tcp', parentIP: '127.0.0.1', parentPort: 'P', childPort: 80 } }];

const SHAPE_ROWS: Case[] = [
  shapeRow(BUILTIN, {
    networkDriver: SLIRP_NETWORK,
    portDriver: { driver: 'builtin', protos: ['tcp', 'tcp4', 'tcp6', 'udp', 'udp4', 'udp6'] },
    addPorts: '1',
    listPorts: ONE_PORT,
  }),
  shapeRow(SLIRP4NETNS, {
    networkDriver: SLIRP_NETWORK,
    portDriver: { driver: 'slirp4netns', protos: ['tcp', 'tcp4', 'udp', 'udp4'], disallowLoopbackChildIP: true },
    addPorts: '1',
    listPorts: ONE_PORT,
  }),
  // v2.3.4 has no port driver object for none and implicit: no portDriver in info, and every port call fails.
  shapeRow(['--net=slirp4netns', '--port-driver=none'], { networkDriver: SLIRP_NETWORK, addPorts: NO_PORT_DRIVER, listPorts: NO_PORT_DRIVER }),
  shapeRow(['--net=pasta', '--port-driver=implicit'], {
    networkDriver: { driver: 'pasta', dns: ['10.0.2.3'], childIP: '10.0.2.100' },
    addPorts: NO_PORT_DRIVER,
    listPorts: NO_PORT_DRIVER,
  }),
];

// ---- inside the namespaces: copy-up, sysfs, propagation --------------------------------------------------

/** Run `script` inside; `read` turns its output into what is compared. */
function insideRow(name: string, flags: string[], script: string, expected: unknown, read: (r: { code: unknown; stdout: string; stderr: string }) => unknown, skip?: string): Case {
  return {
    name: `${flags.join(' ')}: ${name}`,
    expected,
    skip,
    observe: async (subject) => read(await runToEnd(subject, flags, sh(script))),
  };
}

/** KEY=VALUE lines -> an object. */
const keyed = (stdout: string) => Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

const HOST_ETC_SYMLINKS = Object.fromEntries(
  readdirSync('/etc')
    .filter((name) => lstatSync(`/etc/${name}`).isSymbolicLink())
    .map((name) => [name, readlinkSync(`/etc/${name}`)]),
);

const COPY_UP_SCRIPT = [
  'echo "mode=$(stat -c %a /etc) $(stat -f -c %T /etc)"',
  'echo "hostname=$(readlink /etc/hostname)"',
  'echo "hidden=$(ls -A /etc | grep "^\\.ro" | wc -l)"',
  ...Object.keys(HOST_ETC_SYMLINKS).map((name) => `echo "link ${name}=$(readlink /etc/${name})"`),
  'echo "nobody reads=$(setpriv --reuid=65534 --regid=65534 --clear-groups cat /etc/hostname 2>&1)"',
].join('; ');

const COPY_UP_ROW = insideRow(
  'a 1777 tmpfs of relative symlinks into .roXXXXXX, host symlinks kept, readable by a non-root uid',
  ['--copy-up=/etc'],
  COPY_UP_SCRIPT,
  {
    mode: '1777 tmpfs',
    hostname: '.roXXXXXX/hostname',
    hidden: '1',
    ...Object.fromEntries(Object.entries(HOST_ETC_SYMLINKS).map(([name, target]) => [`link ${name}`, target])),
    'nobody reads': existsSync('/etc/hostname') ? readFileSync('/etc/hostname', 'utf8').trim() : '',
  },
  ({ stdout }) => {
    const seen = keyed(stdout);
    return { ...seen, hostname: seen.hostname?.replace(/^\.ro[^/]+\//, '.roXXXXXX/') };
  },
  existsSync('/etc/hostname') ? undefined : 'this host has no /etc/hostname',
);

const netClass = ({ stdout }: { stdout: string }) => stdout.split(/\s+/).filter(Boolean).sort();
const SYSFS_ROWS = ['--net=slirp4netns', '--net=pasta'].map((net) => insideRow('ls /sys/class/net', [net], 'ls /sys/class/net', ['lo', 'tap0'], netClass));

/** RootlessKit warns that a propagation other than private needs a shared host root (pkg/parent/warn.go). */
const ROOT_SHARED = /^\S+ \S+ \S+ \S+ \/ .* shared:\d+/m.test(readFileSync('/proc/self/mountinfo', 'utf8'));
const PROPAGATION_ROWS = (
  [
    ['rprivate', false, 'private'],
    ['rslave', true, 'private'],
    ['rshared', true, 'shared'],
  ] as const
).map(([propagation, warning, inside]) =>
  insideRow(
    `propagation inside / when the host's / is not shared`,
    [`--propagation=${propagation}`],
    'findmnt -no PROPAGATION /',
    { code: 0, warning, inside },
    ({ code, stdout, stderr }) => ({ code, warning: /propagation\b.*\bnot supported/i.test(stderr), inside: stdout.trim() }),
    ROOT_SHARED ? 'the host\'s / is shared here' : undefined,
  ),
);

// ---- -p grammar: the same accept/refuse verdict ------------------------------------------------------------

/**
 * `-p SPEC` at start (P is a free port): accepted when COMMAND runs and the launcher exits 0. RootlessKit's
 * parent publishes the ports while COMMAND already runs: COMMAND lingers so that it is still there when the
 * parent reaches the child's socket, and a spec only the driver refuses (sctp) lets COMMAND run, then exits 1.
 */
function specRow(spec: string, verdict: 'accepted' | 'refused'): Case {
  const flags = ['--net=none', '--port-driver=builtin'];
  return {
    name: `-p ${spec}: ${verdict}`,
    expected: verdict,
    observe: async (subject, note) => {
      const port = await freePort('::');
      const { code, stdout, stderr } = await runToEnd(subject, [...flags, '-p', spec.replace('P', String(port))], sh('echo ran; sleep 0.5'));
      note(`exit ${code}, stdout ${JSON.stringify(stdout)}, stderr ${JSON.stringify(stderr.replace(/^time=.* level=warning .*\n/gm, ''))}`);
      return code === 0 && stdout === 'ran\n' ? 'accepted' : 'refused';
    },
  };
}

// Parent port 0 and port ranges are nsgate's extensions (RootlessKit v2.3.4 refuses both): ports-beyond.test.ts
// covers them, and spec.test.ts marks them as extensions.
const SPEC_ROWS: Case[] = [
  ...[
    '127.0.0.1:P:80/tcp',
    ':P:80/tcp',
    '[::1]:P:80/tcp6',
    '[127.0.0.1]:P:80/tcp',
    '[::]:P:[127.0.0.1]:80/tcp6',
    '127.0.0.1:P:[::1]:80/tcp',
    '127.0.0.1:P:10.0.2.100:80/udp',
    '127.0.0.1:+P:80/tcp',
    '[::1]:P:[]:80/tcp',
  ].map((spec) => specRow(spec, 'accepted')),
  ...[
    'P:80/tcp',
    '127.0.0.1:P:80',
    '127.0.0.1:P:80/',
    '127.0.0.1:P:80/bogus',
    '127.0.0.1:P:80/TCP',
    '127.0.0.1:65536:80/tcp',
    '127.0.0.1:-1:80/tcp',
    '127.0.0.1:P:0/tcp',
    '127.0.0.1:P:65536/tcp',
    '127.0.0.1::80/tcp',
    '127.0.0.1:P:/tcp',
    'localhost:P:80/tcp',
    '1.2.3.4.5:P:80/tcp',
    '::1:P:80/tcp6',
    '[127.0.0.1:P:80/tcp',
    '127.0.0.1:P:80:90/tcp',
    '127.0.0.1:P:80/sctp',
  ].map((spec) => specRow(spec, 'refused')),
];

// ---- the table ---------------------------------------------------------------------------------------------

const TABLE: Record<string, Case[]> = {
  'exit status': EXIT_ROWS,
  'signals sent to child_pid': CHILD_SIGNAL_ROWS,
  'state dir': [RESTART_ROW],
  'port matrix (rootlessctl add-ports)': PORT_ROWS,
  'rootlessctl info and list-ports shapes': SHAPE_ROWS,
  'inside the namespaces': [COPY_UP_ROW, ...SYSFS_ROWS, ...PROPAGATION_ROWS],
  '-p grammar': SPEC_ROWS,
};

describe('parity with RootlessKit', { skip: peer ? false : NO_PEER }, () => {
  after(() => sessions.stopAll());

  test('the reference peer', (t) => {
    t.diagnostic(describePeer(peer!));
  });

  for (const [group, rows] of Object.entries(TABLE)) {
    describe(group, () => {
      for (const row of rows) {
        describe(row.name, { skip: row.skip ?? false }, () => {
          for (const subject of SUBJECTS) {
            test(subject.name, { skip: subject.skip ?? false }, async (t) => {
              const seen = await row.observe(subject, (text) => t.diagnostic(text));
              t.diagnostic(JSON.stringify(seen));
              assert.deepEqual(seen, row.expected);
            });
          }
        });
      }
    });
  }
});
