/**
 * Docker 20.10 rootless (Debian's docker.io) run with nsgate as its `rootlesskit`, for the end-to-end test:
 * the daemon as the dedicated user nsgdocker in throwaway directories, its client, an image made without a
 * registry, and the user's processes (to prove none is left, and to kill them if a test failed).
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parseSubIdFile } from '../../src/parent/idmap.js';
import { udpAsk } from './clients.js';
import { asUser, descendants, eventually, IS_ROOT, NSGATE, Proc, procFiles, startAsUser, userEnv, userId } from './harness.js';
import { referencePeer } from './peers.js';

const execFileAsync = promisify(execFile);

export const DOCKER_USER = 'nsgdocker';
const DOCKERD_ROOTLESS = '/usr/share/docker.io/contrib/dockerd-rootless.sh';
/** The 20.10 client, to match the daemon (the machine may have a newer one earlier on PATH). */
const DOCKER = '/usr/bin/docker';
const BUSYBOX = '/bin/busybox';
const SOCAT = '/usr/bin/socat';
/**
 * The daemon's PATH after nsgate's wrapper: Debian's dockerd, containerd, runc, docker-proxy and
 * rootlesskit-docker-proxy. Not /usr/local/bin, where a different Docker may live.
 */
export const SYSTEM_PATH = '/usr/bin:/usr/sbin:/bin:/sbin';
/** The reference's rootlessctl when it was built here, else Debian's (test/e2e/peers.ts). */
export const ROOTLESSCTL = referencePeer()?.rootlessctl ?? '/usr/bin/rootlessctl';

/** What this test needs that is not installed (CI's .ci/run installs it all), or undefined. */
export function missingForDocker(): string | undefined {
  const needed: [string, string][] = [
    [DOCKERD_ROOTLESS, 'docker.io'],
    [DOCKER, 'docker.io'],
    ['/usr/bin/rootlesskit-docker-proxy', 'rootlesskit'],
    [ROOTLESSCTL, 'rootlesskit'],
    [BUSYBOX, 'busybox-static'],
    [SOCAT, 'socat'],
  ];
  const missing = needed.filter(([path]) => !existsSync(path));
  return missing.length === 0 ? undefined : `not installed: ${missing.map(([path, pkg]) => `${path} (package ${pkg})`).join(', ')}`;
}

/** Why a Docker test file is skipped here, or false; with CI=true what is missing fails the file instead (in its `before`). */
export function dockerTestSkip(missing: string | undefined): string | false {
  if (!IS_ROOT) return `needs root: Docker runs as the test user ${DOCKER_USER}, whom only root can create`;
  return missing && process.env.CI !== 'true' ? `${missing} (sudo .ci/run installs them)` : false;
}

/** nsgdocker's uid and its sub-uids: every uid a process of its daemon or containers can have on the host. */
function dockerUids(): (uid: number) => boolean {
  const { uid } = userId(DOCKER_USER);
  const ranges = parseSubIdFile(readFileSync('/etc/subuid', 'utf8'), DOCKER_USER, uid);
  return (u) => u === uid || ranges.some((r) => u >= r.start && u < r.start + r.count);
}

/** Running processes (zombies aside) of nsgdocker or of its sub-uids, with their command names. */
export function dockerUserProcesses(): { pid: number; comm: string }[] {
  const ours = dockerUids();
  return procFiles('status')
    .filter(({ text }) => ours(Number(/^Uid:\s+(\d+)/m.exec(text)?.[1])) && /^State:\s+(\S)/m.exec(text)?.[1] !== 'Z')
    .map(({ pid, text }) => ({ pid, comm: /^Name:\s+(.*)$/m.exec(text)?.[1] ?? '?' }));
}

/** The last resort after a failure: SIGKILL every process of nsgdocker and its sub-uids, one by one. */
export function killDockerUserProcesses(): void {
  for (const { pid } of dockerUserProcesses()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** `binary` and the shared libraries it loads (none for a static one), copied to the same paths under `root`. */
function copyWithLibraries(binary: string, root: string, as = binary): void {
  const copy = (from: string, to: string) => {
    mkdirSync(dirname(join(root, to)), { recursive: true });
    copyFileSync(from, join(root, to));
  };
  copy(binary, as);
  // ldd prints "name => /path (0x...)" and "/path (0x...)"; a static binary: "not a dynamic executable".
  const ldd = spawnSync('ldd', [binary], { encoding: 'utf8' }).stdout;
  for (const [, lib] of ldd.matchAll(/(\/\S+) \(0x[0-9a-f]+\)/g)) copy(lib!, lib!);
}

/**
 * An image tarball for `docker import`: busybox (sh, httpd), socat (busybox's nc has no UDP) with its
 * libraries, `payload` as /www/payload, and the `programs` given (with their libraries, at their host paths).
 */
export function writeImageTarball(dir: string, payload: Buffer, programs: readonly string[] = []): string {
  const root = join(dir, 'rootfs');
  copyWithLibraries(BUSYBOX, root, '/bin/busybox');
  for (const applet of ['sh', 'httpd']) symlinkSync('busybox', join(root, 'bin', applet));
  copyWithLibraries(SOCAT, root, '/bin/socat');
  for (const program of programs) copyWithLibraries(program, root);
  mkdirSync(join(root, 'www'));
  writeFileSync(join(root, 'www/payload'), payload);
  const tarball = join(dir, 'image.tar');
  const tar = spawnSync('tar', ['-C', root, '-cf', tarball, '.'], { encoding: 'utf8' });
  if (tar.status !== 0) throw new Error(`tar: ${tar.stderr}`);
  chmodSync(tarball, 0o644);
  return tarball;
}

/** The daemon: dockerd-rootless.sh as nsgdocker, with nsgate first on PATH as `rootlesskit`. */
export class RootlessDocker {
  /** A 0755 directory of root's: bin/ (the wrapper), and the user's runtime/ and home/ (removed at cleanup). */
  readonly dir = mkdtempSync('/tmp/nsgate-docker-');
  readonly runtimeDir = join(this.dir, 'runtime');
  readonly home = join(this.dir, 'home');
  readonly proc: Proc;

  /**
   * `shimDir`: the directory put first on the script's PATH, where it finds its `rootlesskit` (nsgate-shims'
   * shims of an installed nsgate); by default one with a wrapper that runs the e2e build of nsgate.
   * `env`: more of the script's environment (DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER, ..._FLAGS).
   */
  constructor(shimDir?: string, env: Record<string, string> = {}) {
    chmodSync(this.dir, 0o755);
    const bin = shimDir ?? join(this.dir, 'bin');
    if (!shimDir) {
      mkdirSync(bin);
      writeFileSync(join(bin, 'rootlesskit'), `#!/bin/sh\nexec ${process.execPath} ${NSGATE} "$@"\n`, { mode: 0o755 });
    }
    const { uid, gid } = userId(DOCKER_USER);
    for (const dir of [this.runtimeDir, this.home]) {
      mkdirSync(dir, { mode: 0o700 });
      chownSync(dir, uid, gid);
    }
    // No dockerd flags: this kernel lets overlay2 work in a user namespace, iptables works in the
    // namespace's own netns, and without systemd the daemon runs without cgroup limits (a warning).
    this.proc = startAsUser(DOCKERD_ROOTLESS, [], {
      user: DOCKER_USER,
      env: { ...env, PATH: `${bin}:${SYSTEM_PATH}`, HOME: this.home, XDG_RUNTIME_DIR: this.runtimeDir },
    });
  }

  /** Wait until the daemon serves its API, and return its version; fails at once if the script exits. */
  async ready(ms = 90_000): Promise<string> {
    let exited = false;
    void this.proc.exit.then(() => (exited = true));
    try {
      await eventually('docker.sock', () => {
        if (exited) throw new Error('dockerd-rootless.sh exited');
        return existsSync(join(this.runtimeDir, 'docker.sock'));
      }, ms);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.logTail()}`);
    }
    return (await this.docker('version', '--format', '{{.Server.Version}}')).trim();
  }

  /** The environment a client of this daemon gets. */
  private clientEnv(): NodeJS.ProcessEnv {
    return userEnv(DOCKER_USER, { HOME: this.home, XDG_RUNTIME_DIR: this.runtimeDir, DOCKER_HOST: `unix://${this.runtimeDir}/docker.sock` });
  }

  /** Run a program as nsgdocker with the client environment; rejects with its output when it fails. */
  async runAsUser(cmd: string, args: string[], timeout = 60_000): Promise<string> {
    const [file, argv] = asUser(cmd, args, DOCKER_USER);
    try {
      return (await execFileAsync(file, argv, { env: this.clientEnv(), timeout, cwd: '/', maxBuffer: 16 << 20 })).stdout;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`${cmd} ${args.join(' ')}: ${e.message}\nstdout: ${e.stdout}\nstderr: ${e.stderr}\n${this.logTail()}`);
    }
  }

  /** `docker ARGS` with the 20.10 client. */
  docker(...args: string[]): Promise<string> {
    return this.runAsUser(DOCKER, args);
  }

  /** The last lines dockerd-rootless.sh, nsgate and dockerd printed, for failure messages. */
  logTail(lines = 40): string {
    return `daemon output (last ${lines} lines):\n${(this.proc.stdout + this.proc.stderr).split('\n').slice(-lines).join('\n')}`;
  }

  /** dockerd's pid, once nsgate has started it. */
  dockerdPid(): number | undefined {
    return descendants(this.proc.pid).find((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'dockerd';
      } catch {
        return false;
      }
    });
  }

  /** The state dir nsgate gave its COMMAND (dockerd-rootless.sh of 20.10 passes no --state-dir). */
  stateDir(): string {
    const environ = readFileSync(`/proc/${this.dockerdPid()}/environ`, 'utf8').split('\0');
    const dir = environ.find((v) => v.startsWith('ROOTLESSKIT_STATE_DIR='))?.slice('ROOTLESSKIT_STATE_DIR='.length);
    if (!dir) throw new Error(`dockerd has no ROOTLESSKIT_STATE_DIR in its environment\n${this.logTail()}`);
    return dir;
  }

  /** Remove the directories (the daemon must be gone: its files belong to the user and its sub-uids). */
  removeDirs(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * For a test file's `after`: SIGTERM to the script if it still runs, then, the last resort when a test failed,
   * SIGKILL to whatever of the user's is left (again and again, in case a dying daemon started something
   * meanwhile), and the directories removed.
   */
  async shutDown(): Promise<void> {
    try {
      if (this.proc.child.exitCode === null && this.proc.child.signalCode === null) {
        this.proc.kill('SIGTERM');
        await this.proc.exited(30_000).catch(() => undefined);
      }
    } finally {
      await eventually(`no process of ${DOCKER_USER}`, () => {
        killDockerUserProcesses();
        return dockerUserProcesses().length === 0;
      }, 10_000);
      this.removeDirs();
    }
  }
}

/** The body of GET /payload, or the error. */
export function httpGet(host: string, port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = get({ host, port, path: '/payload', agent: false, timeout: 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on ${host}:${port}`)));
    req.on('error', reject);
  });
}

/** The first full answer from a server that has just been started (its proxy and httpd come up after `docker run` returns). */
export async function firstBody(host: string, port: number): Promise<Buffer> {
  let body: Buffer | undefined;
  await eventually(`an HTTP answer at ${host} port ${port}`, async () => {
    body = await httpGet(host, port).catch(() => undefined);
    return body !== undefined;
  }, 20_000);
  return body!;
}

/** One datagram echoed through a published UDP port, once the container's proxy and server are up; the question and the reply. */
export async function firstUdpEcho(host: string, port: number): Promise<{ question: string; reply: string }> {
  const question = randomBytes(700).toString('hex');
  let reply = '';
  await eventually('a UDP echo', async () => {
    reply = (await udpAsk(host, port, question).catch(() => ({ reply: '' }))).reply;
    return reply !== '';
  }, 20_000);
  return { question, reply };
}
