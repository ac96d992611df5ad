/**
 * Installed as a user installs it: `npm pack` in a copy of the checkout (its prepack builds), `npm install -g` of
 * the tarball into a temporary prefix, `nsgate --version`, `nsgate-shims DIR`, Debian's Docker 20.10 rootless
 * started by dockerd-rootless.sh that finds nsgate through the shims on its PATH, then `nsgate-shims --remove`
 * and the real RootlessKit found again.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SHIMS } from '../../src/shims/plan.js';
import { ROOTLESSKIT_VERSION, VERSION } from '../../src/version.js';
import { DOCKER_USER, firstBody, missingForDocker, RootlessDocker, SYSTEM_PATH, writeImageTarball } from './docker-rootless.js';
import { asUser, freePort, IS_ROOT, sha256, TEST_USER, userEnv } from './harness.js';

const execFileAsync = promisify(execFile);

/** The checkout this build came from (dist/test/e2e/ is three levels below it). */
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const REAL_ROOTLESSKIT = '/usr/bin/rootlesskit';
const IMAGE = 'nsgate-e2e-install';
/** npm as from a shell: without the npm_* variables an `npm test` run passes down to its scripts. */
const NPM_ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')));

function missing(): string | undefined {
  const docker = missingForDocker();
  if (docker) return docker;
  if (!existsSync(REAL_ROOTLESSKIT)) return `not installed: ${REAL_ROOTLESSKIT} (package rootlesskit)`;
  if (spawnSync('git', ['-C', ROOT, 'rev-parse'], { stdio: 'ignore' }).status !== 0) return `${ROOT} is not a git checkout (the test packs its files)`;
  return undefined;
}
const notHere = IS_ROOT ? missing() : undefined;
const skip = !IS_ROOT
  ? `needs root: Docker runs as the test user ${DOCKER_USER}, whom only root can create`
  : notHere && process.env.CI !== 'true'
    ? `${notHere} (sudo .ci/run installs what is missing)`
    : false;

/** `cmd ARGS` (as `user` when given); rejects with its output when it fails. */
async function run(cmd: string, args: string[], opts: { cwd?: string; user?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ stdout: string; stderr: string }> {
  const [file, argv] = opts.user ? asUser(cmd, args, opts.user) : [cmd, args];
  try {
    return await execFileAsync(file, argv, { cwd: opts.cwd ?? '/', env: opts.env ?? process.env, timeout: 120_000, maxBuffer: 16 << 20 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.message}\nstdout: ${e.stdout}\nstderr: ${e.stderr}`);
  }
}

/** The checkout's files as a fresh clone would have them, plus new ones not yet committed (not the ignored dist/). */
function copyCheckout(to: string): void {
  const listed = spawnSync('git', ['-C', ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`git ls-files: ${listed.stderr}`);
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    if (!existsSync(join(ROOT, file))) continue; // deleted, not yet committed
    mkdirSync(dirname(join(to, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(to, file));
  }
  // prepack's tsc and @types/node, as `npm ci` would install them.
  symlinkSync(join(ROOT, 'node_modules'), join(to, 'node_modules'));
}

describe('npm install -g of the packed tarball, then Docker rootless through nsgate-shims', { skip, timeout: 240_000 }, () => {
  /** 0755, root's: src/ (the copy packed), pack/ (the tarball), prefix/ (the install), shims/. */
  let dir = '';
  let prefix = '';
  let shims = '';
  /** Where the installed nsgate.js, nsgatectl.js and nsgate-shims.js are. */
  let installed = '';
  let tarball = '';
  let installOutput = { stdout: '', stderr: '' };
  let docker: RootlessDocker | undefined;

  before(async () => {
    if (notHere) throw new Error(`CI=true, and this test cannot run here: ${notHere}`);
    dir = mkdtempSync('/tmp/nsgate-install-');
    chmodSync(dir, 0o755);
    prefix = join(dir, 'prefix');
    shims = join(dir, 'shims');
    installed = join(prefix, 'lib/node_modules/nsgate/dist/bundle');
    copyCheckout(join(dir, 'src'));
    mkdirSync(join(dir, 'pack'));
    await run('npm', ['pack', '--pack-destination', join(dir, 'pack')], { cwd: join(dir, 'src'), env: NPM_ENV });
    tarball = join(dir, 'pack', readdirSync(join(dir, 'pack')).find((f) => f.endsWith('.tgz'))!);
    // koffi comes from npm's cache, where `npm ci` left it.
    installOutput = await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--no-update-notifier', tarball], { env: NPM_ENV });
    spawnSync('chmod', ['-R', 'a+rX', prefix]); // whatever root's umask: the test users run it
  });

  after(async () => {
    try {
      if (docker) await docker.shutDown();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the package holds the built program and its package.json, and nothing else', async () => {
    const entries = (await run('tar', ['-tzf', tarball])).stdout.trim().split('\n').sort();
    // One bundle per program (with its source map) and the package.json that says they are CommonJS.
    assert.deepEqual(entries.filter((e) => !/^package\/dist\/bundle\/[^/]+\.js(\.map)?$/.test(e)), ['package/README.md', 'package/dist/bundle/package.json', 'package/package.json']);
    for (const cli of ['nsgate.js', 'nsgatectl.js', 'nsgate-shims.js']) assert.ok(entries.includes(`package/dist/bundle/${cli}`), cli);
    // npm warns of nothing but koffi's install script, which no policy approved (see the README).
    const warnings = installOutput.stderr.split('\n').filter((line) => /^npm (warn|WARN)/.test(line) && !/^npm warn install-scripts/.test(line));
    assert.deepEqual(warnings, [], installOutput.stderr);
    const scripted = [...installOutput.stderr.matchAll(/^npm warn install-scripts +(\S+)@\S+ \(/gm)].map((m) => m[1]);
    assert.ok(scripted.every((name) => name === 'koffi'), installOutput.stderr);
  });

  test('nsgate and nsgatectl on PATH print their versions as the test user', async () => {
    const env = userEnv(TEST_USER, { PATH: `${prefix}/bin:${dirname(process.execPath)}:${SYSTEM_PATH}` });
    assert.equal((await run('nsgate', ['--version'], { user: TEST_USER, env })).stdout, `rootlesskit version ${ROOTLESSKIT_VERSION} (nsgate ${VERSION})\n`);
    assert.equal((await run('nsgatectl', ['--version'], { user: TEST_USER, env })).stdout, `nsgatectl version ${VERSION}\n`);
  });

  test('nsgate-shims writes shims that run the installed nsgate', async () => {
    const { stdout } = await run(join(prefix, 'bin/nsgate-shims'), [shims]);
    spawnSync('chmod', ['a+rx', shims]); // made under root's umask; nsgdocker runs the shims
    assert.match(stdout, new RegExp(`Put ${shims} first on PATH`));
    assert.deepEqual(readdirSync(shims).sort(), SHIMS.map((s) => s.name).sort());
    for (const { name, runs } of SHIMS) assert.ok(readFileSync(join(shims, name), 'utf8').includes(`'${join(installed, runs)}' "$@"`), name);
  });

  test('dockerd-rootless.sh runs dockerd in the installed nsgate, which publishes docker run -p', async () => {
    const payload = randomBytes(256 << 10);
    const port = await freePort('127.0.0.1');
    docker = new RootlessDocker(shims);
    assert.match(await docker.ready(), /^20\.10\./, 'the daemon is Debian\'s docker.io');
    const cmdline = readFileSync(`/proc/${docker.proc.pid}/cmdline`, 'utf8').split('\0');
    assert.equal(cmdline[1], join(installed, 'nsgate.js'), 'the script exec\'ed docker-rootlesskit, which exec\'ed the installed nsgate');
    await docker.docker('import', writeImageTarball(docker.dir, payload), IMAGE);
    await docker.docker('run', '-d', '--stop-timeout=1', '-p', `127.0.0.1:${port}:80`, IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www');
    assert.equal(sha256(await firstBody('127.0.0.1', port)), sha256(payload));
    // What the README tells a user to run to see that it is nsgate: rootlessctl (the shim) and docker info.
    const info = await docker.runAsUser(join(shims, 'rootlessctl'), ['--socket', join(docker.stateDir(), 'api.sock'), 'info']);
    assert.match(info, new RegExp(`^- Implementation version: ${VERSION.replaceAll('.', '\\.')}$`, 'm'), info);
    docker.proc.kill('SIGTERM');
    assert.deepEqual(await docker.proc.exited(60_000), { code: 0, signal: null }, docker.logTail());
  });

  test('nsgate-shims --remove gives the real RootlessKit back to the scripts', async () => {
    const { stdout } = await run(join(prefix, 'bin/nsgate-shims'), [shims, '--remove']);
    assert.equal(stdout, SHIMS.map((s) => `${join(shims, s.name)}: removed\n`).join(''));
    assert.deepEqual(readdirSync(shims), []);
    // dockerd-rootless.sh takes the first of docker-rootlesskit and rootlesskit that `command -v` finds.
    const found = (name: string) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8', env: { PATH: `${shims}:${SYSTEM_PATH}` } }).stdout.trim();
    assert.equal(found('docker-rootlesskit'), '');
    assert.equal(found('rootlesskit'), REAL_ROOTLESSKIT);
  });
});
