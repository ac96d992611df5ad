/** `nsgate-shims DIR [--force] [--remove]`: writes or removes the shims (src/shims/plan.ts) in DIR. */
import { chmodSync, closeSync, lstatSync, openSync, readlinkSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

import { UserError, errorMessage } from '../errors.js';
import { makeDirs } from '../make-dirs.js';
import { parseShimsArgs, planShims, SHIMS, shimScript, isShim, USAGE, type Existing, type Step } from './plan.js';

export interface ShimsIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Absolute path of the node that runs nsgate (process.execPath). */
  node: string;
  /** The directory of nsgate.js and nsgatectl.js. */
  cliDir: string;
}

const HELP = `Usage: ${USAGE}

Writes into DIR small sh scripts named as RootlessKit's executables that run this nsgate, so that scripts
looking for them on PATH (Docker's dockerd-rootless.sh and dockerd-rootless-setuptool.sh, nerdctl's
containerd-rootless.sh and containerd-rootless-setuptool.sh) run nsgate once DIR is first on their PATH:
${SHIMS.map(({ name, runs }) => `  ${name.padEnd(20)}runs ${runs.replace('.js', '')}`).join('\n')}
DIR is created if missing. A file there that is not an nsgate shim (a real RootlessKit) stops the command
before anything is written.

Flags:
  --force    replace files that are not nsgate shims (a real RootlessKit in DIR is lost)
  --remove   delete the nsgate shims in DIR, and nothing else
  --help     show this help
`;

/** Runs nsgate-shims; returns its exit status (1 with `nsgate-shims: error: …` on stderr when it refuses or fails). */
export function runShims(argv: readonly string[], io: ShimsIo): number {
  try {
    const cmd = parseShimsArgs(argv);
    if (cmd.kind === 'help') {
      io.stdout.write(HELP);
      return 0;
    }
    const dir = resolve(cmd.dir);
    const steps = planShims({ ...cmd, dir }, inspect);
    if (cmd.kind === 'write') writeShims(dir, steps, io);
    else removeShims(dir, steps, io);
    return 0;
  } catch (err) {
    io.stderr.write(`nsgate-shims: error: ${errorMessage(err)}\n`);
    return 1;
  }
}

/** What is at `path`, read without following a symlink. */
function inspect(path: string): Existing {
  let stat;
  try {
    stat = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw new UserError(`cannot look at ${path}: ${errorMessage(err)}`);
  }
  if (stat.isSymbolicLink()) return { kind: 'foreign', what: `a symlink to ${readlinkSync(path)}` };
  if (stat.isDirectory()) return { kind: 'unreplaceable', what: 'a directory' };
  if (!stat.isFile()) return { kind: 'unreplaceable', what: 'neither a file nor a symlink' };
  let head: Buffer;
  try {
    head = readHead(path, 256);
  } catch (err) {
    return { kind: 'foreign', what: `a file nsgate-shims cannot read: ${errorMessage(err)}` };
  }
  if (isShim(head.toString('latin1'))) return { kind: 'shim' };
  return { kind: 'foreign', what: describeFile(head, stat.size) };
}

function readHead(path: string, bytes: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    return buf.subarray(0, readSync(fd, buf, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

function describeFile(head: Buffer, size: number): string {
  if (head.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1'))) return `an ELF executable of ${size} bytes`;
  if (head.subarray(0, 2).toString('latin1') === '#!') return `a script: ${head.toString('latin1').split('\n')[0]}`;
  return `a file of ${size} bytes`;
}

/**
 * Each shim goes to a temporary name in DIR first, then all are renamed into place: a shim is never seen half
 * written, and a failure while writing leaves DIR as it was.
 */
function writeShims(dir: string, steps: Step[], io: ShimsIo): void {
  const pending: { tmp: string; path: string }[] = [];
  try {
    makeDirs(dir, 0o755);
    for (const step of steps) {
      if (step.action !== 'write') continue;
      const tmp = join(dir, `.${basename(step.path)}.nsgate-shims-${process.pid}`);
      writeFileSync(tmp, shimScript(io.node, join(io.cliDir, step.runs)), { flag: 'wx' });
      pending.push({ tmp, path: step.path });
      // 0755 whatever the umask (it filters writeFileSync's mode): a service may run as another user than the writer.
      chmodSync(tmp, 0o755);
    }
    for (const { tmp, path } of pending) renameSync(tmp, path);
  } catch (err) {
    throw new UserError(`cannot write the shims in ${dir}: ${errorMessage(err)}`);
  } finally {
    for (const { tmp } of pending) rmSync(tmp, { force: true });
  }
  for (const step of steps) {
    if (step.action !== 'write') continue;
    const replaced = step.replaces ? ` (replaced ${step.replaces})` : '';
    io.stdout.write(`${step.path}: runs ${io.node} ${join(io.cliDir, step.runs)}${replaced}\n`);
  }
  io.stdout.write(`Put ${dir} first on PATH for Docker's and nerdctl's rootless scripts to run nsgate.\n`);
}

function removeShims(dir: string, steps: Step[], io: ShimsIo): void {
  if (!steps.some((step) => step.action === 'remove')) io.stdout.write(`no nsgate shims in ${dir}\n`);
  for (const step of steps) {
    if (step.action === 'remove') {
      try {
        rmSync(step.path);
      } catch (err) {
        throw new UserError(`cannot remove ${step.path}: ${errorMessage(err)}`);
      }
      io.stdout.write(`${step.path}: removed\n`);
    } else if (step.action === 'leave') {
      io.stdout.write(`${step.path}: left alone, ${step.why}\n`);
    }
  }
}
