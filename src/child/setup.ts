import { execFile } from 'node:child_process';
import { lstat, mkdir, readdir, stat, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bindMount } from '../sys/mount.js';
import { linkUpMessage, LOOPBACK_INDEX, rtnetlink } from '../sys/rtnetlink.js';
import type { ChildSetup } from './protocol.js';

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

export async function prepareNamespaces(setup: ChildSetup): Promise<void> {
  if (setup.detachedNetns) {
    await writeFile(setup.detachedNetns, '', { mode: 0o600 });
    await privileged('unshare', `--net=${setup.detachedNetns}`, 'true');
    await privileged('nsenter', `--net=${setup.detachedNetns}`, 'ip', 'link', 'set', 'lo', 'up');
  } else if (setup.loopback && !rtnetlink([{ what: 'ip link set lo up', build: (seq) => linkUpMessage(LOOPBACK_INDEX, seq) }])) {
    await privileged('ip', 'link', 'set', 'lo', 'up');
  }
  if (setup.copyUp.length > 0) {
    await mkdir(setup.scratchDir, { recursive: true, mode: 0o700 });
    await privileged('mount', '-t', 'tmpfs', '-o', 'mode=0700', 'nsgate-scratch', setup.scratchDir);
    for (const [i, dir] of setup.copyUp.entries()) await copyUp(dir, join(setup.scratchDir, `ro${i}`));
  }
  if (setup.cgroup2) await mountCgroup2();
}

/**
 * --evacuate-cgroup2: /sys/fs/cgroup shows the cgroup namespace's own cgroup2, rooted at nsgate's cgroup, with
 * the group the parent moved every process into. A tmpfs first, as RootlessKit does on the host's /sys: where
 * /sys/fs/cgroup already is a cgroup2 mount, mounting cgroup2 on it again fails with EBUSY.
 */
async function mountCgroup2(): Promise<void> {
  await privileged('mount', '-t', 'tmpfs', 'none', '/sys/fs/cgroup');
  await privileged('mount', '-t', 'cgroup2', 'none', '/sys/fs/cgroup');
}

/**
 * RootlessKit's tmpfs+symlink copy-up: a read-only bind of the original stays reachable at `roDir`,
 * a tmpfs covers `dir`, and each original entry appears there as a symlink into the bind.
 * New files land on the tmpfs; an entry can be replaced by removing its symlink. The bind is
 * read-only so that nothing written inside reaches the host through a symlink.
 */
async function copyUp(dir: string, roDir: string): Promise<void> {
  const st = await stat(dir).catch((err: Error) => {
    throw new Error(`--copy-up=${dir}: ${err.message} (it must be an existing directory you can read)`);
  });
  if (!st.isDirectory()) throw new Error(`--copy-up=${dir}: not a directory (it must be an existing directory you can read)`);
  await mkdir(roDir);
  await privileged('mount', '--rbind', dir, roDir);
  await privileged('mount', '-o', 'remount,bind,ro', roDir);
  const entries = await readdir(roDir).catch((err: Error) => {
    throw new Error(`--copy-up=${dir}: cannot list it: ${err.message} (it must be a directory you can read)`);
  });
  await privileged('mount', '-t', 'tmpfs', '-o', `mode=${(st.mode & 0o7777).toString(8)}`, 'nsgate-copyup', dir);
  if (entries.length > 0) await privileged('ln', '-s', '--', ...entries.map((e) => join(roDir, e)), dir);
}

/**
 * Point the child's /etc/resolv.conf at the network's DNS. In a copied-up /etc the symlink is replaced
 * by a file; otherwise a file in the scratch dir is bind-mounted over the host's (as RootlessKit does).
 */
export async function writeResolvConf(dns: string, copyUp: string[], scratchFile: string): Promise<void> {
  const text = `nameserver ${dns}\n`;
  if (copyUp.includes('/etc')) {
    await rm('/etc/resolv.conf', { force: true });
    await writeFile('/etc/resolv.conf', text, { mode: 0o644 });
    return;
  }
  await writeFile(scratchFile, text, { mode: 0o644 });
  const target = await lstat('/etc/resolv.conf').then(() => '/etc/resolv.conf', () => null);
  if (target && !bindMount(scratchFile, target)) await privileged('mount', '--bind', scratchFile, target);
}
