// The compiled entries of a compiled model: one per input signature (and module mode),
// either one graph that runs without the user's code, or, for code with graph breaks,
// the code itself run lazily (its segments compiled and cached at run time).
import type { Graph } from '../ir/index.js';
import type { PipelineReport } from '../passes/index.js';
import type { ExecutionPlan } from './executionPlan.js';
import type { GraphBreak, Trace } from './graphTracer.js';
import type { Guard } from './guards.js';

interface EntryCommon {
  readonly guard: Guard;
  /** The module's `training` flag it was traced with (null for a plain function). */
  readonly training: boolean | null;
  hits: number;
}

/** A compiled graph run without the user's code (no graph break). */
export interface GraphEntry extends EntryCommon {
  readonly kind: 'graph';
  readonly trace: Trace;
  readonly plan: ExecutionPlan;
  /** The graph after the pass pipeline (what the plan runs), and what each pass did. */
  readonly optimized: Graph;
  readonly report: PipelineReport;
  /** Symbols kept symbolic. */
  readonly symbols: readonly string[];
  /** Symbols pinned to their traced value, and why. */
  readonly pinned: ReadonlyMap<string, { readonly value: number; readonly reason: string }>;
  /** Bindings the plan was found not to hold for (they retrace with every dim pinned). */
  readonly refused: Set<string>;
  /**
   * Symbols the user's code rejects at size 1 (e.g. BatchNorm in training), with the
   * error: the entry serves sizes ≥ 2 only (see `minSize`).
   */
  readonly atLeastTwo: ReadonlyMap<string, string>;
  /**
   * The smallest size each symbol serves. Sizes below were never traced (0 unless the
   * first call had it, 1 where the code rejects it): a call there retraces, so the code
   * itself decides, raising its own error as eager does, before any state is written.
   */
  readonly minSize: ReadonlyMap<string, number>;
  /** Every submodule's `training` flag when traced, in `ModuleStructure` order (null for a plain function). */
  readonly flags: readonly boolean[] | null;
}

/** A call with graph breaks: the code runs lazily, its segments are compiled and cached. */
export interface SegmentEntry extends EntryCommon {
  readonly kind: 'segments';
  /** The whole traced call. */
  readonly graph: Graph;
  readonly breaks: readonly GraphBreak[];
  /** How many segments the traced call split into at its breaks. */
  readonly segmentCount: number;
}

export type Entry = GraphEntry | SegmentEntry;

/** How many segments a traced call of `nodeCount` nodes splits into at `breaks`. */
export function segmentCount(nodeCount: number, breaks: readonly GraphBreak[]): number {
  const cuts = [...new Set([0, ...breaks.map((b) => b.node), nodeCount])].sort((a, b) => a - b);
  let n = 0;
  for (let i = 0; i + 1 < cuts.length; i++) if (cuts[i]! < cuts[i + 1]!) n++;
  return n;
}

/**
 * Whether graph entry `e` serves the symbols' values `bindings`: none below the sizes it
 * was traced for, not refused before, and its plan holds there (checked once per
 * binding; a refusal is remembered).
 */
export function graphEntryServes(e: GraphEntry, bindings: ReadonlyMap<string, number>): boolean {
  if (!e.plan.isSymbolic) return true;
  const symbols = e.symbols;
  for (let i = 0; i < symbols.length; i++) {
    const min = e.minSize.get(symbols[i]!);
    if (min !== undefined && bindings.get(symbols[i]!)! < min) return false;
  }
  // A binding resolved before holds (a refused one never is): the hot path makes no key.
  if (e.plan.isResolved(bindings)) return true;
  const key = [...bindings].join(';');
  if (e.refused.has(key)) return false;
  if (e.plan.prepare(bindings) !== null) {
    e.refused.add(key);
    return false;
  }
  return true;
}
