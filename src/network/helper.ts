import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, rm, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { UserError, errorMessage } from '../errors.js';
import { stopWithGrace } from '../stop.js';
import type { NetworkAddresses } from './addresses.js';
import type { NetworkContext, RunningNetwork } from './driver.js';

export const TUN_DEVICE = '/dev/net/tun';
const READY_TIMEOUT_MS = 10_000;
const TAIL_LINES = 10;

/** How to run one network helper process; everything else (output, death, stop) is shared. */
export interface HelperSpec {
  /** `slirp4netns` or `pasta`: the driver name in messages and in `info`. */
  name: string;
  /** Command and arguments. */
  argv: string[];
  /** Pipes to open as fds 3, 4, ... of the helper. */
  extraPipes: number;
  addresses: NetworkAddresses;
  /** Resolves once the helper says the interface is configured; `signal` aborts when startup is decided. */
  waitReady(proc: ChildProcess, signal: AbortSignal): Promise<void>;
  /** Asks the helper to exit cleanly. */
  requestExit(proc: ChildProcess): void;
  /** Files the helper leaves behind, removed by stop(). */
  files: string[];
  /** Output lines not worth showing. */
  noise?: RegExp;
}

/** `args` if `cond`, else nothing: for optional flags in an argument list. */
export function when(cond: boolean, ...args: string[]): string[] {
  return cond ? args : [];
}

/** The path of an executable `binary` (a name looked up in PATH, or a path); a UserError naming the package (and `flag`, which sets the path) if there is none. */
export async function findHelper(binary: string, debianPackage: string, flag?: string): Promise<string> {
  const candidates = binary.includes('/')
    ? [binary]
    : (process.env['PATH'] ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, binary));
  for (const candidate of candidates) {
    if (await isExecutableFile(candidate)) return candidate;
  }
  throw new UserError(
    `${binary} is not installed (not found${binary.includes('/') ? '' : ' in PATH'}): ` +
      `install the Debian package "${debianPackage}" (apt-get install ${debianPackage})${flag ? `, or point ${flag} at it` : ''}`,
  );
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** slirp4netns and pasta open the tun device as this user: say how to fix it before they fail obscurely. */
export async function assertTunUsable(driver: string, device = TUN_DEVICE): Promise<void> {
  try {
    await access(device, constants.R_OK | constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new UserError(`--net=${driver} needs ${device}, which does not exist: load the tun module (modprobe tun)`);
    }
    throw new UserError(
      `--net=${driver} needs ${device} readable and writable by this user (${code ?? errorMessage(err)}): ` +
        `make it 0666 as distros ship it: sudo chmod 0666 ${device}`,
    );
  }
}

/** Starts the helper and waits until it has configured the interface; on failure it is stopped and cleaned up. */
export async function startHelper(ctx: NetworkContext, spec: HelperSpec): Promise<RunningNetwork> {
  ctx.debug(`network: running ${spec.argv.join(' ')}`);
  const [command, ...args] = spec.argv;
  const proc = spawn(command!, args, {
    stdio: ['ignore', 'pipe', 'pipe', ...Array<'pipe'>(spec.extraPipes).fill('pipe')],
    // A session of its own: a Ctrl-C (or `timeout`) aimed at nsgate's process group must not kill the helper
    // under COMMAND; nsgate stops it itself, and it dies with nsgate (exit fd, parent-death signal).
    detached: true,
  });
  const tail = collectOutput(proc, spec, ctx.debug);
  const exited = exitReason(proc, spec.name, tail);

  let stopping = false;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      stopping = true;
      await stopWithGrace(() => spec.requestExit(proc), () => proc.kill('SIGKILL'), exited);
      await Promise.all(spec.files.map((file) => rm(file, { force: true })));
    })());

  try {
    await waitReady(proc, spec, exited);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    info: { driver: spec.name, dns: [spec.addresses.dns], childIP: spec.addresses.childIP },
    // A helper we stopped did not die: leave `died` pending.
    died: exited.then((reason) => (stopping ? new Promise<never>(() => {}) : reason)),
    stop,
  };
}

async function waitReady(proc: ChildProcess, spec: HelperSpec, exited: Promise<string>): Promise<void> {
  const startup = new AbortController();
  try {
    await Promise.race([
      spec.waitReady(proc, startup.signal),
      exited.then((reason) => {
        throw new Error(`${spec.name} failed to set up the network: ${reason}`);
      }),
      delay(READY_TIMEOUT_MS, undefined, { signal: startup.signal }).then(() => {
        throw new Error(`${spec.name} did not set up the network within ${READY_TIMEOUT_MS / 1000} s`);
      }),
    ]);
  } finally {
    startup.abort();
  }
}

/** Forwards the helper's output to `debug` and keeps its last lines for error messages. */
function collectOutput(proc: ChildProcess, spec: HelperSpec, debug: (msg: string) => void): () => string {
  const lines: string[] = [];
  for (const stream of [proc.stdout, proc.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      if (!line.trim() || spec.noise?.test(line)) return;
      debug(`${spec.name}: ${line}`);
      lines.push(line);
      if (lines.length > TAIL_LINES) lines.shift();
    });
  }
  return () => lines.join('\n');
}

/** Resolves, once the helper is gone and its output read, with how it ended. */
function exitReason(proc: ChildProcess, name: string, tail: () => string): Promise<string> {
  // Our ends of the extra pipes would otherwise keep 'close' from ever firing.
  proc.once('exit', () => proc.stdio.slice(3).forEach((pipe) => pipe?.destroy()));
  return new Promise((resolve) => {
    proc.once('error', (err) => resolve(`${name} could not be run: ${err.message}`));
    proc.once('close', (code, signal) => {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const output = tail();
      resolve(`${name} ${how}${output ? `:\n${output}` : ' (no output)'}`);
    });
  });
}
