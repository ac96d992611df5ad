/** Every run's figure, kept, and the rows of latest.json: the median per case and metric, and its ratio to direct. */
import { type BenchCase, caseName, type Tool } from './cases.js';
import { METRIC_NAMES, type MetricInfo, METRICS, type MetricName } from './metrics/catalog.js';
import type { Mode, Settings } from './options.js';

export interface RunValue {
  run: number;
  value: number | null;
  error?: string;
  detail?: Record<string, number>;
}

export interface Row {
  tool: Tool;
  driver: string;
  metric: MetricName;
  /** Median of the runs that succeeded; null if none did. */
  value: number | null;
  unit: string;
  runs: RunValue[];
  /** value / direct loopback's value; null when direct has none (or zero). */
  ratio_to_direct: number | null;
}

/** A case or measurement left out, and why: nothing is left out silently. */
export interface Skip {
  tool: string;
  driver: string;
  reason: string;
}

export interface Results {
  machine: Record<string, unknown>;
  date: string;
  mode: Mode;
  settings: Settings;
  rows: Row[];
  skipped: Skip[];
}

export const hasRatio = (metric: MetricName): boolean => (METRICS[metric] as MetricInfo).ratio !== false;

/** Four significant digits: more would be noise. */
export const round = (value: number): number => Number(value.toPrecision(4));

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export class Recorder {
  private readonly runs = new Map<string, RunValue[]>();

  private static key(c: BenchCase, metric: MetricName): string {
    return `${caseName(c)} ${metric}`;
  }

  record(c: BenchCase, metric: MetricName, value: RunValue): void {
    const key = Recorder.key(c, metric);
    const rounded = value.value === null ? value : { ...value, value: round(value.value) };
    this.runs.set(key, [...(this.runs.get(key) ?? []), rounded]);
  }

  /** Rows in case order, then metric order. */
  rows(cases: readonly BenchCase[]): Row[] {
    const rows: Row[] = [];
    for (const c of cases) {
      for (const metric of METRIC_NAMES) {
        const runs = this.runs.get(Recorder.key(c, metric));
        if (!runs) continue;
        const value = median(runs.flatMap((r) => (r.value === null ? [] : [r.value])));
        rows.push({ tool: c.tool, driver: c.driver, metric, value: value === null ? null : round(value), unit: METRICS[metric].unit, runs, ratio_to_direct: null });
      }
    }
    for (const row of rows) {
      if (!hasRatio(row.metric)) continue;
      const direct = rows.find((r) => r.tool === 'direct' && r.metric === row.metric)?.value;
      if (direct && row.value !== null) row.ratio_to_direct = Number((row.value / direct).toFixed(3));
    }
    return rows;
  }
}
