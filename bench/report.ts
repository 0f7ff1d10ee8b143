/**
 * The report of one run: every figure of every gateway next to nginx's from the same run
 * (ratios), as terminal tables (or Markdown, for docs/performance.md) and as the JSON record.
 */
import type { Result } from './measure.ts';
import type { Workload } from './workloads.ts';

/** The bar every other gateway is divided by, and Portico's fair second reference. */
export const REFERENCE = 'nginx';
export const REFERENCE_NOKEEP = 'nginx-nokeep';

export interface Ratios {
  readonly rps?: number;
  readonly p50?: number;
  readonly p99?: number;
  readonly p999?: number;
  readonly mbps?: number;
  readonly cpuMsPer1k?: number;
  readonly peakRssMiB?: number;
  readonly kibPerConnection?: number;
}

export type RatedResult = Result & { readonly ratios?: Readonly<Record<string, Ratios>> };

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || b === 0) return undefined;
  return Math.round((a / b) * 1000) / 1000;
}

function ratiosOf(r: Result, ref: Result): Ratios {
  const out: Record<string, number> = {};
  const put = (key: keyof Ratios, value: number | undefined): void => {
    if (value !== undefined) out[key] = value;
  };
  put('rps', ratio(r.rps, ref.rps));
  put('p50', ratio(r.latencyMs?.p50, ref.latencyMs?.p50));
  put('p99', ratio(r.latencyMs?.p99, ref.latencyMs?.p99));
  put('p999', ratio(r.latencyMs?.p999, ref.latencyMs?.p999));
  put('mbps', ratio(r.mbps, ref.mbps));
  put('cpuMsPer1k', ratio(r.cpuMsPer1k, ref.cpuMsPer1k));
  put('peakRssMiB', ratio(r.peakRssMiB, ref.peakRssMiB));
  // A negative or zero growth (memory the allocator had already) has no meaningful ratio.
  const kib = r.idle?.kibPerConnection;
  const refKib = ref.idle?.kibPerConnection;
  if (kib !== undefined && refKib !== undefined && kib > 0 && refKib > 0)
    put('kibPerConnection', ratio(kib, refKib));
  return out;
}

/** Adds, to every result of a gateway other than the reference, its ratios to nginx (and nginx-nokeep). */
export function rate(results: readonly Result[]): RatedResult[] {
  const find = (gateway: string, workload: string): Result | undefined =>
    results.find((r) => r.gateway === gateway && r.workload === workload && r.status === 'ok');
  return results.map((r) => {
    if (r.status !== 'ok' || r.gateway === REFERENCE) return r;
    const ratios: Record<string, Ratios> = {};
    for (const refName of [REFERENCE, REFERENCE_NOKEEP]) {
      if (refName === r.gateway) continue;
      const ref = find(refName, r.workload);
      if (ref !== undefined) ratios[refName] = ratiosOf(r, ref);
    }
    return Object.keys(ratios).length > 0 ? { ...r, ratios } : r;
  });
}

// ---------------------------------------------------------------------------------------------
// Tables

function int(n: number | undefined): string {
  return n === undefined ? '' : Math.round(n).toLocaleString('en-US');
}

function dec(n: number | undefined, digits = 2): string {
  if (n === undefined) return '';
  if (n >= 100) return n.toFixed(0);
  if (n >= 10) return n.toFixed(Math.min(1, digits));
  return n.toFixed(digits);
}

function times(n: number | undefined): string {
  return n === undefined ? '' : `×${n.toFixed(2)}`;
}

interface Column {
  readonly header: string;
  readonly value: (r: RatedResult) => string;
  readonly left?: boolean;
}

const vs = (r: RatedResult): Ratios | undefined => r.ratios?.[REFERENCE];

const NAME: Column = { header: 'gateway', value: (r) => r.gateway, left: true };
const ERRORS: Column = {
  header: 'errors HTTP/socket',
  value: (r) => (r.errors === undefined ? '' : `${r.errors.non2xx}/${r.errors.socket}`),
};
/** Processes the bench did not start used this much CPU during the run (a shared machine). */
const BUSY_PCT = 5;

const NOTES: Column = {
  header: 'notes',
  value: (r) => {
    const notes = [...r.notes];
    if ((r.foreignCpuPct ?? 0) >= BUSY_PCT)
      notes.push(`DISTURBED: other processes used ${r.foreignCpuPct}% CPU`);
    return notes.join('; ');
  },
  left: true,
};
const CPU1K: Column = { header: 'CPU ms/1k', value: (r) => dec(r.cpuMsPer1k, 1) };
const CPU: Column = { header: 'CPU %', value: (r) => int(r.cpuPct) };
const RSS: Column = { header: 'peak RSS MiB', value: (r) => dec(r.peakRssMiB, 1) };

const WRK_COLUMNS: readonly Column[] = [
  NAME,
  { header: 'req/s', value: (r) => int(r.rps) },
  { header: 'vs nginx', value: (r) => times(vs(r)?.rps) },
  { header: 'p50 ms', value: (r) => dec(r.latencyMs?.p50) },
  { header: 'p99 ms', value: (r) => dec(r.latencyMs?.p99) },
  { header: 'p99.9 ms', value: (r) => dec(r.latencyMs?.p999) },
  { header: 'MB/s', value: (r) => dec(r.mbps, 1) },
  CPU1K,
  CPU,
  { header: 'backend CPU %', value: (r) => int(r.backendCpuPct) },
  { header: 'load core %', value: (r) => int(r.corePct?.load) },
  RSS,
  ERRORS,
  NOTES,
];

const STREAM_COLUMNS: readonly Column[] = [
  NAME,
  {
    header: 'chunks',
    value: (r) => (r.stream ? `${r.stream.receivedChunks}/${r.stream.expectedChunks}` : ''),
  },
  { header: 'p50 ms', value: (r) => dec(r.latencyMs?.p50, 3) },
  { header: 'p99 ms', value: (r) => dec(r.latencyMs?.p99, 3) },
  { header: 'max ms', value: (r) => dec(r.latencyMs?.max, 3) },
  { header: 'p99 vs nginx', value: (r) => times(vs(r)?.p99) },
  CPU,
  RSS,
  ERRORS,
  NOTES,
];

const IDLE_COLUMNS: readonly Column[] = [
  NAME,
  { header: 'opened', value: (r) => int(r.idle?.opened) },
  { header: 'failed', value: (r) => int(r.idle?.failed) },
  { header: 'open s', value: (r) => dec(r.seconds, 2) },
  { header: 'RSS before MiB', value: (r) => dec(r.idle?.rssBeforeMiB, 1) },
  { header: 'RSS idle MiB', value: (r) => dec(r.idle?.rssAfterMiB, 1) },
  { header: 'KiB/conn', value: (r) => dec(r.idle?.kibPerConnection, 2) },
  { header: 'vs nginx', value: (r) => times(vs(r)?.kibPerConnection) },
  CPU1K,
  RSS,
  NOTES,
];

function columnsFor(w: Workload): readonly Column[] {
  return w.kind === 'stream' ? STREAM_COLUMNS : w.kind === 'idle' ? IDLE_COLUMNS : WRK_COLUMNS;
}

function renderTable(columns: readonly Column[], rows: readonly RatedResult[], markdown: boolean): string {
  const cells = rows.map((r) =>
    r.status === 'ok'
      ? columns.map((c) => c.value(r))
      : [r.gateway, `${r.status}: ${r.reason ?? ''}`, ...columns.slice(2).map(() => '')],
  );
  if (markdown) {
    const line = (values: readonly string[]): string => `| ${values.join(' | ')} |`;
    return [
      line(columns.map((c) => c.header)),
      line(columns.map((c) => (c.left ? '---' : '---:'))),
      ...cells.map((row) => line(row.map((v) => v.replaceAll('|', '\\|')))),
    ].join('\n');
  }
  const okCells = cells.filter((_, i) => rows[i]!.status === 'ok');
  const widths = columns.map((c, i) =>
    Math.max(
      c.header.length,
      ...okCells.map((row) => row[i]!.length),
      ...(i === 0 ? cells.map((row) => row[0]!.length) : []),
    ),
  );
  const line = (values: readonly string[], failed = false): string =>
    failed
      ? `${values[0]!.padEnd(widths[0]!)}  ${values[1]}`
      : values
          .map((v, i) => (columns[i]!.left ? v.padEnd(widths[i]!) : v.padStart(widths[i]!)))
          .join('  ')
          .trimEnd();
  return [
    line(columns.map((c) => c.header)),
    ...cells.map((row, i) => line(row, rows[i]!.status !== 'ok')),
  ].join('\n');
}

export function formatTables(
  results: readonly RatedResult[],
  workloads: readonly Workload[],
  settings: { durationS: number; quick: boolean },
  markdown = false,
): string {
  const out: string[] = [];
  for (const w of workloads) {
    const rows = results.filter((r) => r.workload === w.name);
    if (rows.length === 0) continue;
    const how = w.kind === 'wrk' ? ` (${settings.durationS} s measured)` : '';
    out.push(markdown ? `\n#### ${w.name}: ${w.title}${how}\n` : `\n${w.name}: ${w.title}${how}`);
    out.push(renderTable(columnsFor(w), rows, markdown));
  }
  const summary = summaryRows(results, workloads);
  if (summary.length > 0) {
    out.push(
      markdown
        ? '\n#### Portico / nginx, same run\n'
        : '\nPortico / nginx, same run (×1.00 = equal; req/s higher is better, the rest lower)',
    );
    out.push(renderTable(SUMMARY_COLUMNS, summary, markdown));
  }
  return out.join('\n');
}

const ref =
  (name: string, key: keyof Ratios): ((r: RatedResult) => string) =>
  (r) =>
    times(r.ratios?.[name]?.[key]);

const SUMMARY_COLUMNS: readonly Column[] = [
  { header: 'workload', value: (r) => r.workload, left: true },
  { header: 'req/s', value: ref(REFERENCE, 'rps') },
  { header: 'p50', value: ref(REFERENCE, 'p50') },
  { header: 'p99', value: ref(REFERENCE, 'p99') },
  { header: 'p99.9', value: ref(REFERENCE, 'p999') },
  { header: 'CPU/1k req', value: ref(REFERENCE, 'cpuMsPer1k') },
  { header: 'peak RSS', value: ref(REFERENCE, 'peakRssMiB') },
  { header: 'KiB/conn', value: ref(REFERENCE, 'kibPerConnection') },
  { header: 'req/s vs nginx-nokeep', value: ref(REFERENCE_NOKEEP, 'rps') },
  { header: 'CPU/1k vs nginx-nokeep', value: ref(REFERENCE_NOKEEP, 'cpuMsPer1k') },
];

function summaryRows(results: readonly RatedResult[], workloads: readonly Workload[]): RatedResult[] {
  const rows: RatedResult[] = [];
  for (const w of workloads) {
    const r = results.find((x) => x.gateway === 'portico' && x.workload === w.name && x.status === 'ok');
    if (r?.ratios !== undefined) rows.push(r);
  }
  return rows;
}
