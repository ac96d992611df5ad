import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { createLog } from '../log.js';
import { mount as nativeMount, mountArgs, type Mount } from '../sys/mount.js';
import { linkUpMessage, LOOPBACK_INDEX, rtnetlink } from '../sys/rtnetlink.js';
import type { NamespaceSetup } from '../ipc/messages.js';

const execFileAsync = promisify(execFile);

/** Privileged steps without a native call here run as the standard tools, whose messages users know. */
async function privileged(cmd: string, ...args: string[]): Promise<void> {
  try {
    await execFileAsync(cmd, args);
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

/** mount(2), or mount(8) without native calls (-n: no /etc/mtab, which a copied-up /etc lacks until its symlinks exist). */
async function mount(m: Mount): Promise<void> {
  if (!nativeMount(m)) await privileged('mount', '-n', ...mountArgs(m));
}

export async function prepareNamespaces(setup: NamespaceSetup): Promise<void> {
  if (setup.detachedNetns) {
    await writeFile(setup.detachedNetns, '', { mode: 0o600 });
    await privileged('unshare', `--net=${setup.detachedNetns}`, 'true');
    await privileged('nsenter', `--net=${setup.detachedNetns}`, 'ip', 'link', 'set', 'lo', 'up');
  } else if (setup.ownNetns && !rtnetlink([{ what: 'ip link set lo up', build: (seq) => linkUpMessage(LOOPBACK_INDEX, seq) }])) {
    await privileged('ip', 'link', 'set', 'lo', 'up');
  }
  for (const dir of setup.copyUp) await copyUp(dir, setup.spareDir);
  if (setup.ownNetns) await mountSysfs(setup.spareDir);
  if (setup.cgroup2) await mountCgroup2();
}

/**
 * --evacuate-cgroup2: /sys/fs/cgroup shows the cgroup namespace's own cgroup2, rooted at nsgate's cgroup, with
 * the group the parent moved every process into. A tmpfs first, as RootlessKit does on the host's /sys: where
 * /sys/fs/cgroup already is a cgroup2 mount, mounting cgroup2 on it again fails with EBUSY.
 */
async function mountCgroup2(): Promise<void> {
  await mount({ op: 'fs', type: 'tmpfs', target: CGROUP });
  await mount({ op: 'fs', type: 'cgroup2', target: CGROUP });
}

/**
 * RootlessKit's tmpfs+symlink copy-up: a tmpfs (mode 1777) covers `dir`, the original is moved into it
 * as a hidden `.roXXXXXX`, and each original entry appears as a relative symlink into it (symlinks are
 * copied as they are). Any uid inside reads through them; new files land on the tmpfs; an entry is
 * replaced by removing its symlink. Unlike RootlessKit's, the original's own mount is read-only, so that
 * nothing written through a symlink reaches the host (mounts below it, such as /run/user/UID, keep theirs).
 */
async function copyUp(dir: string, spare: string): Promise<void> {
  const st = await stat(dir).catch((err: Error) => {
    throw new Error(`--copy-up=${dir}: ${err.message} (it must be an existing directory you can read)`);
  });
  if (!st.isDirectory()) throw new Error(`--copy-up=${dir}: not a directory (it must be an existing directory you can read)`);
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: Error) => {
    throw new Error(`--copy-up=${dir}: cannot list it: ${err.message} (it must be a directory you can read)`);
  });
  const symlinks = new Map(await Promise.all(entries.filter((e) => e.isSymbolicLink()).map(async (e) => [e.name, await readlink(join(dir, e.name))] as const)));
  await mount({ op: 'rbind', source: dir, target: spare });
  await mount({ op: 'remount-ro', target: spare });
  await mount({ op: 'fs', type: 'tmpfs', target: dir });
  const original = await mkdtemp(join(dir, '.ro'));
  await mount({ op: 'move', source: spare, target: original });
  await Promise.all(entries.map(({ name }) => symlink(symlinks.get(name) ?? join(basename(original), name), join(dir, name))));
}

const CGROUP = '/sys/fs/cgroup';

/**
 * A sysfs of the namespace process' own network namespace, so that /sys/class/net lists its interfaces, with the
 * host's /sys/fs/cgroup kept on it (as RootlessKit does). Where the host's /sys is read-only (nsgate in a
 * container) only a read-only sysfs can be mounted; where none can, /sys stays the host's.
 */
async function mountSysfs(spare: string): Promise<void> {
  await mount({ op: 'rbind', source: CGROUP, target: spare });
  for (const readOnly of [false, true]) {
    try {
      await mount({ op: 'fs', type: 'sysfs', target: '/sys', readOnly });
      break;
    } catch (err) {
      createLog(false).warn(`${(err as Error).message}: ${readOnly ? "/sys stays the host's" : 'trying a read-only sysfs'}`);
    }
  }
  await mount({ op: 'move', source: spare, target: CGROUP });
}

/**
 * The network's resolv.conf and hosts (the parent's files in the state dir) are bind-mounted over
 * /etc's of the same name, as RootlessKit does: in a copied-up /etc onto empty files that replace the
 * symlinks; otherwise over the host's, where it has them.
 */
export async function mountEtcFiles(files: string[], etcCopiedUp: boolean): Promise<void> {
  for (const source of files) {
    const target = join('/etc', basename(source));
    if (etcCopiedUp) {
      await rm(target, { force: true });
      await writeFile(target, '', { mode: 0o644 });
    } else if (!(await stat(target).then(() => true, () => false))) {
      continue;
    }
    await mount({ op: 'bind', source, target });
  }
}
