/**
 * The run order of a graph as the interpreter loop executes it: every value gets a
 * numbered slot (one slot space for the graph and its subgraphs, so a subgraph reads
 * its enclosing graph's values directly), every node a step with the slots it reads and
 * writes, and each step lists the slots whose last use it is (freed right after it by
 * an executor that frees). An execution plan adds resolved kernels to the steps, and
 * the memory planner (`memoryPlan.ts`) arena offsets to the slots, per binding.
 */
import type { Constant, Graph, Node, Value } from './graph.js';
import { IF_OP, LOOP_OP } from './controlFlow.js';

/** One node in its schedule. */
export interface ScheduleStep {
  readonly node: Node;
  /** Index among all steps of the schedule, subgraphs included (for per-step tables). */
  readonly index: number;
  readonly inputs: readonly number[];
  readonly outputs: readonly number[];
  /**
   * Slots whose last use is this step, to free after it: values made by straight-line
   * nodes of the same block that no graph output returns. (Values made inside
   * subgraphs or by `If`/`Loop` may be handed through control flow: never listed.)
   */
  readonly release: readonly number[];
  /** The schedules of an `If`'s branches or a `Loop`'s body. */
  readonly blocks: readonly ScheduleBlock[];
}

/** A graph (or a subgraph) as steps over slots. */
export interface ScheduleBlock {
  readonly graph: Graph;
  readonly inputs: readonly number[];
  readonly steps: readonly ScheduleStep[];
  readonly outputs: readonly number[];
}

export interface Schedule {
  readonly main: ScheduleBlock;
  readonly slotCount: number;
  /** Steps in the whole nest (the next free `ScheduleStep.index`). */
  readonly stepCount: number;
  /** The constant behind each slot that holds one (of the graph or a subgraph). */
  readonly constants: ReadonlyMap<number, Constant>;
  /** Whether each slot is written by a node (owned by a run), as opposed to an input or a constant. */
  readonly produced: readonly boolean[];
  /** Slots an executor that frees owns: those of straight-line nodes of the outermost graph. */
  readonly freeable: readonly boolean[];
  /** The value of each slot. */
  readonly values: readonly Value[];
  /** The slot of each value of the graph and its subgraphs. */
  readonly slots: ReadonlyMap<Value, number>;
}

/**
 * The schedule of `graph`: nodes in graph order, slots in order of definition. A graph
 * that does not verify still schedules (a value used before its definition, or never
 * defined, gets a slot nothing writes, which the interpreter reports when it is read).
 *
 * @example
 * ```ts
 * const s = schedule(graph);
 * s.main.steps.map((st) => st.node.op);   // ['matmul', 'add', 'relu']
 * s.main.steps[1]!.release;               // [slot of the matmul result]: freed after add
 * ```
 */
export function schedule(graph: Graph): Schedule {
  const slots = new Map<Value, number>();
  const constants = new Map<number, Constant>();
  const produced: boolean[] = [];
  const values: Value[] = [];
  const freeable: boolean[] = [];
  let stepCount = 0;
  const slotOf = (v: Value, byNode = false): number => {
    let s = slots.get(v);
    if (s === undefined) {
      s = produced.length;
      produced.push(byNode);
      values.push(v);
      slots.set(v, s);
    } else if (byNode) {
      produced[s] = true;
    }
    return s;
  };

  const block = (g: Graph, nested: boolean): ScheduleBlock => {
    const inputs = g.inputs.map((v) => slotOf(v));
    for (const c of g.constants.values()) constants.set(slotOf(c.value), c);
    const steps: { node: Node; index: number; inputs: number[]; outputs: number[]; blocks: ScheduleBlock[] }[] = [];
    for (const node of g.nodes) {
      const index = stepCount++;
      const ins = node.inputs.map((v) => slotOf(v));
      const blocks = node.subgraphs.map((sub) => block(sub, true));
      const outs = node.outputs.map((v) => slotOf(v, true));
      steps.push({ node, index, inputs: ins, outputs: outs, blocks });
    }
    const outputs = g.outputs.map((v) => slotOf(v));
    // Last use within this block; a use inside a subgraph counts at the step owning it.
    const lastUse = new Map<number, number>();
    const noteUses = (b: ScheduleBlock, at: number): void => {
      for (const st of b.steps) {
        for (const s of st.inputs) lastUse.set(s, at);
        for (const sub of st.blocks) noteUses(sub, at);
      }
      for (const s of b.outputs) lastUse.set(s, at);
    };
    steps.forEach((st, i) => {
      for (const s of st.outputs) lastUse.set(s, i); // unused results are freed at once
      for (const s of st.inputs) lastUse.set(s, i);
      for (const sub of st.blocks) noteUses(sub, i);
    });
    const release: number[][] = steps.map(() => []);
    if (!nested) {
      const kept = new Set(outputs);
      for (const st of steps) {
        if (st.blocks.length || st.node.op === IF_OP || st.node.op === LOOP_OP) continue;
        for (const s of st.outputs) {
          freeable[s] = true;
          if (!kept.has(s)) release[lastUse.get(s)!]!.push(s);
        }
      }
    }
    return { graph: g, inputs, steps: steps.map((st, i) => ({ ...st, release: release[i]! })), outputs };
  };

  const main = block(graph, false);
  for (let i = 0; i < produced.length; i++) freeable[i] ??= false;
  return { main, slotCount: produced.length, stepCount, constants, produced, freeable, values, slots };
}
