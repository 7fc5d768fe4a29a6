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
   * Slots whose last use is this step, to free after it: values made by nodes of the
   * same block that the block does not return, in the outermost graph and in `If`
   * branches (an `If`'s outputs are its own: the interpreter moves or shares the taken
   * branch's results into them, see `ScheduleBlock.moves`). Values of a `Loop` body,
   * and a `Loop`'s results (they may be its initial values as is), are never listed.
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
  /**
   * By output: whether it is a value this block's own steps made (not one of an
   * enclosing graph, an input or a constant) and returned once, so that an `If` running
   * this branch hands that reference to its own output instead of sharing it.
   */
  readonly moves: readonly boolean[];
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
  /**
   * Slots an executor that frees owns: results of the nodes of the outermost graph and
   * of `If` branches (not of `Loop`s or inside their bodies).
   */
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

  /** `owned`: the block's values are freed by its release lists (the main graph, `If` branches within them). */
  const block = (g: Graph, owned: boolean): ScheduleBlock => {
    const inputs = g.inputs.map((v) => slotOf(v));
    for (const c of g.constants.values()) constants.set(slotOf(c.value), c);
    const steps: { node: Node; index: number; inputs: number[]; outputs: number[]; blocks: ScheduleBlock[] }[] = [];
    for (const node of g.nodes) {
      const index = stepCount++;
      const ins = node.inputs.map((v) => slotOf(v));
      const blocks = node.subgraphs.map((sub) => block(sub, owned && node.op === IF_OP));
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
    const made = new Set<number>();
    if (owned) {
      const kept = new Set(outputs);
      for (const st of steps) {
        if (st.node.op === LOOP_OP || (st.blocks.length && st.node.op !== IF_OP)) continue;
        for (const s of st.outputs) {
          freeable[s] = true;
          made.add(s);
          if (!kept.has(s)) release[lastUse.get(s)!]!.push(s);
        }
      }
    }
    const moves = outputs.map((s, k) => made.has(s) && outputs.indexOf(s) === k);
    return { graph: g, inputs, steps: steps.map((st, i) => ({ ...st, release: release[i]! })), outputs, moves };
  };

  const main = block(graph, true);
  for (let i = 0; i < produced.length; i++) freeable[i] ??= false;
  return { main, slotCount: produced.length, stepCount, constants, produced, freeable, values, slots };
}

/**
 * Every step of block `b` and of the blocks nested in it (`If` branches, `Loop` bodies),
 * in `ScheduleStep.index` order: for per-step tables over a whole schedule.
 *
 * @example
 * ```ts
 * const s = schedule(graph);
 * const ops = nestedSteps(s.main).map((st) => st.node.op); // ['If', 'relu', 'neg', 'add']
 * ```
 */
export function nestedSteps(b: ScheduleBlock): ScheduleStep[] {
  const out: ScheduleStep[] = [];
  const walk = (blk: ScheduleBlock): void => {
    for (const st of blk.steps) {
      out.push(st);
      for (const sub of st.blocks) walk(sub);
    }
  };
  walk(b);
  return out;
}
