/** Runs the plan: round-robin over the cases within each run, a fresh instance per case and run. */
import { errorMessage } from '../src/errors.js';
import { type BenchCase, caseName } from './cases.js';
import { launch } from './instance.js';
import type { MetricName } from './metrics/catalog.js';
import type { MetricGroup } from './metrics/group.js';
import type { Settings } from './options.js';
import type { Plan } from './preflight.js';
import { installed } from './programs.js';
import { Progress } from './progress.js';
import type { Recorder } from './results.js';

/** Launch, startup probe and teardown of one instance. */
const INSTANCE_ESTIMATE_SECONDS = 1.5;

class Runner {
  private readonly progress: Progress;
  private readonly iperf3 = installed('iperf3');

  constructor(
    private readonly plan: Plan,
    private readonly settings: Settings,
    private readonly recorder: Recorder,
  ) {
    const perRun = plan.cases.reduce((sum, c) => sum + this.estimate(c), 0);
    this.progress = new Progress(perRun * settings.runs);
  }

  private groups(c: BenchCase): readonly MetricGroup[] {
    return this.plan.groups.get(caseName(c)) ?? [];
  }

  private estimate(c: BenchCase): number {
    return INSTANCE_ESTIMATE_SECONDS + this.groups(c).reduce((sum, g) => sum + g.estimateSeconds(this.settings), 0);
  }

  async runAll(): Promise<void> {
    const { runs } = this.settings;
    for (let run = 1; run <= runs; run++) {
      for (const [i, c] of this.plan.cases.entries()) {
        await this.runCase(c, run, `[run ${run}/${runs}, case ${i + 1}/${this.plan.cases.length}] ${caseName(c)}`);
      }
    }
    this.progress.finish();
  }

  private fail(c: BenchCase, run: number, metrics: readonly MetricName[], err: unknown, what: string): void {
    const error = errorMessage(err);
    for (const metric of metrics) this.recorder.record(c, metric, { run, value: null, error });
    this.progress.say(`${what} failed: ${error}`);
  }

  private async runCase(c: BenchCase, run: number, where: string): Promise<void> {
    const groups = this.groups(c);
    this.progress.show(`${where}: starting`);
    let instance;
    try {
      instance = await launch(c, this.settings, this.iperf3);
    } catch (err) {
      this.fail(c, run, ['startup_ms', ...groups.flatMap((g) => g.metrics)], err, `${where}: launch`);
      this.progress.advance(this.estimate(c));
      return;
    }
    if (!c.dataPlaneOnly) this.recorder.record(c, 'startup_ms', { run, value: instance.startupMs });
    this.progress.advance(INSTANCE_ESTIMATE_SECONDS);
    try {
      for (const group of groups) {
        this.progress.show(`${where}: ${group.label}`);
        try {
          for (const m of await group.measure(instance)) this.recorder.record(c, m.metric, { run, value: m.value, ...(m.detail && { detail: m.detail }) });
        } catch (err) {
          this.fail(c, run, group.metrics, err, `${where}: ${group.label}`);
        }
        this.progress.advance(group.estimateSeconds(this.settings));
      }
    } finally {
      await instance.stop();
    }
  }
}

export function runPlan(plan: Plan, settings: Settings, recorder: Recorder): Promise<void> {
  return new Runner(plan, settings, recorder).runAll();
}
