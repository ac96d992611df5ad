// The network drivers against real namespaces and real helpers, run as the unprivileged user `nsgtest`.
// This file is also the driver runner: started as nsgtest with RUNNER_ENV set, it starts a driver against
// an `unshare`d sleeper, prints what it sees inside as one JSON line, and stops.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../src/errors.js';
import type { LaunchOptions } from '../../src/options.js';
import { networkAddresses } from '../../src/network/addresses.js';
import { parseLaunchArgs } from '../../src/cli/launch-flags.js';
import { networkDriver, type RunningNetwork } from '../../src/network/driver.js';
import { assertTunUsable } from '../../src/network/helper.js';
import { running } from './harness.js';

const RUNNER_ENV = 'NSGATE_NETWORK_RUNNER';
const TEST_USER = 'nsgtest';
type HelperName = 'slirp4netns' | 'pasta';

/** What the test asks the runner to do; `then` is what happens once the network is up. */
interface RunnerRequest {
  driver: HelperName;
  options?: Partial<LaunchOptions>;
  then: 'stop' | 'kill-helper' | 'hang';
}

/** What the runner saw. */
interface RunnerReport {
  info: RunningNetwork['info'];
  helperPids: number[];
  sleeperPid: number;
  stateDir: string;
  /** `ip -j addr show IFNAME` inside */
  link: { ifname: string; mtu: number; addr_info: { family: string; local: string; prefixlen: number }[] };
  /** `ip -j route` inside */
  routes: { dst: string; gateway?: string; dev: string }[];
  filesBeforeStop: Record<string, boolean>;
  filesAfterStop?: Record<string, boolean>;
  helpersAliveAfterStop?: number[];
  diedReason?: string;
}

/** The options `nsgate --net=slirp4netns --disable-host-loopback true` gives, with overrides. */
function launchOptions(overrides: Partial<LaunchOptions> = {}): LaunchOptions {
  const cmd = parseLaunchArgs(['--net=slirp4netns', '--disable-host-loopback', 'true']);
  if (cmd.kind !== 'run') throw new Error(`unexpected ${cmd.kind}`);
  return { ...cmd.options, ...overrides };
}

// ---------------------------------------------------------------- runner (as nsgtest)

/** Our child processes other than `except`: the helper the driver started. */
function childPids(except: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name) && Number(name) !== except)
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** A `sleep` in new user + net + mount namespaces, once `unshare` has exec'd it. */
async function startSleeper(): Promise<ChildProcess & { pid: number }> {
  const sleeper = spawn('unshare', ['--user', '--map-root-user', '--net', '--mount', 'sleep', '60'], { stdio: 'ignore' });
  const pid = sleeper.pid;
  assert.ok(pid, 'unshare did not start');
  for (let i = 0; i < 250; i++) {
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep') return Object.assign(sleeper, { pid });
    await delay(20);
  }
  throw new Error('unshare did not exec sleep');
}

function inside(pid: number, ...command: string[]): unknown {
  const result = spawnSync('nsenter', ['--preserve-credentials', '-U', '-n', '-t', String(pid), ...command], {
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, `${command.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

async function runDriver(request: RunnerRequest): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'nsg-net-state-'));
  const sleeper = await startSleeper();
  try {
    const options = launchOptions({ net: request.driver, ...request.options });
    const files = [join(stateDir, request.driver === 'pasta' ? 'pasta.pid' : 'slirp4netns.sock')];
    const existing = (): Record<string, boolean> => Object.fromEntries(files.map((f) => [f, existsSync(f)]));
    const network = await networkDriver(request.driver)!.start({
      childPid: sleeper.pid,
      stateDir,
      options,
      debug: (msg) => process.stderr.write(`${msg}\n`),
    });
    const [link] = inside(sleeper.pid, 'ip', '-j', 'addr', 'show', options.ifname) as RunnerReport['link'][];
    const report: RunnerReport = {
      info: network.info,
      helperPids: childPids(sleeper.pid),
      sleeperPid: sleeper.pid,
      stateDir,
      link: link!,
      routes: inside(sleeper.pid, 'ip', '-j', 'route') as RunnerReport['routes'],
      filesBeforeStop: existing(),
    };
    if (request.then === 'hang') {
      process.stdout.write(`${JSON.stringify(report)}\n`);
      await new Promise(() => setInterval(() => {}, 60_000));
    }
    if (request.then === 'kill-helper') {
      report.helperPids.forEach((pid) => process.kill(pid, 'SIGKILL'));
      report.diedReason = await network.died;
    }
    await network.stop();
    report.filesAfterStop = existing();
    report.helpersAliveAfterStop = report.helperPids.filter(running);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    sleeper.kill('SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- tests (as root)

const canRunAsTestUser =
  process.getuid?.() === 0 && spawnSync('id', ['-u', TEST_USER]).status === 0
    ? true
    : `needs root and the user ${TEST_USER}`;

/** dist/ copied where nsgtest can read it (the repository may not be readable by others). */
let runnerDir = '';
let runnerScript = '';

function prepareRunner(): void {
  runnerDir = mkdtempSync(join(tmpdir(), 'nsg-net-test-'));
  chmodSync(runnerDir, 0o755);
  cpSync(fileURLToPath(new URL('../../', import.meta.url)), join(runnerDir, 'dist'), { recursive: true });
  writeFileSync(join(runnerDir, 'package.json'), '{"type":"module"}\n');
  runnerScript = join(runnerDir, 'dist', 'test', 'e2e', 'network-drivers.test.js');
}

function spawnRunner(request: RunnerRequest): ChildProcess {
  return spawn(
    'setpriv',
    [`--reuid=${TEST_USER}`, `--regid=${TEST_USER}`, '--init-groups', '--', process.execPath, runnerScript],
    {
      cwd: runnerDir,
      env: { PATH: process.env['PATH'], HOME: runnerDir, [RUNNER_ENV]: JSON.stringify(request) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

/** The runner's JSON line; with `then: 'hang'` it resolves while the runner keeps running. */
function runnerReport(runner: ChildProcess): Promise<RunnerReport> {
  let stdout = '';
  let stderr = '';
  runner.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    runner.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk;
      if (stdout.includes('\n')) resolve(JSON.parse(stdout.slice(0, stdout.indexOf('\n'))) as RunnerReport);
    });
    runner.on('close', (code) => reject(new Error(`runner exited with code ${code} before reporting:\n${stderr}`)));
  });
}

async function runAsTestUser(request: RunnerRequest): Promise<RunnerReport> {
  const runner = spawnRunner(request);
  const report = await runnerReport(runner);
  await new Promise((resolve) => runner.once('close', resolve));
  return report;
}

async function waitForDeath(pids: number[], ms: number): Promise<number[]> {
  for (const deadline = Date.now() + ms; Date.now() < deadline && pids.some(running); ) await delay(50);
  return pids.filter(running);
}

function assertConfigured(report: RunnerReport, driver: HelperName, cidr: string, mtu: number): void {
  const addresses = networkAddresses(cidr);
  assert.deepEqual(report.info, { driver, dns: [addresses.dns], childIP: addresses.childIP });
  assert.equal(report.link.ifname, 'tap0');
  assert.equal(report.link.mtu, mtu);
  const inet = report.link.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
  assert.deepEqual(inet, [`${addresses.childIP}/${addresses.prefix}`]);
  const defaultRoute = report.routes.find((r) => r.dst === 'default');
  assert.deepEqual(defaultRoute && { gateway: defaultRoute.gateway, dev: defaultRoute.dev }, {
    gateway: addresses.gateway,
    dev: 'tap0',
  });
}

function registerTests(): void {
  test('networkDriver has no helper for host and none', () => {
    assert.equal(networkDriver('host'), null);
    assert.equal(networkDriver('none'), null);
  });

  test('an unusable tun device is a UserError saying what to do', async () => {
    await assert.rejects(assertTunUsable('pasta', '/nonexistent/tun'), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /--net=pasta needs \/nonexistent\/tun/);
      return true;
    });
  });

  for (const [driver, debianPackage] of [
    ['slirp4netns', 'slirp4netns'],
    ['pasta', 'passt'],
  ] as const) {
    const binaryOption = driver === 'pasta' ? 'pastaBinary' : 'slirp4netnsBinary';

    describe(driver, () => {
      test('a missing binary names the Debian package', async () => {
        const options = launchOptions({ net: driver, [binaryOption]: `nsgate-no-such-${driver}` });
        await assert.rejects(
          networkDriver(driver)!.start({ childPid: 1, stateDir: tmpdir(), options, debug: () => {} }),
          (e: unknown) => e instanceof UserError && e.message.includes(`Debian package "${debianPackage}"`),
        );
      });

      test('a helper that exits before it is ready: the error has its exit code and output', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'nsg-net-fake-'));
        try {
          const fake = join(dir, driver);
          writeFileSync(fake, '#!/bin/sh\necho "fake helper refuses" >&2\nexit 3\n', { mode: 0o755 });
          const options = launchOptions({
            net: driver,
            [binaryOption]: fake,
            slirp4netnsSandbox: 'false',
            slirp4netnsSeccomp: 'false',
          });
          await assert.rejects(
            networkDriver(driver)!.start({ childPid: 1, stateDir: dir, options, debug: () => {} }),
            new RegExp(`^Error: ${driver} failed to set up the network: ${driver} exited with code 3:\\nfake helper refuses$`),
          );
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });

      describe(`as ${TEST_USER} against a new netns`, { skip: canRunAsTestUser === true ? false : canRunAsTestUser }, () => {
        before(prepareRunner);
        after(() => rmSync(runnerDir, { recursive: true, force: true }));

        test('configures tap0 = 10.0.2.100/24, MTU 65520, default via 10.0.2.2; stop() ends it and removes its files', async () => {
          const report = await runAsTestUser({ driver, then: 'stop' });
          assertConfigured(report, driver, '10.0.2.0/24', 65520);
          assert.equal(report.helperPids.length, 1, `one helper process: ${report.helperPids}`);
          assert.deepEqual(Object.values(report.filesBeforeStop), [true]);
          assert.deepEqual(Object.values(report.filesAfterStop ?? {}), [false]);
          assert.deepEqual(report.helpersAliveAfterStop, []);
        });

        test('a custom --cidr and --mtu', async () => {
          const options = { cidr: '10.99.0.0/24', mtu: 1500, disableHostLoopback: false };
          const report = await runAsTestUser({ driver, options, then: 'stop' });
          assertConfigured(report, driver, '10.99.0.0/24', 1500);
          assert.equal(report.info.childIP, '10.99.0.100');
        });

        test('died settles with the reason when the helper is killed', async () => {
          const report = await runAsTestUser({ driver, then: 'kill-helper' });
          assert.match(report.diedReason ?? '', new RegExp(`^${driver} was killed by SIGKILL`));
          assert.deepEqual(Object.values(report.filesAfterStop ?? {}), [false]);
        });

        test('the helper goes away when its parent is SIGKILLed', async () => {
          const runner = spawnRunner({ driver, then: 'hang' });
          const report = await runnerReport(runner);
          try {
            assert.deepEqual(report.helperPids.filter(running), report.helperPids);
            runner.kill('SIGKILL');
            assert.deepEqual(await waitForDeath(report.helperPids, 5_000), [], 'helper still running');
          } finally {
            runner.kill('SIGKILL');
            [report.sleeperPid, ...report.helperPids].filter(running).forEach((pid) => process.kill(pid, 'SIGKILL'));
            rmSync(report.stateDir, { recursive: true, force: true });
          }
        });
      });
    });
  }
}

const runnerRequest = process.env[RUNNER_ENV];
if (runnerRequest) await runDriver(JSON.parse(runnerRequest) as RunnerRequest);
else registerTests();
