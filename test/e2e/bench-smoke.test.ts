/**
 * The benchmark harness in its tiny --smoke mode, as CI runs it: it measures, writes results of the
 * documented shape where it was told, says what it skipped, and leaves nothing running. No speed is asserted.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { allCases, caseName, toolFamily } from '../../bench/cases.js';
import { METRIC_NAMES } from '../../bench/metrics/catalog.js';
import { parseBenchArgs } from '../../bench/options.js';
import { TAG_VARIABLE, taggedProcesses } from '../../bench/procs.js';
import type { Results } from '../../bench/results.js';
import { E2E_DIR, Proc } from './harness.js';
import { describePeer, NO_PEER, referencePeer } from './peers.js';

const TOOLS = ['direct', 'rootlesskit', 'pasta', 'nsgate', 'floor'];
const peer = referencePeer();

describe('bench --smoke', () => {
  const out = mkdtempSync('/tmp/nsgate-bench-smoke-test-');
  const tag = randomUUID();
  let bench: Proc;
  let results: Results;

  before(async () => {
    const argv = [join(E2E_DIR, 'dist/bench/run.js'), '--smoke', `--out=${out}`];
    bench = new Proc(spawn(process.execPath, argv, { env: { ...process.env, [TAG_VARIABLE]: tag }, stdio: ['ignore', 'pipe', 'pipe'] }));
    const exit = await bench.exited(300_000);
    assert.equal(exit.code, 0, `stdout: ${bench.stdout}\nstderr: ${bench.stderr}`);
    results = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as Results;
  });

  after(() => rmSync(out, { recursive: true, force: true }));

  test('latest.json has the machine, the date, the mode and the settings', () => {
    const { machine } = results;
    assert.ok(Number.isInteger(machine.cpus) && (machine.cpus as number) > 0, JSON.stringify(machine));
    for (const key of ['model', 'kernel', 'node']) assert.equal(typeof machine[key], 'string', key);
    assert.ok(!Number.isNaN(Date.parse(results.date)), results.date);
    assert.equal(results.mode, 'smoke');
    assert.equal(results.settings.runs, 1);
  });

  test('every row has the documented fields, and every run is kept with a value or an error', () => {
    assert.ok(results.rows.length > 0, 'some rows');
    for (const row of results.rows) {
      const where = JSON.stringify(row);
      assert.ok(TOOLS.includes(toolFamily(row.tool)), where);
      assert.equal(typeof row.driver, 'string', where);
      assert.ok(METRIC_NAMES.includes(row.metric), where);
      assert.equal(typeof row.unit, 'string', where);
      assert.ok(row.value === null || typeof row.value === 'number', where);
      assert.ok(row.ratio_to_direct === null || typeof row.ratio_to_direct === 'number', where);
      assert.equal(row.runs.length, 1, where);
      const [run] = row.runs;
      assert.equal(run!.run, 1, where);
      assert.ok(typeof run!.value === 'number' || typeof run!.error === 'string', where);
    }
  });

  test('RootlessKit\'s rows are the reference peer\'s, named with its version', { skip: peer ? false : NO_PEER }, (t) => {
    t.diagnostic(describePeer(peer!));
    const tools = new Set(results.rows.filter((r) => toolFamily(r.tool) === 'rootlesskit').map((r) => r.tool));
    assert.deepEqual([...tools], [`rootlesskit-${peer!.version}`]);
    assert.equal((results.machine.versions as Record<string, string>).rootlesskit, `rootlesskit version ${peer!.version} (${peer!.rootlesskit})`);
  });

  test('direct loopback has a figure for every metric that was not skipped', () => {
    for (const metric of METRIC_NAMES) {
      const row = results.rows.find((r) => r.tool === 'direct' && r.metric === metric);
      const skipped = results.skipped.some((s) => s.reason.includes(metric) || (s.tool === 'all' && s.reason.includes('nginx')));
      assert.ok(skipped || typeof row?.value === 'number', `${metric}: ${JSON.stringify(row)}`);
    }
  });

  test('no case is left out silently: each has rows or a skip reason', () => {
    assert.ok(results.skipped.some((s) => s.reason.includes('--smoke')), JSON.stringify(results.skipped));
    for (const c of allCases('nsgate.js')) {
      const name = caseName(c);
      const shown = results.rows.some((r) => caseName(r) === name) || results.skipped.some((s) => caseName(s) === name || s.tool === 'all');
      assert.ok(shown, `${name} neither measured nor skipped`);
    }
    for (const skip of results.skipped) assert.ok(skip.reason.length > 0, JSON.stringify(skip));
  });

  test('the markdown table and the SVG chart are written beside it', () => {
    const markdown = readFileSync(join(out, 'benchmarks.md'), 'utf8');
    assert.match(markdown, /^\| +\| direct loopback \|/m);
    const svg = readFileSync(join(out, 'benchmarks.svg'), 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\n$/);
    assert.ok(svg.includes('<rect'), 'bars');
  });

  test('a progress line on stderr, and nothing left running', () => {
    assert.match(bench.stderr, /\[run 1\/1, case 1\/\d+\] direct\/loopback: .* left/);
    assert.deepEqual(taggedProcesses(tag), []);
  });

  test('--smoke without --out writes to a fresh temporary directory, never over bench/results or docs', () => {
    const options = parseBenchArgs(['--smoke']);
    const dir = join(options.json, '..');
    try {
      assert.match(options.json, /^\/tmp\/nsgate-bench-smoke-/);
      assert.equal(join(options.markdown, '..'), dir);
      assert.equal(join(options.svg, '..'), dir);
    } finally {
      if (existsSync(dir)) rmSync(dir, { recursive: true });
    }
  });
});
