// The pass pipeline: which passes run at which level, verification and IR dumps between
// passes, and the record explain() prints.
import { KilnError, printGraph, verifyGraph, type Graph } from '../ir/index.js';
import { activationFusion } from './activationFusion.js';
import { algebraicSimplification } from './algebraic.js';
import { biasFusion } from './biasFusion.js';
import { bnFolding } from './bnFolding.js';
import { commonSubexpressionElimination } from './commonSubexpressions.js';
import { constantFolding } from './constantFolding.js';
import { deadCodeElimination } from './deadCode.js';
import { dropoutRemoval } from './dropoutRemoval.js';
import { elementwiseFusion } from './elementwiseFusion.js';
import { rnnUnrolling } from './rnnUnrolling.js';
import { layout } from './layout.js';
import { levelIncludes, OPT_LEVELS, type OptLevel, type Pass, type PassContext } from './pass.js';

/**
 * The built-in passes in pipeline order, each with the lowest level it runs at. O2 adds
 * RNN unrolling, bias fusion, activation fusion and elementwise fusion (after layout, so it
 * sees the NHWC graph at O3); O3 adds layout (NHWC conv regions).
 * Memory planning is not a pass: it runs at lowering, on the schedule.
 */
export const BUILTIN_PASSES: readonly Pass[] = [
  deadCodeElimination,
  dropoutRemoval,
  constantFolding,
  algebraicSimplification,
  commonSubexpressionElimination,
  constantFolding,
  bnFolding,
  algebraicSimplification,
  commonSubexpressionElimination,
  rnnUnrolling,
  biasFusion,
  activationFusion,
  layout,
  elementwiseFusion,
  deadCodeElimination,
];

/** Sizes of a graph, before or after a pass. */
export interface GraphSize {
  readonly nodes: number;
  readonly constants: number;
}

/** What one pass did. */
export interface PassRecord {
  readonly pass: string;
  readonly before: GraphSize;
  readonly after: GraphSize;
  readonly changed: boolean;
}

/** What a pipeline run did, pass by pass. */
export interface PipelineReport {
  readonly level: OptLevel;
  readonly records: readonly PassRecord[];
  readonly before: GraphSize;
  readonly after: GraphSize;
}

export interface PassManagerOptions {
  /** Default 'O1'. */
  readonly level?: OptLevel;
  /** Appended after the built-in passes (each runs when the level includes its own). */
  readonly passes?: readonly Pass[];
  /** Run the verifier after every pass (tests set it); a broken graph throws naming the pass. */
  readonly verify?: boolean;
  /** Print the graph after every pass (default: the environment variable KILN_DUMP_IR=1). */
  readonly dumpIR?: boolean;
  /** Where dumps go (default console.log). */
  readonly log?: (text: string) => void;
}

function sizeOf(g: Graph): GraphSize {
  return { nodes: g.nodes.length, constants: g.constants.size };
}

/** Whether KILN_DUMP_IR=1 is set (Node); false where there is no process (browsers). */
export function dumpIRFromEnv(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.['KILN_DUMP_IR'] === '1';
}

/**
 * Runs passes over a graph, in place, at an optimization level: `O0` runs none; `O1`
 * dead code, dropout (where marked), constant folding, algebraic simplification, CSE and
 * BatchNorm folding; `O2` adds bias, activation and elementwise fusion; `O3` adds what exists of its passes. Records node and
 * constant counts around every pass (see `formatReport`).
 *
 * @example
 * ```ts
 * const pm = new PassManager({ level: 'O1', verify: true });
 * const report = pm.run(graph, { mode: 'inference', live: new Set(), target: NO_FUSION });
 * console.log(formatReport(report));
 * ```
 */
export class PassManager {
  readonly level: OptLevel;
  private readonly pipeline: Pass[];
  private readonly verify: boolean;
  private readonly dumpIR: boolean;
  private readonly log: (text: string) => void;

  constructor(options: PassManagerOptions = {}) {
    this.level = options.level ?? 'O1';
    if (!OPT_LEVELS.includes(this.level)) throw new KilnError(`unknown optimization level '${String(this.level)}' (expected ${OPT_LEVELS.join(', ')})`);
    this.pipeline = [...BUILTIN_PASSES, ...(options.passes ?? [])];
    this.verify = options.verify ?? false;
    this.dumpIR = options.dumpIR ?? dumpIRFromEnv();
    this.log = options.log ?? ((t) => console.log(t));
  }

  /** The passes that run at this level, in order. */
  get passes(): readonly Pass[] {
    return this.level === 'O0' ? [] : this.pipeline.filter((p) => levelIncludes(this.level, p.level));
  }

  /** Appends a pass (runs when the level includes its own). */
  add(pass: Pass): this {
    this.pipeline.push(pass);
    return this;
  }

  /** Runs the passes over `graph` (edited in place). */
  run(graph: Graph, ctx: PassContext): PipelineReport {
    const start = sizeOf(graph);
    const records: PassRecord[] = [];
    if (this.dumpIR) this.log(`// IR before the ${this.level} pipeline\n${printGraph(graph)}`);
    for (const pass of this.passes) {
      const before = sizeOf(graph);
      let changed: boolean;
      try {
        changed = pass.run(graph, ctx);
      } catch (e) {
        if (e instanceof KilnError) throw new KilnError(`pass '${pass.name}' failed: ${e.message}`, { op: 'compile' });
        throw e;
      }
      if (this.verify) {
        try {
          verifyGraph(graph);
        } catch (e) {
          throw new KilnError(`pass '${pass.name}' left an invalid graph: ${(e as Error).message}`, { op: 'compile' });
        }
      }
      const after = sizeOf(graph);
      records.push({ pass: pass.name, before, after, changed });
      if (this.dumpIR) this.log(`// IR after ${pass.name} (${after.nodes} nodes, ${after.constants} constants${changed ? '' : ', unchanged'})\n${printGraph(graph)}`);
    }
    return { level: this.level, records, before: start, after: sizeOf(graph) };
  }
}

/**
 * The pipeline as explain() shows it: one line per pass with node (and constant)
 * counts before → after.
 *
 * @example
 * ```ts
 * formatReport(report);
 * // pipeline O1: 17 → 5 nodes, 7 → 6 constants
 * //   deadCode          17 → 17 nodes   7 → 7 constants
 * //   constantFolding   17 → 11 nodes   7 → 10 constants
 * //   ...
 * ```
 */
export function formatReport(r: PipelineReport, indent = ''): string {
  const lines = [`${indent}pipeline ${r.level}: ${r.before.nodes} → ${r.after.nodes} nodes, ${r.before.constants} → ${r.after.constants} constants${r.records.length ? '' : ' (no passes)'}`];
  const width = Math.max(0, ...r.records.map((x) => x.pass.length));
  for (const x of r.records) {
    const nodes = `${x.before.nodes} → ${x.after.nodes} nodes`;
    lines.push(`${indent}  ${x.pass.padEnd(width)}  ${nodes.padEnd(18)}  ${x.before.constants} → ${x.after.constants} constants`);
  }
  return lines.join('\n');
}
