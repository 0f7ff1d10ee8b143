/**
 * A hand-written SVG bar chart, one per workload, no dependency: one or two panels side by
 * side (say req/s and p99), a horizontal bar per gateway, its value at the bar's end and, for
 * gateways other than nginx, the ratio to nginx. Portico's bars are orange, nginx's green.
 */
import type { RatedResult } from './report.ts';
import { REFERENCE } from './report.ts';
import type { Workload } from './workloads.ts';

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** Shown after the value, e.g. "×0.45". */
  readonly note?: string;
}

export interface Panel {
  readonly title: string;
  readonly unit: string;
  readonly bars: readonly Bar[];
}

const COLORS: Readonly<Record<string, string>> = {
  portico: '#e8590c',
  nginx: '#2f9e44',
  'nginx-nokeep': '#8ce99a',
};
const OTHER = '#adb5bd';
const PANEL_WIDTH = 420;
const LABEL_WIDTH = 110;
const BAR_HEIGHT = 22;
const GAP = 8;
const TOP = 70;

function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

function formatValue(value: number): string {
  if (value >= 1000) return Math.round(value).toLocaleString('en-US');
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function barChart(title: string, subtitle: string, panels: readonly Panel[]): string {
  const rows = Math.max(1, ...panels.map((p) => p.bars.length));
  const width = panels.length * (PANEL_WIDTH + 20) + 20;
  const height = TOP + rows * (BAR_HEIGHT + GAP) + 30;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="20" y="24" font-size="15" font-weight="600">${escapeXml(title)}</text>`,
    `<text x="20" y="42" fill="#495057">${escapeXml(subtitle)}</text>`,
  ];
  panels.forEach((panel, p) => {
    const x0 = 20 + p * (PANEL_WIDTH + 20);
    const barSpace = PANEL_WIDTH - LABEL_WIDTH - 110;
    const max = Math.max(...panel.bars.map((b) => b.value), 0);
    parts.push(
      `<text x="${x0}" y="${TOP - 10}" font-weight="600">${escapeXml(panel.title)} (${escapeXml(panel.unit)})</text>`,
    );
    panel.bars.forEach((bar, i) => {
      const y = TOP + i * (BAR_HEIGHT + GAP);
      const w = max > 0 ? Math.max(1, (bar.value / max) * barSpace) : 1;
      const color = COLORS[bar.label] ?? OTHER;
      const text = `${formatValue(bar.value)}${bar.note === undefined ? '' : `  ${bar.note}`}`;
      parts.push(
        `<text x="${x0 + LABEL_WIDTH - 6}" y="${y + BAR_HEIGHT / 2 + 4}" text-anchor="end">${escapeXml(bar.label)}</text>`,
        `<rect x="${x0 + LABEL_WIDTH}" y="${y}" width="${w.toFixed(1)}" height="${BAR_HEIGHT}" fill="${color}" rx="2"/>`,
        `<text x="${(x0 + LABEL_WIDTH + w + 6).toFixed(1)}" y="${y + BAR_HEIGHT / 2 + 4}" fill="#212529">${escapeXml(text)}</text>`,
      );
    });
  });
  parts.push('</svg>\n');
  return parts.join('\n');
}

function panel(
  results: readonly RatedResult[],
  title: string,
  unit: string,
  value: (r: RatedResult) => number | undefined,
  ratio: (r: RatedResult) => number | undefined,
): Panel {
  const bars: Bar[] = [];
  for (const r of results) {
    const v = value(r);
    if (r.status !== 'ok' || v === undefined) continue;
    const x = r.gateway === REFERENCE ? undefined : ratio(r);
    bars.push({ label: r.gateway, value: v, ...(x === undefined ? {} : { note: `×${x.toFixed(2)}` }) });
  }
  return { title, unit, bars };
}

/** The chart of one workload from this run's results. */
export function workloadChart(w: Workload, results: readonly RatedResult[], subtitle: string): string {
  const rows = results.filter((r) => r.workload === w.name);
  const vs = (r: RatedResult) => r.ratios?.[REFERENCE];
  let panels: Panel[];
  if (w.kind === 'idle') {
    panels = [
      panel(
        rows,
        'Memory per idle connection',
        'KiB, lower is better',
        (r) => r.idle?.kibPerConnection,
        (r) => vs(r)?.kibPerConnection,
      ),
      panel(
        rows,
        'RSS with the clients open',
        'MiB',
        (r) => r.idle?.rssAfterMiB,
        () => undefined,
      ),
    ];
  } else if (w.kind === 'stream') {
    panels = [
      panel(
        rows,
        'Flush to client, p50',
        'ms, lower is better',
        (r) => r.latencyMs?.p50,
        (r) => vs(r)?.p50,
      ),
      panel(
        rows,
        'Flush to client, p99',
        'ms, lower is better',
        (r) => r.latencyMs?.p99,
        (r) => vs(r)?.p99,
      ),
    ];
  } else {
    panels = [
      panel(
        rows,
        'Throughput',
        'req/s, higher is better',
        (r) => r.rps,
        (r) => vs(r)?.rps,
      ),
      panel(
        rows,
        'Latency p99',
        'ms, lower is better',
        (r) => r.latencyMs?.p99,
        (r) => vs(r)?.p99,
      ),
    ];
  }
  return barChart(`${w.name}: ${w.title}`, subtitle, panels);
}
