/** The outside programs the benchmark uses: is each installed for the test user, which version, which package. */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { userEnv } from '../test/e2e/harness.js';

/** Debian package and version flag of each program. */
export const PROGRAMS = {
  rootlesskit: { pkg: 'rootlesskit', versionFlag: '--version' },
  slirp4netns: { pkg: 'slirp4netns', versionFlag: '--version' },
  pasta: { pkg: 'passt', versionFlag: '--version' },
  iperf3: { pkg: 'iperf3', versionFlag: '--version' },
  wrk: { pkg: 'wrk', versionFlag: '-v' },
  nginx: { pkg: 'nginx-light', versionFlag: '-v' },
  cc: { pkg: 'gcc', versionFlag: '--version' },
} as const;

export type Program = keyof typeof PROGRAMS;

/** Where the test user's PATH finds `name`, if anywhere. */
function locate(name: string): string | undefined {
  for (const dir of (userEnv().PATH ?? '').split(':')) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

export const installed = (name: string): boolean => locate(name) !== undefined;

/** "rootlesskit not installed (Debian package rootlesskit)" */
export function missing(name: Program): string {
  return `${name} not installed (Debian package ${PROGRAMS[name].pkg})`;
}

/** The program's own version line, or its package's version when that line has no number (pasta's). */
export function versionOf(name: Program): string | undefined {
  const path = locate(name);
  if (path === undefined) return undefined;
  const r = spawnSync(path, [PROGRAMS[name].versionFlag], { encoding: 'utf8', timeout: 5_000 });
  const line = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').find((l) => l.trim() !== '')?.trim();
  if (line && /[0-9]/.test(line)) return line;
  const pkg = spawnSync('dpkg-query', ['-W', '-f', '${Version}', PROGRAMS[name].pkg], { encoding: 'utf8' });
  return pkg.status === 0 ? `${PROGRAMS[name].pkg} ${pkg.stdout.trim()}` : line;
}
