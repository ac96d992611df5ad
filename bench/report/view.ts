/** What both reports show: the cases in order, their figures, and how numbers are written. */
import { caseName, isCase, toolFamily } from '../cases.js';
import { METRIC_NAMES, type MetricName } from '../metrics/catalog.js';
import { hasRatio, type Results, type Row } from '../results.js';

export interface Shown {
  name: string;
  label: string;
  tool: string;
  driver: string;
}

const TOOL_LABELS: Record<string, string> = { direct: 'direct', rootlesskit: 'RootlessKit', pasta: 'pasta', nsgate: 'nsgate', floor: 'floor:' };

/** "RootlessKit 2.3.4" for "rootlesskit-2.3.4". */
function toolLabel(tool: string): string {
  const family = toolFamily(tool);
  return `${TOOL_LABELS[family] ?? family}${tool.slice(family.length).replace('-', ' ')}`;
}

/** The cases that have rows, in run order. */
export function shownCases(results: Results): Shown[] {
  const seen = new Map<string, Shown>();
  for (const row of results.rows) {
    const name = caseName(row);
    if (!seen.has(name)) seen.set(name, { name, label: `${toolLabel(row.tool)} ${row.driver}`, tool: row.tool, driver: row.driver });
  }
  return [...seen.values()];
}

/** The metrics that have rows, in catalog order. */
export function shownMetrics(results: Results): MetricName[] {
  return METRIC_NAMES.filter((metric) => results.rows.some((row) => row.metric === metric));
}

export function rowOf(results: Results, name: string, metric: MetricName): Row | undefined {
  return results.rows.find((row) => caseName(row) === name && row.metric === metric);
}

/** The reference competitor for "how do we compare" ratios: RootlessKit builtin, whichever version ran. */
export function referenceCase(cases: Shown[]): Shown | undefined {
  return cases.find((c) => isCase(c, 'rootlesskit/builtin'));
}

/** value / the same metric's value in case `reference`; null when either is missing or zero. */
export function ratioTo(results: Results, row: Row, reference: string): number | null {
  const base = rowOf(results, reference, row.metric)?.value;
  return hasRatio(row.metric) && base && row.value !== null ? row.value / base : null;
}

/** 19,600 · 8.72 · 0.513 */
export function formatNumber(value: number): string {
  return Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en-US') : String(Number(value.toPrecision(3)));
}

/** 140× · 0.62× · 0.002× */
export function formatRatio(ratio: number): string {
  const text = ratio >= 10 ? ratio.toFixed(0) : ratio >= 0.01 ? ratio.toFixed(2) : String(Number(ratio.toPrecision(1)));
  return `${text}×`;
}
