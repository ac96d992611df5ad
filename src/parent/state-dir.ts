import { closeSync, lstatSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { makeDirs } from '../make-dirs.js';

/** The state dir: `api.sock`, `child_pid`, `lock` and the helpers' files. The user's alone (0700). */
export interface StateDir {
  path: string;
  file(name: string): string;
  /** Remove what nsgate put there (the whole dir if nsgate created it). */
  remove(): void;
}

const LOCK = 'lock';

/** Create or adopt the state dir and take its lock; throws UserError when it is unsafe or in use. */
export function openStateDir(requested: string | undefined): StateDir {
  const created = requested === undefined;
  const path = created ? mkdtempSync(join(process.env.XDG_RUNTIME_DIR || tmpdir(), 'nsgate-')) : requested;
  if (!created) ensureOwnPrivateDir(path);
  takeLock(path);
  const owned = new Set<string>([LOCK]);
  return {
    path,
    file(name) {
      owned.add(name);
      return join(path, name);
    },
    remove() {
      if (created) return rmSync(path, { recursive: true, force: true });
      for (const name of owned) rmSync(join(path, name), { recursive: true, force: true });
    },
  };
}

/** A given state dir is created 0700 if missing; an existing one must be a real dir of ours, not open to others. */
function ensureOwnPrivateDir(path: string): void {
  try {
    makeDirs(path, 0o700);
  } catch (err) {
    throw new UserError(`cannot create state dir ${path}: ${(err as Error).message}`);
  }
  const st = lstatSync(path);
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new UserError(`state dir ${path} is not a directory (symlinks are refused): choose another --state-dir`);
  }
  if (st.uid !== process.getuid!()) {
    throw new UserError(`state dir ${path} is owned by uid ${st.uid}, not by you (uid ${process.getuid!()}): choose another --state-dir`);
  }
  if ((st.mode & 0o077) !== 0) {
    throw new UserError(
      `state dir ${path} is open to other users (mode ${(st.mode & 0o777).toString(8)}): run chmod 700 on it or choose another --state-dir`,
    );
  }
}

/**
 * The lock is a file created exclusively, holding our pid. A lock whose pid is gone is stale
 * (nsgate was SIGKILLed) and is taken over.
 */
function takeLock(dir: string): void {
  const path = join(dir, LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(holder) && processAlive(holder)) {
        throw new UserError(`state dir ${dir} is in use by another nsgate (pid ${holder}): choose another --state-dir`);
      }
      unlinkSync(path);
    }
  }
  throw new UserError(`cannot take the lock of state dir ${dir}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
