/**
 * Benchmark harness: warm-up (calls, then untimed rounds for ≥ 1 s), then ≥5 interleaved
 * rounds (every contender runs once per round, so machine noise hits all alike); reports
 * the median of the per-round times. Results are printed as a table with ratios against
 * a baseline and written to bench/results/<suite>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Contender {
  name: string;
  /** One operation; `run` is called `iters` times per round. */
  run: () => void;
}

/** A contender whose operation may be asynchronous (onnxruntime's `session.run`); see `compareAsync`. */
export interface AsyncContender {
  name: string;
  /** One operation; awaited when it returns a promise. */
  run: () => void | Promise<void>;
  /**
   * Idle milliseconds after each of its rounds, outside the timing: thread pools (XNNPACK's,
   * ONNX Runtime's) spin for a while after their work before they sleep, and on a machine
   * with few cores that spin would be charged to the next contender.
   */
  settleMs?: number;
}

export interface Comparison {
  title: string;
  /** Name of the contender the ratios are relative to. */
  baseline: string;
  contenders: Contender[];
  /** Calls per round (per-call time = round time / iters). */
  iters: number;
  unit: 'us' | 'ms';
  /** Interleaved rounds (default KILN_BENCH_ROUNDS or 7; never below 5). */
  rounds?: number;
  /** Warm-up calls per contender (default max(3, iters/4)). */
  warmup?: number;
  /**
   * Then untimed interleaved rounds until this many milliseconds have passed (default
   * KILN_BENCH_WARMUP_MS or 1000; 0: none): right after a suite's set-up the machine is
   * not yet steady (V8's background compiler and GC threads, peers' thread pools winding
   * down), which measured 1.5–2× slower for the first ≈ 1 s on 2 cores.
   */
  warmupMs?: number;
}

export interface Row {
  title: string;
  name: string;
  median: number;
  rounds: number[];
  ratio: number;
  unit: string;
  /** Suite-specific facts about the row (cross-check results, targets), saved with it. */
  extra?: Record<string, unknown>;
}

export const ROUNDS = Math.max(5, Number(process.env['KILN_BENCH_ROUNDS'] ?? 7));
const WARMUP_MS = Math.max(0, Number(process.env['KILN_BENCH_WARMUP_MS'] ?? 1000));

export function compare(c: Comparison): Row[] {
  const warmup = c.warmup ?? Math.max(3, c.iters / 4);
  for (const k of c.contenders) for (let i = 0; i < warmup; i++) k.run(); // warm-up (JIT, heap growth)
  for (const t0 = performance.now(), ms = c.warmupMs ?? WARMUP_MS; performance.now() - t0 < ms;) {
    for (const k of c.contenders) for (let i = 0; i < c.iters; i++) k.run();
  }
  const rounds = Math.max(5, c.rounds ?? ROUNDS);
  const times = new Map<string, number[]>(c.contenders.map((k) => [k.name, []]));
  const scale = c.unit === 'us' ? 1000 : 1;
  for (let r = 0; r < rounds; r++) {
    for (const k of c.contenders) {
      const t0 = performance.now();
      for (let i = 0; i < c.iters; i++) k.run();
      times.get(k.name)!.push(((performance.now() - t0) * scale) / c.iters);
    }
  }
  return comparisonRows(c, times);
}

/**
 * `compare` for contenders that may return promises: the same warm-up, interleaved rounds
 * and medians; a promise is awaited before the next call (its resolution is part of the
 * time, as a caller of that API pays it). Synchronous contenders are not awaited.
 */
export async function compareAsync(c: Omit<Comparison, 'contenders'> & { contenders: AsyncContender[] }): Promise<Row[]> {
  const warmup = c.warmup ?? Math.max(3, c.iters / 4);
  const runAll = async (calls: (k: AsyncContender) => number): Promise<void> => {
    for (const k of c.contenders) {
      for (let i = 0, n = calls(k); i < n; i++) {
        const p = k.run();
        if (p) await p;
      }
      if (k.settleMs) await new Promise((resolve) => setTimeout(resolve, k.settleMs));
    }
  };
  await runAll(() => warmup);
  for (const t0 = performance.now(), ms = c.warmupMs ?? WARMUP_MS; performance.now() - t0 < ms;) await runAll(() => c.iters);
  const rounds = Math.max(5, c.rounds ?? ROUNDS);
  const times = new Map<string, number[]>(c.contenders.map((k) => [k.name, []]));
  const scale = c.unit === 'us' ? 1000 : 1;
  for (let r = 0; r < rounds; r++) {
    for (const k of c.contenders) {
      const t0 = performance.now();
      for (let i = 0; i < c.iters; i++) {
        const p = k.run();
        if (p) await p;
      }
      times.get(k.name)!.push(((performance.now() - t0) * scale) / c.iters);
      if (k.settleMs) await new Promise((resolve) => setTimeout(resolve, k.settleMs));
    }
  }
  return comparisonRows(c, times);
}

/** The median (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function comparisonRows(c: { title: string; baseline: string; unit: 'us' | 'ms'; contenders: readonly { name: string }[] }, times: Map<string, number[]>): Row[] {
  const base = median(times.get(c.baseline)!);
  return c.contenders.map((k) => {
    const m = median(times.get(k.name)!);
    return { title: c.title, name: k.name, median: m, rounds: times.get(k.name)!, ratio: m / base, unit: c.unit };
  });
}

export function printRows(rows: Row[]): void {
  let title = '';
  for (const r of rows) {
    if (r.title !== title) {
      title = r.title;
      console.log(`\n${title}`);
    }
    const rounds = r.rounds.map((x) => x.toFixed(r.unit === 'us' ? 2 : 1)).join('/');
    console.log(`  ${r.name.padEnd(34)} ${r.median.toFixed(r.unit === 'us' ? 3 : 2).padStart(9)} ${r.unit}  ×${r.ratio.toFixed(2).padEnd(5)} rounds ${rounds}`);
  }
}

export function saveRows(suite: string, rows: Row[]): void {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${suite}.json`);
  writeFileSync(file, JSON.stringify({ suite, date: new Date().toISOString(), node: process.version, rounds: ROUNDS, rows }, null, 2));
  console.log(`\nwritten ${path.relative(process.cwd(), file)}`);
}
