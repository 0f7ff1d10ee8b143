/**
 * Reads a V8 `.cpuprofile` (what `node --cpu-prof` writes: a call tree of nodes, the sampled
 * node ids and the microseconds between samples) and aggregates it: self and total time by
 * function, by file and by category. No dependencies.
 *
 * A sample's duration is the gap to the next sample (as Chrome DevTools counts it); the last
 * sample gets the mean gap. Total time counts a sample once per function (or file, or
 * category) on its stack, however often that appears (recursion).
 */
import { categoryOf, NATIVE_PREFIX } from './categories.ts';

export interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  /** 0-based. */
  readonly lineNumber: number;
  readonly columnNumber: number;
}

export interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  /** Microseconds, V8's monotonic clock (CLOCK_MONOTONIC on Linux, as process.hrtime). */
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Only the samples taken inside [fromUs, toUs] (profile clock) count, when given. */
export interface Window {
  readonly fromUs?: number;
  readonly toUs?: number;
}

export interface Row {
  readonly key: string;
  /** Microseconds. */
  readonly self: number;
  readonly total: number;
}

export interface Summary {
  /** Microseconds of samples inside the window. */
  readonly sampledUs: number;
  readonly samples: number;
  readonly byFunction: readonly Row[];
  readonly byFile: readonly Row[];
  readonly byCategory: readonly Row[];
}

/** `src/cgi/env.ts` for a file of this repository, `node:net`, or the url as it is. */
export function shortUrl(url: string, repo: string): string {
  const prefix = `file://${repo}/`;
  if (url.startsWith(prefix)) return url.slice(prefix.length);
  if (url.startsWith('file://')) return url.slice(7);
  return url;
}

function functionKey(frame: CallFrame, file: string): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  if (file === '') return `${name} (native)`;
  return `${name} ${file}:${frame.lineNumber + 1}`;
}

interface Keys {
  readonly fn: string;
  readonly file: string;
  readonly category: string;
}

/** Aggregates `profile`; `repo` shortens this repository's file URLs. */
export function summarise(profile: CpuProfile, repo: string, window: Window = {}): Summary {
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  // Time per node from the samples inside the window.
  const nodeSelf = new Map<number, number>();
  const n = profile.samples.length;
  let at = profile.startTime;
  let gapSum = 0;
  for (let i = 1; i < n; i++) gapSum += profile.timeDeltas[i] ?? 0;
  const meanGap = n > 1 ? gapSum / (n - 1) : 0;
  let sampledUs = 0;
  let counted = 0;
  for (let i = 0; i < n; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (
      (window.fromUs !== undefined && at < window.fromUs) ||
      (window.toUs !== undefined && at > window.toUs)
    )
      continue;
    const duration = i + 1 < n ? (profile.timeDeltas[i + 1] ?? 0) : meanGap;
    const id = profile.samples[i]!;
    nodeSelf.set(id, (nodeSelf.get(id) ?? 0) + duration);
    sampledUs += duration;
    counted++;
  }

  // Per node: its keys. A native frame (no url) takes its category from the nearest caller
  // with one, so a writev under node:net reads as a socket syscall.
  const keys = new Map<number, Keys>();
  const keysOf = (id: number): Keys => {
    const known = keys.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id)!;
    const file = shortUrl(node.callFrame.url, repo);
    let category = categoryOf(node.callFrame.functionName, file);
    if (category === undefined) {
      const up = parent.get(id);
      const callerCategory = up === undefined ? 'native' : keysOf(up).category;
      category = callerCategory.startsWith(NATIVE_PREFIX)
        ? callerCategory
        : `${NATIVE_PREFIX}${callerCategory}`;
    }
    const made = { fn: functionKey(node.callFrame, file), file: file === '' ? '(native)' : file, category };
    keys.set(id, made);
    return made;
  };

  const self = {
    fn: new Map<string, number>(),
    file: new Map<string, number>(),
    category: new Map<string, number>(),
  };
  const total = {
    fn: new Map<string, number>(),
    file: new Map<string, number>(),
    category: new Map<string, number>(),
  };
  const add = (m: Map<string, number>, k: string, v: number): void => {
    m.set(k, (m.get(k) ?? 0) + v);
  };

  // Subtree time per node (children before parents: iterate a DFS order backwards).
  const order: number[] = [];
  const root = profile.nodes.find((node) => !parent.has(node.id));
  if (root !== undefined) {
    const stack = [root.id];
    while (stack.length > 0) {
      const id = stack.pop()!;
      order.push(id);
      for (const child of byId.get(id)?.children ?? []) stack.push(child);
    }
  }
  const subtree = new Map<number, number>();
  for (let i = order.length - 1; i >= 0; i--) {
    const id = order[i]!;
    let sum = nodeSelf.get(id) ?? 0;
    for (const child of byId.get(id)?.children ?? []) sum += subtree.get(child) ?? 0;
    subtree.set(id, sum);
  }

  // Self: each node's own time. Total: a node's subtree time goes to a key unless an
  // ancestor on the path already carries that key (counted there already).
  const onPath = {
    fn: new Map<string, number>(),
    file: new Map<string, number>(),
    category: new Map<string, number>(),
  };
  const enter = (id: number): void => {
    const k = keysOf(id);
    const s = nodeSelf.get(id) ?? 0;
    const t = subtree.get(id) ?? 0;
    for (const dim of ['fn', 'file', 'category'] as const) {
      if (s > 0) add(self[dim], k[dim], s);
      const depth = onPath[dim].get(k[dim]) ?? 0;
      if (depth === 0 && t > 0) add(total[dim], k[dim], t);
      onPath[dim].set(k[dim], depth + 1);
    }
  };
  const leave = (id: number): void => {
    const k = keysOf(id);
    for (const dim of ['fn', 'file', 'category'] as const)
      onPath[dim].set(k[dim], onPath[dim].get(k[dim])! - 1);
  };
  if (root !== undefined) {
    // Iterative DFS with explicit leave markers (profiles can be deep).
    const stack: number[] = [root.id];
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (id < 0) {
        leave(-id - 1);
        continue;
      }
      if ((subtree.get(id) ?? 0) === 0) continue;
      enter(id);
      stack.push(-id - 1);
      for (const child of byId.get(id)?.children ?? []) stack.push(child);
    }
  }

  const rows = (dim: 'fn' | 'file' | 'category'): Row[] =>
    [...total[dim].keys()]
      .map((key) => ({ key, self: self[dim].get(key) ?? 0, total: total[dim].get(key) ?? 0 }))
      .sort((a, b) => b.self - a.self || b.total - a.total);
  return {
    sampledUs,
    samples: counted,
    byFunction: rows('fn'),
    byFile: rows('file'),
    byCategory: rows('category'),
  };
}

function pct(us: number, of: number): string {
  return of === 0 ? '0.0' : ((us * 100) / of).toFixed(1);
}

/** A plain-text table of the top `top` rows, sorted by self (or total) time. */
export function formatRows(
  title: string,
  rows: readonly Row[],
  sampledUs: number,
  top: number,
  by: 'self' | 'total' = 'self',
): string {
  const sorted = by === 'self' ? rows : [...rows].sort((a, b) => b.total - a.total);
  const lines = [
    `${title} (top ${Math.min(top, sorted.length)} by ${by} time)`,
    '  self%  total%   self ms  key',
  ];
  for (const row of sorted.slice(0, top)) {
    lines.push(
      `${pct(row.self, sampledUs).padStart(7)} ${pct(row.total, sampledUs).padStart(7)} ${(row.self / 1000)
        .toFixed(1)
        .padStart(9)}  ${row.key}`,
    );
  }
  return lines.join('\n');
}

/** The whole summary as text: categories, files and functions. */
export function formatSummary(summary: Summary, top: number): string {
  const head = `${summary.samples} samples, ${(summary.sampledUs / 1000).toFixed(0)} ms sampled`;
  return [
    head,
    formatRows('By category', summary.byCategory, summary.sampledUs, top),
    formatRows('By file', summary.byFile, summary.sampledUs, top),
    formatRows('By file', summary.byFile, summary.sampledUs, top, 'total'),
    formatRows('By function', summary.byFunction, summary.sampledUs, top),
    formatRows('By function', summary.byFunction, summary.sampledUs, top, 'total'),
  ].join('\n\n');
}
