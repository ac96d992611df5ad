/**
 * `npm run bench [-- --quick | --smoke] [--out DIR]`: nsgate side by side with direct loopback,
 * RootlessKit and pasta; writes latest.json, benchmarks.md and benchmarks.svg (see bench/options.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorMessage } from '../src/errors.js';
import { allCases } from './cases.js';
import { stopAll } from './instance.js';
import { describeMachine } from './machine.js';
import { GROUPS } from './metrics/index.js';
import { type BenchOptions, parseBenchArgs } from './options.js';
import { checkUser, plan, raiseFileLimit, userNsgate } from './preflight.js';
import { endAll, endLeftovers } from './procs.js';
import { renderMarkdown } from './report/markdown.js';
import { renderSvg } from './report/svg.js';
import { Recorder, type Results } from './results.js';
import { runPlan } from './runner.js';

function write(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

async function bench(options: BenchOptions, nsgate: string): Promise<void> {
  const { mode, settings } = options;
  const planned = plan(allCases(nsgate), GROUPS, mode, settings);
  for (const skip of planned.skipped) console.error(`skipped ${skip.tool}/${skip.driver}: ${skip.reason}`);
  const recorder = new Recorder();
  await runPlan(planned, settings, recorder);
  const results: Results = {
    machine: describeMachine(),
    date: new Date().toISOString(),
    mode,
    settings,
    rows: recorder.rows(planned.cases),
    skipped: planned.skipped,
  };
  write(options.json, `${JSON.stringify(results, null, 2)}\n`);
  write(options.markdown, renderMarkdown(results));
  write(options.svg, renderSvg(results));
  console.log(`wrote ${options.json}, ${options.markdown}, ${options.svg}`);
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(process.argv.slice(2));
    checkUser();
  } catch (err) {
    console.error(`bench: ${errorMessage(err)}`);
    return 2;
  }
  raiseFileLimit();
  const nsgate = userNsgate();
  const interrupted = async () => {
    await stopAll();
    await endAll();
    nsgate.remove();
    process.exit(130);
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  let status = 0;
  try {
    await bench(options, nsgate.path);
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.stack : String(err)}`);
    status = 1;
  }
  await endAll();
  nsgate.remove();
  const left = endLeftovers();
  if (left.length > 0) {
    console.error(`bench: processes were left running (a bug in the harness), ended now: ${left.join(' ')}`);
    status = 1;
  }
  return status;
}

process.exitCode = await main();
