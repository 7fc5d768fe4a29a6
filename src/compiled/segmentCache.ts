// The compiled segments of graph-breaking code, shared by the calls of one compiled
// model: a lazy call records each segment as a Graph, and the segment runs from the
// plan compiled for the first graph of the same structure.
import { formatNodeHead, formatType, formatValueName, type Graph, type Node, type Value } from '../ir/index.js';
import type { Backend } from '../runtime/backend.js';
import type { ExecutionPlan } from './executionPlan.js';

/** One cached segment: the graph compiled (the first of its structure) and its plan. */
export interface Segment {
  readonly graph: Graph;
  readonly plan: ExecutionPlan;
  /** Runs served, the compiling one included. */
  hits: number;
}

/**
 * The structure of one recorded node: the inputs it brought into the segment (their
 * types), then the node as printed without its source line. A segment's structure is
 * the sequence of its nodes' and `segmentEnd`.
 */
export function nodeStructure(node: Node, newInputs: readonly Value[]): string {
  return `${inputsText(newInputs)}${formatNodeHead(node)}`;
}

/** The rest of a segment's structure: inputs no node brought in, what it returns, where it runs. */
export function segmentEnd(graph: Graph, newInputs: readonly Value[], backend: Backend): string {
  return `${inputsText(newInputs)}return ${graph.outputs.map((v) => formatValueName(v.name)).join(', ')} on ${backend.name}`;
}

function inputsText(inputs: readonly Value[]): string {
  return inputs.map((v) => `${formatValueName(v.name)}: ${formatType(v.type)}, `).join('');
}

/**
 * A position in the node sequences of the cached segments (a trie over
 * `nodeStructure`s). A recording that is still on a cached path takes its nodes'
 * source lines from there instead of capturing the stack at every op, and finds its
 * segment by the end of its structure, without building a key of the whole.
 */
export interface Prefix {
  readonly next: Map<string, Prefix>;
  /** The source line of the cached node at this position. */
  readonly source: string | undefined;
  /** Segments whose node sequence ends here, by `segmentEnd`. */
  readonly ends: Map<string, Segment>;
}

interface Cached {
  readonly segment: Segment;
  readonly structure: readonly string[];
  readonly end: string;
  readonly sources: readonly (string | undefined)[];
}

function emptyPrefix(source?: string): Prefix {
  return { next: new Map(), source, ends: new Map() };
}

/** Compiled segments by structure (the oldest evicted first past `capacity`). */
export class SegmentCache {
  /** Oldest first. */
  private readonly cached: Cached[] = [];
  private root: Prefix = emptyPrefix();
  /** Segments compiled (cache misses) and run. */
  compiled = 0;
  runs = 0;

  /**
   * `compile`: how a segment graph becomes a plan (the compiled model's `lower` with its
   * target's options).
   */
  constructor(private readonly compile: (graph: Graph, backend: Backend) => ExecutionPlan, private readonly capacity = 64) {}

  get size(): number {
    return this.cached.length;
  }

  /** The cached segments, oldest first. */
  entries(): Segment[] {
    return this.cached.map((c) => c.segment);
  }

  /** Where a new recording starts. */
  start(): Prefix {
    return this.root;
  }

  /** The position after one more node, or null once the recording left every cached path. */
  step(at: Prefix | null, structure: string): Prefix | null {
    return at?.next.get(structure) ?? null;
  }

  /**
   * The segment for `graph`, recorded along `at` (see `step`) with node structures
   * `structure` and end `end`, compiled on a miss: `withSources` gives the nodes their
   * source lines first, so the cached graph names the user's lines.
   */
  get(graph: Graph, at: Prefix | null, structure: readonly string[], end: string, backend: Backend, withSources: (g: Graph) => void): Segment {
    let segment = at?.ends.get(end);
    if (!segment) {
      withSources(graph);
      // Noted before compiling: lowering may rewrite the graph.
      const sources = graph.nodes.map((n) => n.source);
      segment = { graph, plan: this.compile(graph, backend), hits: 0 };
      this.compiled++;
      if (this.cached.length >= this.capacity) {
        // Oldest first: structures that stopped recurring.
        this.cached.shift()!.segment.plan.dispose();
        this.root = emptyPrefix();
        for (const c of this.cached) this.remember(c);
      }
      const c: Cached = { segment, structure, end, sources };
      this.cached.push(c);
      this.remember(c);
    }
    segment.hits++;
    this.runs++;
    return segment;
  }

  private remember(c: Cached): void {
    let at = this.root;
    c.structure.forEach((s, i) => {
      let next = at.next.get(s);
      if (!next) at.next.set(s, (next = emptyPrefix(c.sources[i])));
      at = next;
    });
    at.ends.set(c.end, c.segment);
  }

  dispose(): void {
    for (const c of this.cached) c.segment.plan.dispose();
    this.cached.length = 0;
    this.root = emptyPrefix();
  }
}
