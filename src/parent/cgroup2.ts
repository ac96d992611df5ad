/**
 * --evacuate-cgroup2 NAME, as RootlessKit's cgrouputil.EvacuateCgroup2 (docs/process.md): every process of the
 * cgroup (v2) nsgate runs in moves into the new subgroup NAME, so that the cgroup itself holds no process
 * and all its controllers can be enabled for its subgroups (cgroup2's "no internal processes" rule). With
 * --cgroupns the namespace process' namespace is rooted at that cgroup, so COMMAND (a container engine, say) sees it
 * as / with NAME in it and may create groups beside NAME. Runs in the parent, outside the namespace process' namespaces.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError, errorMessage } from '../errors.js';
import { makeDirs } from '../make-dirs.js';
import type { MountEntry } from './mountinfo.js';

/** What the evacuation reads and writes; the real files by default, others in tests. */
export interface CgroupFiles {
  mounts: readonly MountEntry[];
  /** /proc/self/cgroup */
  selfCgroup: string;
  root?: string;
}

/** Moves the processes and enables the controllers; warns (as RootlessKit) where it can go on, throws where it cannot. */
export function evacuateCgroup2(name: string, files: CgroupFiles, warn: (msg: string) => void): void {
  const mountPoints = files.mounts.filter((mount) => mount.fsType === 'cgroup2').map((mount) => mount.mountPoint);
  if (mountPoints.length === 0) return warn(`--evacuate-cgroup2: cgroup2 is not mounted, so there is nothing to evacuate`);
  if (mountPoints.length > 1) warn(`--evacuate-cgroup2: cgroup2 is mounted ${mountPoints.length} times; using ${mountPoints[0]}`);
  const group = /^0::(.*)$/m.exec(files.selfCgroup)?.[1];
  if (group === undefined) return warn(`--evacuate-cgroup2: nsgate is in no cgroup2 group (no 0:: line in /proc/self/cgroup), so there is nothing to evacuate`);
  const at = (path: string) => join(files.root ?? '/', mountPoints[0]!, path);
  const oldPath = at(group);
  const newPath = at(join(group, name));
  try {
    makeDirs(newPath, 0o755);
  } catch (err) {
    throw new UserError(
      `--evacuate-cgroup2=${name}: cannot create the cgroup ${newPath}: ${errorMessage(err)} (nsgate's cgroup, ${group}, must be delegated to you, e.g. by systemd-run --user -p Delegate=yes)`,
    );
  }
  for (const pid of readCgroupFile(join(oldPath, 'cgroup.procs'), name).split('\n')) {
    if (pid === '' || pid === '0') continue;
    try {
      writeFileSync(join(newPath, 'cgroup.procs'), pid);
    } catch (err) {
      warn(`--evacuate-cgroup2: failed to move process ${pid} to cgroup ${join(group, name)}: ${errorMessage(err)}`);
    }
  }
  for (const controller of readCgroupFile(join(oldPath, 'cgroup.controllers'), name).split(/\s+/).filter(Boolean)) {
    try {
      writeFileSync(join(oldPath, 'cgroup.subtree_control'), `+${controller}`);
    } catch (err) {
      warn(`--evacuate-cgroup2: failed to enable controller ${controller} for the subgroups of ${group}: ${errorMessage(err)}`);
    }
  }
}

function readCgroupFile(path: string, name: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`--evacuate-cgroup2=${name}: cannot read ${path}: ${errorMessage(err)}`);
  }
}
