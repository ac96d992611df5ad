/** `npm run bench [-- --quick | --smoke] [--out DIR]`: argv -> what to run and where to write it. */
import { mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Mode = 'full' | 'quick' | 'smoke';

export interface Settings {
  /** Runs of every case; the figure is their median. */
  runs: number;
  /** Length of each throughput and request-rate run. */
  seconds: number;
  /** Idle forwarded connections held open while the forwarder's RSS is read. */
  idleConnections: number;
  /** Only these cases ("tool/driver"; "rootlesskit/driver" is whichever RootlessKit runs), or all of them. */
  cases?: readonly string[];
}

export interface BenchOptions {
  mode: Mode;
  settings: Settings;
  json: string;
  markdown: string;
  svg: string;
}

const MODES: Record<Mode, Settings> = {
  full: { runs: 3, seconds: 5, idleConnections: 10_000 },
  quick: { runs: 1, seconds: 2, idleConnections: 1_000 },
  // CI proves the harness works: the baseline, the competitor, nsgate's default driver and the floor, tiny runs.
  smoke: { runs: 1, seconds: 1, idleConnections: 20, cases: ['direct/loopback', 'rootlesskit/builtin', 'nsgate/builtin', 'floor/c-relay'] },
};

/** The checkout (or copy) this script was built in: dist/bench/ is two levels down. */
export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export const USAGE = `usage: npm run bench [-- --quick | --smoke] [--cases TOOL/DRIVER,...] [--out DIR]
  (default)  full run: ${describe(MODES.full)}
  --quick    ${describe(MODES.quick)}
  --smoke    ${describe(MODES.smoke)}; writes to a fresh temporary directory
  --cases    only these cases (e.g. direct/loopback,rootlesskit/builtin,nsgate/bypass); writes to a fresh temporary directory
  --out DIR  write latest.json, benchmarks.md and benchmarks.svg to DIR
             (default: bench/results/latest.json, docs/benchmarks.md, docs/benchmarks.svg)`;

function describe(s: Settings): string {
  return `${s.runs} run(s), ${s.seconds} s per run, ${s.idleConnections} idle connections`;
}

/** Throws an Error with USAGE for anything it does not understand. */
export function parseBenchArgs(argv: string[]): BenchOptions {
  let mode: Mode = 'full';
  let out: string | undefined;
  let cases: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick' || arg === '--smoke') mode = arg.slice(2) as Mode;
    else if (arg === '--out' && i + 1 < argv.length) out = argv[++i];
    else if (arg.startsWith('--out=')) out = arg.slice('--out='.length);
    else if (arg === '--cases' && i + 1 < argv.length) cases = argv[++i]!.split(',');
    else if (arg.startsWith('--cases=')) cases = arg.slice('--cases='.length).split(',');
    else throw new Error(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
  }
  // A smoke run or a few cases must not replace the published figures.
  if (out === undefined && (mode === 'smoke' || cases)) out = mkdtempSync(`/tmp/nsgate-bench-${mode}-`);
  const dir = out === undefined ? undefined : resolve(out);
  return {
    mode,
    settings: cases ? { ...MODES[mode], cases } : MODES[mode],
    json: dir ? join(dir, 'latest.json') : join(ROOT, 'bench/results/latest.json'),
    markdown: join(dir ?? join(ROOT, 'docs'), 'benchmarks.md'),
    svg: join(dir ?? join(ROOT, 'docs'), 'benchmarks.svg'),
  };
}
