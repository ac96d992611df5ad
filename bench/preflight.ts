/**
 * Before anything runs: the unprivileged user, the file limit, an nsgate that user can run, and which
 * cases and measurements can run here (everything left out is said, with its reason).
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { asUser, IS_ROOT, TEST_USER } from '../test/e2e/harness.js';
import { runnableCopy } from '../test/runnable-copy.js';
import { type BenchCase, caseName, isCase } from './cases.js';
import type { MetricGroup } from './metrics/group.js';
import { ROOT, type Mode, type Settings } from './options.js';
import { installed, missing } from './programs.js';
import type { Skip } from './results.js';

/** Enough open files for the idle connections through a relay (two sockets each) and nginx. */
const FILE_LIMIT = 65_536;

/** As root the programs run as TEST_USER, created by scripts/setup-test-env.sh. */
export function checkUser(): void {
  if (!IS_ROOT || spawnSync('id', [TEST_USER]).status === 0) return;
  throw new Error(
    `run as root, the benchmark runs every program as the unprivileged user ${TEST_USER}, which does not exist.\n` +
      `Prepare this machine once with: bash ${join(ROOT, 'scripts/setup-test-env.sh')}\n` +
      `(it creates ${TEST_USER} with subordinate uid/gid ranges and makes /dev/net/tun usable), then run the benchmark again.`,
  );
}

/** Root raises its own limit so the programs it starts inherit it; others keep theirs (Node uses the hard limit). */
export function raiseFileLimit(): void {
  if (IS_ROOT) spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${FILE_LIMIT}:${FILE_LIMIT}`]);
}

/**
 * nsgate.js as the test user can run it: this build, or a copy of it in /tmp when the checkout is
 * private (as test/run.ts does). `remove` deletes the copy.
 */
export function userNsgate(): { path: string; remove(): void } {
  const path = join(ROOT, 'dist/bundle/nsgate.js');
  const [cmd, args] = asUser('test', ['-r', path]);
  if (spawnSync(cmd, args).status === 0) return { path, remove: () => {} };
  const copy = runnableCopy(ROOT, '/tmp/nsgate-bench-dist-');
  return { path: join(copy, 'dist/bundle/nsgate.js'), remove: () => rmSync(copy, { recursive: true, force: true }) };
}

export interface Plan {
  cases: BenchCase[];
  /** For each runnable case (by name), its measurement steps. */
  groups: Map<string, MetricGroup[]>;
  skipped: Skip[];
}

const ALL = { tool: 'all', driver: 'all' };

function caseSkip(c: BenchCase, mode: Mode, settings: Settings): string | undefined {
  if (settings.cases && !settings.cases.some((name) => isCase(c, name))) return `not run in --${mode} mode`;
  const absent = c.needs.find((program) => !installed(program));
  return absent && missing(absent);
}

export function plan(cases: BenchCase[], groups: readonly MetricGroup[], mode: Mode, settings: Settings): Plan {
  if (!installed('nginx')) {
    const reason = `${missing('nginx')}: it serves HTTP in every case and tells when a case is ready`;
    return { cases: [], groups: new Map(), skipped: [{ ...ALL, reason }] };
  }
  const skipped: Skip[] = [];
  const clients = [...new Set(groups.flatMap((g) => (g.client ? [g.client] : [])))];
  for (const client of clients.filter((program) => !installed(program))) {
    const metrics = groups.filter((g) => g.client === client).flatMap((g) => g.metrics);
    skipped.push({ ...ALL, reason: `${missing(client)}: ${metrics.join(', ')} not measured` });
  }
  const usable = groups.filter((g) => !g.client || installed(g.client));
  const runnable: BenchCase[] = [];
  const byCase = new Map<string, MetricGroup[]>();
  for (const c of cases) {
    const reason = caseSkip(c, mode, settings);
    if (reason !== undefined) {
      skipped.push({ tool: c.tool, driver: c.driver, reason });
      continue;
    }
    runnable.push(c);
    const forwarderOnly = usable.filter((g) => g.forwarderOnly);
    const noForwarder = c.launcher === null || c.dataPlaneOnly === true;
    if (noForwarder && forwarderOnly.length > 0) {
      const metrics = forwarderOnly.flatMap((g) => g.metrics);
      const why = c.launcher === null ? 'no forwarding process to measure' : 'the launched processes are not the forwarder';
      skipped.push({ tool: c.tool, driver: c.driver, reason: `${metrics.join(', ')}: ${why}` });
    }
    byCase.set(caseName(c), usable.filter((g) => !noForwarder || !g.forwarderOnly));
  }
  return { cases: runnable, groups: byCase, skipped };
}
