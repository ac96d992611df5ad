/**
 * docs/benchmarks.svg: one panel per metric, one bar per case, the bar being the ratio to direct
 * loopback (a dashed line marks 1.0). A metric without a meaningful ratio (memory has no direct
 * figure, UDP loss is compared as is) shows absolute values instead, and says so.
 */
import { toolFamily } from '../cases.js';
import { METRICS, type MetricName } from '../metrics/catalog.js';
import { hasRatio, type Results } from '../results.js';
import { formatNumber, formatRatio, rowOf, type Shown, shownCases, shownMetrics } from './view.js';

const COLUMNS = 3;
const PANEL = { width: 320, height: 230, gap: 16 };
const PLOT = { left: 12, right: 12, top: 58, bottom: 24 };
const MARGIN = 20;
const LEGEND = { itemWidth: 230, rowHeight: 20 };
const HEADER_HEIGHT = 68;
/** Bars leave this share of their slot empty. */
const BAR_GAP = 0.3;
const HEADROOM = 1.18;

const PALETTES: Record<string, string[]> = {
  direct: ['#7f7f7f'],
  rootlesskit: ['#1f77b4', '#6baed6', '#08519c'],
  pasta: ['#2ca02c', '#74c476'],
  nsgate: ['#d62728', '#ff7f0e', '#9467bd', '#e377c2', '#8c564b', '#bcbd22'],
  floor: ['#17becf'],
};

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${attrs ? ` ${attrs}` : ''}>${escape(content)}</text>`;
}

/** A color per case: its tool's hue, the next shade for each further driver. */
function colors(cases: Shown[]): Map<string, string> {
  const used = new Map<string, number>();
  return new Map(
    cases.map((c) => {
      const tool = toolFamily(c.tool);
      const palette = PALETTES[tool] ?? PALETTES.nsgate!;
      const index = used.get(tool) ?? 0;
      used.set(tool, index + 1);
      return [c.name, palette[index % palette.length]!];
    }),
  );
}

interface Bar {
  color: string;
  value: number | null;
  label: string;
}

function panel(results: Results, metric: MetricName, cases: Shown[], color: Map<string, string>, x: number, y: number): string {
  const { title, unit, higherIsBetter } = METRICS[metric];
  const relative = hasRatio(metric) && Boolean(rowOf(results, 'direct/loopback', metric)?.value);
  const bars: Bar[] = cases.map((c) => {
    const row = rowOf(results, c.name, metric);
    const value = relative ? (row?.ratio_to_direct ?? null) : (row?.value ?? null);
    const missing = row === undefined ? 'n/a' : 'failed';
    const label = value === null ? missing : relative ? formatRatio(value) : formatNumber(value);
    return { color: color.get(c.name)!, value, label };
  });
  const top = Math.max(relative ? 1 : 0, ...bars.map((b) => b.value ?? 0)) * HEADROOM || 1;
  const plotWidth = PANEL.width - PLOT.left - PLOT.right;
  const plotHeight = PANEL.height - PLOT.top - PLOT.bottom;
  const base = y + PANEL.height - PLOT.bottom;
  const toY = (value: number) => base - (value / top) * plotHeight;
  const slot = plotWidth / bars.length;
  const scale = relative ? 'ratio to direct' : `${unit}, absolute`;
  const parts = [
    `<rect x="${x}" y="${y}" width="${PANEL.width}" height="${PANEL.height}" rx="6" fill="#fafafa" stroke="#dddddd"/>`,
    text(x + PLOT.left, y + 20, title, 'font-size="13" font-weight="bold"'),
    text(x + PLOT.left, y + 37, `${scale} · ${higherIsBetter ? 'higher' : 'lower'} is better`, 'font-size="11" fill="#555555"'),
    `<line x1="${x + PLOT.left}" y1="${base}" x2="${x + PANEL.width - PLOT.right}" y2="${base}" stroke="#999999"/>`,
  ];
  if (relative) {
    const one = toY(1).toFixed(1);
    parts.push(`<line x1="${x + PLOT.left}" y1="${one}" x2="${x + PANEL.width - PLOT.right}" y2="${one}" stroke="#555555" stroke-dasharray="4 3"/>`);
  }
  bars.forEach((bar, i) => {
    const left = x + PLOT.left + i * slot + (slot * BAR_GAP) / 2;
    const width = slot * (1 - BAR_GAP);
    const barTop = bar.value === null ? base : toY(bar.value);
    if (bar.value !== null) {
      parts.push(`<rect x="${left.toFixed(1)}" y="${barTop.toFixed(1)}" width="${width.toFixed(1)}" height="${(base - barTop).toFixed(1)}" fill="${bar.color}"/>`);
    }
    parts.push(text(left + width / 2, barTop - 4, bar.label, `font-size="10" text-anchor="middle"${bar.value === null ? ' fill="#999999"' : ''}`));
  });
  return parts.join('\n');
}

function legend(cases: Shown[], color: Map<string, string>, width: number): { svg: string; height: number } {
  const perRow = Math.max(1, Math.floor((width - 2 * MARGIN) / LEGEND.itemWidth));
  const items = cases.map((c, i) => {
    const x = MARGIN + (i % perRow) * LEGEND.itemWidth;
    const y = HEADER_HEIGHT + Math.floor(i / perRow) * LEGEND.rowHeight;
    return `<rect x="${x}" y="${y - 11}" width="14" height="14" fill="${color.get(c.name)}"/>` + text(x + 20, y, c.label, 'font-size="12"');
  });
  return { svg: items.join('\n'), height: Math.ceil(cases.length / perRow) * LEGEND.rowHeight };
}

export function renderSvg(results: Results): string {
  const cases = shownCases(results);
  const metrics = shownMetrics(results);
  const color = colors(cases);
  const width = 2 * MARGIN + COLUMNS * PANEL.width + (COLUMNS - 1) * PANEL.gap;
  const key = legend(cases, color, width);
  const panelsTop = HEADER_HEIGHT + key.height + 4;
  const rows = Math.ceil(metrics.length / COLUMNS);
  const height = panelsTop + rows * (PANEL.height + PANEL.gap) + MARGIN;
  const panels = metrics.map((metric, i) =>
    panel(results, metric, cases, color, MARGIN + (i % COLUMNS) * (PANEL.width + PANEL.gap), panelsTop + Math.floor(i / COLUMNS) * (PANEL.height + PANEL.gap)),
  );
  const subtitle = `${results.mode} run, ${results.date.slice(0, 10)}, ${results.machine.cpus} CPUs, Linux ${results.machine.kernel}; median of ${results.settings.runs} run(s)`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    text(MARGIN, 26, 'nsgate benchmark: each metric relative to direct loopback', 'font-size="17" font-weight="bold"'),
    text(MARGIN, 44, subtitle, 'font-size="12" fill="#555555"'),
    key.svg,
    ...panels,
    '</svg>',
  ].join('\n') + '\n';
}
