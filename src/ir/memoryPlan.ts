/**
 * Memory planning: where each intermediate value of a schedule lives in one arena at
 * concrete shapes. Liveness runs over the schedule's straight-line steps: a value is
 * alive from the step that makes it to its last reader. Values an alias op (reshape)
 * makes share their source's buffer; with in-place reuse on, an elementwise op whose
 * input dies at that step writes into that input's buffer. Buffers are then packed by
 * `packLifetimes` (greedy by size, best fit). Graph inputs, constants and graph outputs
 * (and whatever shares their storage) are never in the arena: the caller owns them.
 */
import { alignBytes, ARENA_ALIGNMENT, liveBytesBound, packLifetimes } from './arenaPacking.js';
import { bytesPerElement, sizeOf, type TensorType } from './dtype.js';
import { KilnError } from './errors.js';
import type { Node } from './graph.js';
import { getOp } from './opRegistry.js';
import { IF_OP, LOOP_OP } from './controlFlow.js';
import { nestedSteps, type Schedule, type ScheduleBlock, type ScheduleStep } from './schedule.js';

/** One buffer of the arena and the values stored in it over its lifetime. */
export interface MemoryBlock {
  /** Byte offset in the arena (a multiple of the alignment, `ARENA_ALIGNMENT` by default). */
  readonly offset: number;
  /** Size in bytes, rounded up to the alignment. */
  readonly bytes: number;
  /** Position (in `schedule.main.steps`) of the step that makes the first value stored here. */
  readonly first: number;
  /** Position of the last step that reads any value stored here. */
  readonly last: number;
  /** The slots stored here, in order of definition: a value, its aliases, results written in place. */
  readonly slots: readonly number[];
}

/** A step that writes its output into the buffer of an input whose last use it is. */
export interface InPlaceWrite {
  /** `ScheduleStep.index` of the step. */
  readonly step: number;
  /** The slot read, whose buffer the output reuses. */
  readonly input: number;
  /** The slot written. */
  readonly output: number;
}

/**
 * Where each intermediate lives at one binding of the symbols. An executor that runs
 * into the arena allocates `arenaBytes` once and gives each value made by a kernel the
 * bytes `[offsets[slot], offsets[slot] + size)`; aliases (reshape) and in-place results
 * have their source's offset.
 */
export interface MemoryPlan {
  /** Bytes the arena needs. */
  readonly arenaBytes: number;
  /** The most bytes alive at one step: no arena for these lifetimes can be smaller. */
  readonly lowerBound: number;
  /**
   * By slot: byte offset in the arena, or -1 for a slot outside it (input, constant,
   * output, subgraph value, control flow result, a value an `If` may return).
   */
  readonly offsets: readonly number[];
  /** The arena's buffers. */
  readonly blocks: readonly MemoryBlock[];
  /** The in-place writes it chose (only with `MemoryPlanOptions.inPlace`). */
  readonly inPlace: readonly InPlaceWrite[];
}

export interface MemoryPlanOptions {
  /**
   * Whether `node` may write its (single) output into the buffer of an input of the
   * same dtype and element count: true for elementwise ops whose output element i
   * depends only on element i of each such input. Absent: no in-place reuse.
   */
  readonly inPlace?: (node: Node) => boolean;
  /**
   * Bytes every size is rounded up to, so every offset is a multiple of it (default
   * `ARENA_ALIGNMENT`, 16; a WebGPU arena needs its `minStorageBufferOffsetAlignment`, 256).
   */
  readonly alignment?: number;
}

/** A buffer while planning: the values stored in it (union of aliases and in-place results). */
interface Group {
  readonly bytes: number;
  readonly first: number;
  last: number;
  arena: boolean;
  readonly slots: number[];
}

function concreteOutputs(node: Node): TensorType[] {
  return node.outputs.map((v) => {
    if (v.type.shape.some((d) => typeof d !== 'number')) {
      throw new KilnError(`planMemory: %${v.name} has a symbolic shape; pass the step types of one binding`, { op: 'compile' });
    }
    return { dtype: v.type.dtype, shape: v.type.shape as number[] };
  });
}

/**
 * Plans the arena of `s`'s main block at concrete shapes: `stepTypes[step.index]` are
 * the output types of each step (an `ExecutionPlan` binding's `Resolved.types`); without
 * them, the graph's own types, which must be concrete. Sizes are elements × dtype size,
 * rounded up to the alignment (16 bytes unless `options.alignment` says otherwise).
 * Steps inside subgraphs are not planned (their values stay outside the arena; a use
 * inside a subgraph counts at the step that owns it). Control flow results are not
 * planned either, nor any value of the main graph a branch may return as such (or as a
 * reshape): the result outlives the value's own last use.
 *
 * @example
 * ```ts
 * const s = schedule(graph);                     // x → matmul → add → relu → out
 * const m = planMemory(s, undefined, { inPlace: (n) => n.op === 'relu' || n.op === 'add' });
 * m.arenaBytes, m.lowerBound;                    // the matmul result, reused by add in place
 * m.offsets[s.main.steps[0]!.outputs[0]!];       // 0
 * ```
 */
export function planMemory(s: Schedule, stepTypes?: readonly (readonly TensorType[] | undefined)[], options: MemoryPlanOptions = {}): MemoryPlan {
  const steps = s.main.steps;
  const typeOf: (TensorType | undefined)[] = new Array(s.slotCount);
  const groupOf: (Group | null | undefined)[] = new Array(s.slotCount);
  const lastUse = new Array<number>(s.slotCount).fill(-1);
  const outputs = new Set(s.main.outputs);
  const alignment = options.alignment ?? ARENA_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment < 1) throw new KilnError(`planMemory: alignment must be a positive integer, got ${alignment}`, { op: 'compile' });

  // Uses: a slot read inside a subgraph counts at the step owning the subgraph.
  const noteNested = (blocks: readonly ScheduleBlock[], t: number): void => {
    for (const b of blocks) {
      for (const st of b.steps) {
        for (const slot of st.inputs) lastUse[slot] = t;
        noteNested(st.blocks, t);
      }
      for (const slot of b.outputs) lastUse[slot] = t;
    }
  };

  const groups: Group[] = [];
  steps.forEach((st, t) => {
    for (const slot of st.inputs) lastUse[slot] = t;
    noteNested(st.blocks, t);
    const types = stepTypes ? stepTypes[st.index] : concreteOutputs(st.node);
    if (!types) throw new KilnError(`planMemory: no types for step ${st.index} (${st.node.op})`, { op: 'compile' });
    const alias = getOp(st.node.op)?.alias === true;
    st.outputs.forEach((slot, k) => {
      lastUse[slot] = Math.max(lastUse[slot]!, t); // an unused result still lives through its step
      const type = types[k];
      if (!type) throw new KilnError(`planMemory: no type for output ${k} of step ${st.index} (${st.node.op})`, { op: 'compile' });
      typeOf[slot] = type;
      if (st.blocks.length || st.node.op === IF_OP || st.node.op === LOOP_OP) {
        groupOf[slot] = null; // control flow results: not planned (they are the taken branch's values)
      } else if (alias) {
        // Shares input 0's storage: its buffer, or (graph input, constant) no buffer of the arena.
        const src = groupOf[st.inputs[0]!] ?? null;
        groupOf[slot] = src;
        src?.slots.push(slot);
      } else {
        const g: Group = { bytes: alignBytes(sizeOf(type.shape) * bytesPerElement(type.dtype), alignment), first: t, last: t, arena: true, slots: [slot] };
        groups.push(g);
        groupOf[slot] = g;
      }
    });
  });
  for (const g of groups) {
    for (const slot of g.slots) {
      g.last = Math.max(g.last, lastUse[slot]!);
      if (outputs.has(slot)) g.arena = false; // returned to the caller: its own storage
    }
  }
  // A value control flow may return as its result (an If branch returning an enclosing
  // value, or a reshape of one) lives on in that result, past its own last use: its own
  // storage, shared by reference count, instead of an arena block.
  const producer = new Array<ScheduleStep | undefined>(s.slotCount);
  for (const st of nestedSteps(s.main)) for (const slot of st.outputs) producer[slot] = st;
  const escapes = (slot: number): void => {
    const g = groupOf[slot];
    if (g) {
      g.arena = false;
      return;
    }
    const p = producer[slot];
    if (!p) return;
    if (p.node.op === IF_OP || p.node.op === LOOP_OP) {
      const k = p.outputs.indexOf(slot);
      for (const b of p.blocks) for (const o of b.outputs) if (p.node.op === LOOP_OP || o === b.outputs[k]) escapes(o);
      if (p.node.op === LOOP_OP) for (const i of p.inputs) escapes(i); // no iteration: the initial values
    } else if (getOp(p.node.op)?.alias === true) {
      escapes(p.inputs[0]!);
    }
  };
  for (const st of steps) if (st.node.op === IF_OP || st.node.op === LOOP_OP) for (const slot of st.outputs) escapes(slot);

  const inPlace: InPlaceWrite[] = [];
  if (options.inPlace) {
    steps.forEach((st, t) => {
      if (st.outputs.length !== 1 || !options.inPlace!(st.node)) return;
      const out = st.outputs[0]!;
      const go = groupOf[out];
      const to = typeOf[out]!;
      if (!go || !go.arena || go.slots[0] !== out) return;
      for (const slot of st.inputs) {
        const gi = groupOf[slot];
        const ti = typeOf[slot];
        if (!gi || gi === go || !gi.arena || gi.last !== t || !ti) continue;
        if (ti.dtype !== to.dtype || sizeOf(ti.shape) !== sizeOf(to.shape) || gi.bytes !== go.bytes) continue;
        // The output's buffer becomes the input's, which lives on as long as the output does.
        for (const m of go.slots) {
          gi.slots.push(m);
          groupOf[m] = gi;
        }
        gi.last = go.last;
        go.arena = false;
        go.slots.length = 0;
        inPlace.push({ step: st.index, input: slot, output: out });
        break;
      }
    });
  }

  const planned = groups.filter((g) => g.arena);
  const { offsets: packed, arenaBytes } = packLifetimes(planned);
  const offsets = new Array<number>(s.slotCount).fill(-1);
  const blocks: MemoryBlock[] = planned.map((g, i) => {
    const offset = packed[i]!;
    for (const slot of g.slots) offsets[slot] = offset;
    return { offset, bytes: g.bytes, first: g.first, last: g.last, slots: g.slots };
  });
  return { arenaBytes, lowerBound: liveBytesBound(planned), offsets, blocks, inPlace };
}
