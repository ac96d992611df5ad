/**
 * mount(2), for the namespace process' namespace setup (copy-up, its sysfs, the network's resolv.conf and hosts)
 * without starting mount(8) for each step. Each mount is also given as mount(8)'s arguments: what the
 * caller runs where native calls are unavailable, and how errors name it.
 */
import { readFileSync } from 'node:fs';
import { check, perThread } from './libc.js';

const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;
const MS_REMOUNT = 32;
const MS_BIND = 4096;
const MS_MOVE = 8192;
const MS_REC = 16384;

export type Mount =
  | { op: 'bind' | 'rbind' | 'move'; source: string; target: string }
  /** A new filesystem of `type` (source "none", as RootlessKit's). */
  | { op: 'fs'; type: 'tmpfs' | 'sysfs' | 'cgroup2'; target: string; readOnly?: boolean }
  /** Make the bind mount at `target` read-only (that mount only, not those below it). */
  | { op: 'remount-ro'; target: string };

/** The same mount as mount(8)'s arguments. */
export function mountArgs(m: Mount): string[] {
  switch (m.op) {
    case 'fs':
      return ['-t', m.type, ...(m.readOnly ? ['-o', 'ro'] : []), 'none', m.target];
    case 'remount-ro':
      return ['-o', 'remount,bind,ro', m.target];
    default:
      return [`--${m.op}`, m.source, m.target];
  }
}

const mountCall = perThread(({ koffi, lib }) => ({
  koffi,
  mount: lib.func('int mount(const char *, const char *, const char *, unsigned long, const void *)'),
}));

/** mount(2); false without native calls. Throws a SysError if the kernel refuses. */
export function mount(m: Mount): boolean {
  const c = mountCall();
  if (!c) return false;
  const [source, type, flags] = syscallArgs(m);
  check(c.koffi, `mount ${mountArgs(m).join(' ')}`, c.mount(source, m.target, type, flags, null));
  return true;
}

function syscallArgs(m: Mount): [source: string | null, type: string | null, flags: number] {
  switch (m.op) {
    case 'fs':
      return ['none', m.type, m.readOnly ? MS_RDONLY : 0];
    case 'remount-ro':
      return [null, null, MS_REMOUNT | MS_BIND | MS_RDONLY | lockedFlags(m.target)];
    case 'move':
      return [m.source, null, MS_MOVE];
    case 'rbind':
      return [m.source, null, MS_BIND | MS_REC];
    case 'bind':
      return [m.source, null, MS_BIND];
  }
}

/**
 * The flags of the mount at `target` that a remount must repeat: in a user namespace the kernel refuses
 * (EPERM) to drop nosuid, nodev or noexec that came from the host. mount(8) reads them the same way.
 */
function lockedFlags(target: string): number {
  // mountinfo escapes space, tab, newline and backslash as octal; its 5th field is the mount point, the 6th its options.
  const escaped = target.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((line) => line.split(' ')[4] === escaped);
  const options = lines.at(-1)?.split(' ')[5]?.split(',') ?? [];
  return (options.includes('nosuid') ? MS_NOSUID : 0) | (options.includes('nodev') ? MS_NODEV : 0) | (options.includes('noexec') ? MS_NOEXEC : 0);
}
