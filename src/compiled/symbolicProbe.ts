// Which dims of a traced entry stay symbolic: the code is traced again, shapes only, at
// other sizes of each symbol (see symbolic.ts for how the traces are compared), sizes it
// rejects are kept off the entry, and what cannot be symbolic is pinned with the reason.
import { KilnError } from '../ir/index.js';
import { NO_FUSION, uniformConstants } from '../passes/index.js';
import type { Trace } from './graphTracer.js';
import { generalize, type SymbolProbe } from './symbolic.js';

/** A traced entry made symbolic where the probes allow. */
export interface SymbolicEntry {
  /** The trace with symbolic dims in its types and attributes. */
  readonly trace: Trace;
  /** Symbols kept symbolic. */
  readonly symbols: readonly string[];
  /** Symbols pinned to their traced value, and why. */
  readonly pinned: ReadonlyMap<string, { readonly value: number; readonly reason: string }>;
  /** Symbolic only for sizes ≥ 2 (the code rejects size 1), with its error. */
  readonly atLeastTwo: ReadonlyMap<string, string>;
  /** The smallest size each symbol serves. */
  readonly minSize: ReadonlyMap<string, number>;
}

function failure(name: string, a: number, b: number, e: unknown): string {
  return `tracing at ${name} = ${a} or ${b} failed: ${(e as Error).message.split('\n')[0]}${e instanceof KilnError && e.callSite ? ` (at ${e.callSite})` : ''}`;
}

/**
 * Writes a trace the way traces are compared: filled constants as `expand` of a scalar
 * (the uniform-constants pass), so a size that only shows in their shape is an
 * attribute `generalize` can fit. Returns `trace`, rewritten in place.
 */
export function normalizeTrace(trace: Trace, mode: 'inference' | 'training'): Trace {
  uniformConstants.run(trace.graph, { mode, live: new Set(trace.live.keys()), target: NO_FUSION });
  return trace;
}

/**
 * Probes each symbol of `values` (its value in the real trace `trace`) with
 * `traceAt(name, size)`, a shape-only trace at that size, and generalizes `trace` (which
 * it rewrites in place). All traces are normalized first (see `normalizeTrace`).
 * `pinAll`: a symbolic graph was refused at these sizes before, so every symbol is pinned.
 */
export function findSymbolicDims(real: Trace, values: ReadonlyMap<string, number>, pinAll: boolean, mode: 'inference' | 'training', probe: (name: string, size: number) => Trace): SymbolicEntry {
  const trace = normalizeTrace(real, mode);
  const traceAt = (name: string, size: number): Trace => normalizeTrace(probe(name, size), mode);
  const probes: SymbolProbe[] = [];
  const atLeastTwo = new Map<string, string>();
  const minSize = new Map<string, number>();
  for (const [name, v] of values) {
    if (pinAll) {
      probes.push({ name, values: [v, v + 1, v + 2], variants: `the symbolic graph did not hold for these sizes, so this entry is specialized` });
      continue;
    }
    // Size 1 is among the probes: it is where code most often special-cases a size
    // (squeeze, broadcasting shortcuts), and a structural difference there pins the dim.
    let sizes: [number, number, number] = [v, v + 1, v <= 1 ? v + 2 : 1];
    let variants: SymbolProbe['variants'];
    try {
      variants = [traceAt(name, sizes[1]), traceAt(name, sizes[2])];
    } catch (e) {
      variants = failure(name, sizes[1], sizes[2], e);
      // Code that rejects size 1 (BatchNorm when training) can still be symbolic for
      // sizes ≥ 2: probe v + 2 instead and keep size 1 off this entry.
      if (sizes[2] === 1) {
        const reason = variants;
        try {
          variants = [traceAt(name, v + 1), traceAt(name, v + 2)];
          sizes = [v, v + 1, v + 2];
          atLeastTwo.set(name, reason);
        } catch (e2) {
          variants = failure(name, v + 1, v + 2, e2);
        }
      }
    }
    probes.push({ name, values: sizes, variants });
    // The entry serves sizes from the smallest probed one up (2 when size 1 failed):
    // below it (size 0) the code was never run, and may reject it (BatchNorm) or differ.
    minSize.set(name, atLeastTwo.has(name) ? 2 : Math.min(...sizes));
  }
  const gen = generalize(trace, probes);
  const pinned = new Map([...gen.pinned].map(([name, reason]) => [name, { value: values.get(name)!, reason }]));
  return {
    trace: gen.trace,
    symbols: [...values.keys()].filter((s) => !pinned.has(s)),
    pinned,
    atLeastTwo: new Map([...atLeastTwo].filter(([name]) => !pinned.has(name))),
    minSize: new Map([...minSize].filter(([name]) => !pinned.has(name))),
  };
}
