/**
 * Memory planning (ir/arenaPacking.ts, ir/memoryPlan.ts; attached to every plan by
 * lower(), printed by explain()). Every plan here is checked by `checkPlan`, which
 * recomputes liveness from the schedule on its own: two values alive at the same step
 * never share a byte unless they are one storage (a reshape) or an in-place write hands
 * a dying input's buffer to its output at that step, and each in-place write is legal
 * (op in IN_PLACE_OPS, input's last use, same dtype and element count, nothing the
 * caller owns). The lower bound is recomputed the same way. On the models, the graph is
 * also run with its intermediates kept only in an arena laid out by the plan, and must
 * give the reference interpreter's bits (Object.is per element). Sizes are exact
 * integers: no tolerance anywhere; the acceptance bound is arena ≤ 1.25 × lower bound.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { Residual } from './support/residualBlock.js';
import { compile, dim, eagerExecutor, interpretEager, spec, type CompiledModel } from '../src/compiled/index.js';
import {
  ARENA_ALIGNMENT, alignBytes, bytesPerElement, concreteAttrs, concreteType, getOp, Graph, interpret, liveBytesBound, packLifetimes, planMemory, schedule, sizeOf, sym, verifyGraph,
  type Bindings, type DType, type Executor, type Lifetime, type MemoryPlan, type Node, type Schedule, type TensorType, type TypedArray, type Value, type ValueType,
} from '../src/ir/index.js';
import { identical } from './support/identical.js';
import { IN_PLACE_OPS, writesInPlace } from '../src/passes/opTraits.js';
import type { OptLevel } from '../src/passes/index.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init();
});

const IN_PLACE = { inPlace: (n: Node) => writesInPlace(n.op) };

const t = (dtype: DType, ...shape: number[]): ValueType => ({ dtype, shape });
const f32 = (...shape: number[]): ValueType => t('float32', ...shape);

/** Adds a one-output node with its type from the op's inference. */
function op(g: Graph, name: string, inputs: Value[], attrs: Record<string, number | boolean | number[] | null> = {}): Value {
  const types = getOp(name)!.infer(inputs.map((v) => ({ dtype: v.type.dtype, shape: v.type.shape as number[] })), attrs);
  return g.addNode(name, inputs, attrs, types).outputs[0]!;
}

/** The sum of all of `v`'s elements (a scalar). */
const total = (g: Graph, v: Value): Value => op(g, 'sum', [v], { axes: v.type.shape.map((_, i) => i), keepDims: false });

/** Output types per step at `bindings` (what an ExecutionPlan resolves). */
function stepTypes(s: Schedule, bindings: Bindings = new Map()): TensorType[][] {
  const types: TensorType[][] = [];
  for (const st of s.main.steps) types[st.index] = st.node.outputs.map((v) => concreteType(v.type, bindings));
  return types;
}

const bytesOf = (type: TensorType): number => alignBytes(sizeOf(type.shape) * bytesPerElement(type.dtype));

/** Liveness recomputed from the schedule alone: per storage root, its step span and size. */
function liveness(s: Schedule, types: readonly (readonly TensorType[])[]) {
  const steps = s.main.steps;
  const root = new Map<number, number>();
  const typeOf = new Map<number, TensorType>();
  const span = new Map<number, { first: number; last: number }>();
  steps.forEach((st, pos) => {
    st.outputs.forEach((slot, k) => {
      typeOf.set(slot, types[st.index]![k]!);
      const alias = getOp(st.node.op)!.alias === true;
      const r = alias ? (root.get(st.inputs[0]!) ?? st.inputs[0]!) : slot;
      root.set(slot, r);
      const sp = span.get(r) ?? { first: pos, last: pos };
      sp.last = Math.max(sp.last, pos);
      span.set(r, sp);
    });
    for (const slot of st.inputs) {
      const sp = span.get(root.get(slot) ?? slot);
      if (sp) sp.last = Math.max(sp.last, pos);
    }
  });
  // Roots the caller owns (graph inputs, constants) or that leave the run (outputs): never in the arena.
  const owned = new Set<number>([...s.main.inputs, ...s.constants.keys()]);
  for (const o of s.main.outputs) owned.add(root.get(o) ?? o);
  return { root, typeOf, span, owned };
}

/**
 * Checks `m` against liveness recomputed here; returns the bound recomputed (the most
 * bytes alive at a step, an in-place write counting its buffer once).
 */
function checkPlan(s: Schedule, types: readonly (readonly TensorType[])[], m: MemoryPlan): number {
  const { root, typeOf, span, owned } = liveness(s, types);
  const posOf = new Map(s.main.steps.map((st, pos) => [st.index, pos]));
  const inPlaceAt = new Map<string, number>(); // `${inputRoot},${outputRoot}` → position
  for (const w of m.inPlace) {
    const pos = posOf.get(w.step)!;
    const st = s.main.steps[pos]!;
    const ri = root.get(w.input)!, ro = root.get(w.output)!;
    expect(IN_PLACE_OPS.has(st.node.op), `${st.node.op} writes in place`).toBe(true);
    expect(st.inputs).toContain(w.input);
    expect(st.outputs).toEqual([w.output]);
    expect(span.get(ri)!.last, 'the input dies at that step').toBe(pos);
    expect(typeOf.get(w.input)!.dtype).toBe(typeOf.get(w.output)!.dtype);
    expect(sizeOf(typeOf.get(w.input)!.shape)).toBe(sizeOf(typeOf.get(w.output)!.shape));
    expect(owned.has(ri) || owned.has(ro)).toBe(false);
    expect(m.offsets[w.input]).toBe(m.offsets[w.output]);
    inPlaceAt.set(`${ri},${ro}`, pos);
  }
  // Every value a step makes is in the arena unless the caller owns its storage.
  const roots = [...span.keys()].filter((r) => !owned.has(r));
  for (const [slot, r] of root) {
    if (owned.has(r)) expect(m.offsets[slot], `slot ${slot} is the caller's`).toBe(-1);
    else {
      expect(m.offsets[slot]).toBe(m.offsets[r]);
      expect(m.offsets[r]! % ARENA_ALIGNMENT).toBe(0);
      expect(m.offsets[r]! + bytesOf(typeOf.get(r)!)).toBeLessThanOrEqual(m.arenaBytes);
    }
  }
  for (const slot of [...s.main.inputs, ...s.constants.keys()]) expect(m.offsets[slot]).toBe(-1);
  // Pairs alive together never share a byte, but for an in-place handoff at the one step they share.
  for (let i = 0; i < roots.length; i++) {
    for (let j = i + 1; j < roots.length; j++) {
      const [a, b] = [roots[i]!, roots[j]!];
      const [sa, sb] = [span.get(a)!, span.get(b)!];
      if (sa.first > sb.last || sb.first > sa.last) continue;
      const [oa, ob] = [m.offsets[a]!, m.offsets[b]!];
      const [ba, bb] = [bytesOf(typeOf.get(a)!), bytesOf(typeOf.get(b)!)];
      if (ba === 0 || bb === 0 || oa + ba <= ob || ob + bb <= oa) continue;
      const handoff = (x: number, y: number, sx: typeof sa, sy: typeof sb) => inPlaceAt.get(`${x},${y}`) === sx.last && sx.last === sy.first;
      expect(handoff(a, b, sa, sb) || handoff(b, a, sb, sa), `slots ${a} and ${b} overlap in time and memory`).toBe(true);
    }
  }
  // The bound, recomputed: bytes of the roots alive at each step, an in-place pair counted once.
  let bound = 0;
  s.main.steps.forEach((_, pos) => {
    let live = 0;
    for (const r of roots) {
      const sp = span.get(r)!;
      if (sp.first <= pos && pos <= sp.last) live += bytesOf(typeOf.get(r)!);
    }
    for (const [key, at] of inPlaceAt) if (at === pos) live -= bytesOf(typeOf.get(Number(key.split(',')[1]))!);
    bound = Math.max(bound, live);
  });
  expect(m.lowerBound).toBe(bound);
  expect(m.arenaBytes).toBeGreaterThanOrEqual(m.lowerBound);
  return bound;
}

function plan(g: Graph, inPlace: boolean): { s: Schedule; m: MemoryPlan } {
  verifyGraph(g);
  const s = schedule(g);
  const m = planMemory(s, undefined, inPlace ? IN_PLACE : {});
  checkPlan(s, stepTypes(s), m);
  return { s, m };
}

/** The slot of each step's first output, by op position. */
const outSlots = (s: Schedule): number[] => s.main.steps.map((st) => st.outputs[0]!);

describe('memory plan of hand-built schedules', () => {
  it('a chain of elementwise ops: two buffers alternate without in-place; one buffer with it', () => {
    const g = new Graph();
    const x = g.addInput('x', f32(4, 5)); // 80 bytes per value
    const d = op(g, 'sigmoid', [op(g, 'neg', [op(g, 'exp', [op(g, 'relu', [x])])])]);
    g.outputs = [d];
    const plain = plan(g, false);
    const [a, b, c, out] = outSlots(plain.s);
    expect(plain.m.lowerBound).toBe(160);
    expect(plain.m.arenaBytes).toBe(160);
    expect(plain.m.offsets[a!]).toBe(plain.m.offsets[c!]); // c reuses a's bytes: a died before c
    expect(plain.m.offsets[out!]).toBe(-1); // the output is the caller's
    expect(plain.m.inPlace).toEqual([]);
    const reuse = plan(g, true);
    expect(reuse.m.inPlace.map((w) => [w.step, w.input, w.output])).toEqual([[1, a, b], [2, b, c]]);
    expect(reuse.m.blocks).toEqual([{ offset: 0, bytes: 80, first: 0, last: 3, slots: [a, b, c] }]);
    expect([reuse.m.arenaBytes, reuse.m.lowerBound]).toEqual([80, 80]);
  });

  it('the bound is the most bytes alive at one step (16-byte alignment, float64, odd sizes), with and without in-place', () => {
    const g = new Graph();
    const x1 = g.addInput('x1', f32(8)); // 32 bytes
    const x2 = g.addInput('x2', f32(3)); // 12 → 16 bytes
    const x3 = g.addInput('x3', t('float64', 1, 5)); // 40 → 48 bytes
    const a = op(g, 'relu', [x1]); // alive steps 0..3
    const b = op(g, 'exp', [x2]); // 1..4
    const c = op(g, 'neg', [x3]); // 2..5
    const d = op(g, 'add', [a, x1]); // 3..6 (a dies here: in place at O3)
    const e = op(g, 'mul', [b, x2]); // 4..7 (b dies here)
    g.outputs = [total(g, c), total(g, d), total(g, e)];
    // Step 3 holds a, b, c, d: 32 + 16 + 48 + 32.
    const plain = plan(g, false);
    expect(plain.m.lowerBound).toBe(128);
    expect(plain.m.arenaBytes).toBe(128);
    // In place: d in a's buffer, e in b's; steps 2..5 hold 32 + 16 + 48.
    const reuse = plan(g, true);
    expect(reuse.m.inPlace.map((w) => w.step)).toEqual([3, 4]);
    expect(reuse.m.lowerBound).toBe(96);
    expect(reuse.m.arenaBytes).toBe(96);
  });

  it('in place only where legal: not over graph inputs, constants, values still read later, other dtypes or sizes, non-elementwise ops, or into outputs', () => {
    const g = new Graph();
    const x = g.addInput('x', f32(4, 5));
    const z = g.addConstant('z', new Float32Array(1), f32());
    const w = g.addConstant('w', new Float32Array(25), f32(5, 5));
    const a = op(g, 'relu', [x]); // 0: x is an input
    const b = op(g, 'exp', [a]); // 1: a is read again at 2
    const c = op(g, 'add', [a, b]); // 2: a and b die: writes into a's buffer
    const gt = op(g, 'greater', [c, z]); // 3: bool from float32: no
    const nt = op(g, 'logicalNot', [gt]); // 4: bool → bool, gt dies: yes
    const r = op(g, 'sum', [c], { axes: [0], keepDims: true }); // 5: [1, 5]
    const q = op(g, 'mul', [r, c]); // 6: r dies but has 5 elements, not 20; c dies: into c's buffer
    const m = op(g, 'matmul', [q, w]); // 7: q dies, but matmul is not elementwise
    const y = op(g, 'where', [nt, m, z]); // 8: nt is bool; m dies, same type: into m's buffer
    const out = op(g, 'tanh', [y]); // 9: y dies but out is the graph output
    g.outputs = [out];
    const { s, m: mp } = plan(g, true);
    const slot = (v: Value) => s.slots.get(v)!;
    expect(mp.inPlace.map((wr) => [wr.step, wr.input, wr.output])).toEqual([
      [2, slot(a), slot(c)], [4, slot(gt), slot(nt)], [6, slot(c), slot(q)], [8, slot(m), slot(y)],
    ]);
    expect(mp.offsets[slot(out)]).toBe(-1);
    expect(plan(g, false).m.inPlace).toEqual([]);
  });

  it('reshape shares its source buffer (one lifetime); a reshape returned as output keeps its source out of the arena', () => {
    const g = new Graph();
    const x = g.addInput('x', f32(4, 5));
    const a = op(g, 'relu', [x]);
    const r = op(g, 'reshape', [a], { shape: [20] });
    const b = op(g, 'exp', [r]); // r (and so a) dies here: in place
    g.outputs = [total(g, b)];
    const { s, m } = plan(g, true);
    const slot = (v: Value) => s.slots.get(v)!;
    expect(m.offsets[slot(a)]).toBe(0);
    expect(m.offsets[slot(r)]).toBe(0);
    expect(m.inPlace.map((w) => w.input)).toEqual([slot(r)]);
    expect(m.blocks.map((bl) => bl.slots)).toEqual([[slot(a), slot(r), slot(b)]]);

    const h = new Graph();
    const hx = h.addInput('x', f32(4, 5));
    const ha = op(h, 'relu', [hx]);
    const hr = op(h, 'reshape', [ha], { shape: [20] });
    const hb = op(h, 'exp', [ha]); // ha's storage is returned (as hr): never written over
    h.outputs = [hr, total(h, hb)];
    const hp = plan(h, true);
    expect(hp.m.offsets[hp.s.slots.get(ha)!]).toBe(-1);
    expect(hp.m.offsets[hp.s.slots.get(hr)!]).toBe(-1);
    expect(hp.m.inPlace).toEqual([]);
    expect(hp.m.lowerBound).toBe(80); // hb alone
  });

  it('zero-size values take no bytes; an unused result lives through its own step', () => {
    const g = new Graph();
    const x = g.addInput('x', f32(0, 3));
    const y = g.addInput('y', t('bool', 5)); // bool: 5 bytes → 16
    op(g, 'exp', [op(g, 'relu', [x])]);
    const n = op(g, 'logicalNot', [y]); // unused
    g.outputs = [total(g, op(g, 'relu', [x]))];
    const { s, m } = plan(g, false);
    expect(m.lowerBound).toBe(16);
    expect(m.arenaBytes).toBe(16);
    expect(m.blocks.find((b) => b.slots.includes(s.slots.get(n)!))).toMatchObject({ bytes: 16, first: 2, last: 2 });
  });

  it('a larger alignment (WebGPU offsets: 256) rounds every block and offset up to it', () => {
    const g = new Graph();
    const x = g.addInput('x', f32(3, 5)); // 60 bytes → 256
    const y = g.addInput('y', f32(100)); // 400 bytes → 512
    const a = op(g, 'relu', [x]);
    const b = op(g, 'exp', [y]);
    g.outputs = [total(g, a), total(g, b)];
    const s = schedule(verifyGraph(g));
    const m = planMemory(s, undefined, { alignment: 256 });
    expect(m.blocks.map((bl) => bl.bytes).sort((p, q) => p - q)).toEqual([256, 512]);
    for (const bl of m.blocks) expect(bl.offset % 256).toBe(0);
    expect([m.arenaBytes, m.lowerBound]).toEqual([768, 768]);
    expect(planMemory(s).lowerBound).toBe(64 + 400);
    expect(() => planMemory(s, undefined, { alignment: 0 })).toThrow(/alignment/);
  });

  it('symbolic shapes need the types of one binding', () => {
    const h = new Graph();
    const hx = h.addInput('x', { dtype: 'float32', shape: [sym('batch'), 3] });
    h.outputs = [h.addNode('relu', [h.addNode('relu', [hx], {}, [hx.type]).outputs[0]!], {}, [hx.type]).outputs[0]!];
    const hs = schedule(h);
    expect(() => planMemory(hs)).toThrow(/symbolic shape/);
    const m = planMemory(hs, stepTypes(hs, new Map([['batch', 7]])));
    expect([m.arenaBytes, m.lowerBound]).toEqual([96, 96]); // 7·3·4 = 84 → 96
  });

  it('IN_PLACE_OPS names registered ops', () => {
    for (const name of IN_PLACE_OPS) expect(getOp(name), name).toBeDefined();
  });
});

describe('arena packing (property)', () => {
  const lifetimeArb: fc.Arbitrary<Lifetime> = fc.record({ bytes: fc.nat(64).map((n) => n * 16), first: fc.nat(20), len: fc.nat(10) })
    .map(({ bytes, first, len }) => ({ bytes, first, last: first + len }));

  it('random lifetimes: blocks alive together never overlap; bound ≤ arena ≤ total; offsets aligned', () => {
    fc.assert(fc.property(fc.array(lifetimeArb, { maxLength: 40 }), (ls) => {
      const { offsets, arenaBytes } = packLifetimes(ls);
      const bound = liveBytesBound(ls);
      expect(arenaBytes).toBeGreaterThanOrEqual(bound);
      expect(arenaBytes).toBeLessThanOrEqual(ls.reduce((n, l) => n + l.bytes, 0));
      expect(arenaBytes).toBe(Math.max(0, ...ls.map((l, i) => (l.bytes ? offsets[i]! + l.bytes : 0))));
      for (let i = 0; i < ls.length; i++) {
        expect(offsets[i]! % ARENA_ALIGNMENT).toBe(0);
        for (let j = i + 1; j < ls.length; j++) {
          const [a, b] = [ls[i]!, ls[j]!];
          if (!a.bytes || !b.bytes || a.first > b.last || b.first > a.last) continue;
          expect(offsets[i]! + a.bytes <= offsets[j]! || offsets[j]! + b.bytes <= offsets[i]!, `${i} and ${j}`).toBe(true);
        }
      }
      // The bound by brute force over steps.
      let brute = 0;
      for (let step = 0; step <= 30; step++) brute = Math.max(brute, ls.reduce((n, l) => n + (l.first <= step && step <= l.last ? l.bytes : 0), 0));
      expect(bound).toBe(brute);
    }), { numRuns: 300, seed: 9 });
  });

  it('random elementwise graphs: every plan passes the independent check, with and without in-place', () => {
    const UN = ['relu', 'exp', 'neg', 'tanh', 'sqrt'] as const;
    const BIN = ['add', 'mul', 'sub', 'maximum'] as const;
    const stepArb = fc.record({ kind: fc.constantFrom('unary', 'binary', 'reshape', 'reduce', 'compare'), a: fc.nat(1000), b: fc.nat(1000), op: fc.nat(4) });
    fc.assert(fc.property(fc.array(stepArb, { minLength: 1, maxLength: 24 }), fc.nat(3), (steps, outs) => {
      const g = new Graph();
      const pool: Value[] = [g.addInput('x', f32(3, 5)), g.addInput('y', f32(15))];
      for (const st of steps) {
        const a = pool[st.a % pool.length]!;
        const count = (v: Value) => sizeOf(v.type.shape as number[]);
        const flat = (v: Value) => (v.type.shape.length === 2 ? op(g, 'reshape', [v], { shape: [count(v)] }) : v);
        if (st.kind === 'unary') pool.push(op(g, UN[st.op % UN.length]!, [a]));
        else if (st.kind === 'binary') pool.push(op(g, BIN[st.op % BIN.length]!, [flat(a), flat(pool[st.b % pool.length]!)]));
        else if (st.kind === 'reshape') pool.push(op(g, 'reshape', [a], { shape: a.type.shape.length === 2 ? [count(a)] : count(a) === 15 ? [3, 5] : [1, 1] }));
        else if (st.kind === 'reduce') pool.push(op(g, 'reshape', [total(g, a)], { shape: [1] }));
        else pool.push(op(g, 'where', [op(g, 'greater', [a, a]), a, a]));
      }
      g.outputs = pool.slice(-1 - (outs % Math.min(3, pool.length)));
      for (const inPlace of [false, true]) {
        const s = schedule(verifyGraph(g));
        const m = planMemory(s, undefined, inPlace ? IN_PLACE : {});
        checkPlan(s, stepTypes(s), m);
      }
    }), { numRuns: 150, seed: 10 });
  });
});

// ---- Acceptance: whole models at O0 and O3 ----

function mlp(): kiln.nn.Module {
  return new nn.Sequential(new nn.Linear(12, 32), new nn.ReLU(), new nn.Linear(32, 32), new nn.Tanh(), new nn.Linear(32, 3)).eval();
}

function cnn(): kiln.nn.Module {
  return new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(4, 6, 3), new nn.BatchNorm2d(6), new nn.ReLU(),
    new nn.Flatten(), new nn.Linear(6 * 3 * 3, 5),
  ).eval();
}

/** An LSTM written out over the 16 steps of a static sequence: per step, gates, four activations, c and h. */
class HandLstm extends nn.Module {
  ih = new nn.Linear(3, 32);
  hh = new nn.Linear(8, 32, { bias: false });
  forward(x: kiln.Tensor): kiln.Tensor {
    const batch = x.shape[1]!;
    let h = kiln.zeros([batch, 8]);
    let c = kiln.zeros([batch, 8]);
    for (const xt of x.split(1, 0)) {
      const gates = this.ih.forward(xt.reshape([batch, 3])).add(this.hh.forward(h));
      const [i, f, gg, o] = gates.split(8, 1) as [kiln.Tensor, kiln.Tensor, kiln.Tensor, kiln.Tensor];
      c = f.sigmoid().mul(c).add(i.sigmoid().mul(gg.tanh()));
      h = o.sigmoid().mul(c.tanh());
    }
    return h;
  }
}

const MEMORY_LINE = /memory at batch=(\d+): arena (\d+) bytes \(lower bound (\d+) bytes\), (\d+) intermediates? in (\d+) blocks?(?:, (\d+) written in place)?/g;

const ARRAYS = { float32: Float32Array, float64: Float64Array, int32: Int32Array, bool: Uint8Array } as const;

/**
 * Runs `graph` (reference semantics, eager ops) with every arena value kept only in one
 * byte arena at its planned offset: each step's output is written there, and a later
 * step reads its arena inputs back from there. The arena starts as 0xff bytes (NaN): a
 * value overwritten while still alive, or read before it was written, changes the result.
 * In-place writes are modelled as a kernel that reads its inputs before writing.
 */
function runInArena(graph: Graph, x: kiln.Tensor, bindings: Bindings, m: MemoryPlan): kiln.Tensor[] {
  const arena = new ArrayBuffer(m.arenaBytes);
  new Uint8Array(arena).fill(0xff);
  const view = (slot: number, t: kiln.Tensor): TypedArray => new ARRAYS[t.dtype](arena, m.offsets[slot]!, sizeOf(t.shape));
  const base = eagerExecutor();
  const ex: Executor<kiln.Tensor> = {
    ...base,
    runNode: (st, ins) => {
      const inputs = ins.map((t, k) => (m.offsets[st.inputs[k]!]! >= 0 ? kiln.tensor(view(st.inputs[k]!, t).slice(), { shape: t.shape, dtype: t.dtype }) : t));
      const outs = base.exec(st.node.op, inputs, concreteAttrs(st.node.attrs, bindings));
      outs.forEach((o, k) => { if (m.offsets[st.outputs[k]!]! >= 0) view(st.outputs[k]!, o).set(o.dataSync()); });
      return outs;
    },
  };
  return interpret(graph, [x], ex);
}

interface Measured { readonly batch: number; readonly arena: number; readonly bound: number; readonly inPlace: number | null }

/** Compiles at `level`, runs the plan (second call) at each batch, checks explain's memory lines against the graph that runs. */
function measure(model: kiln.nn.Module, shape: (batch: number) => number[], batchAxis: number, level: OptLevel, batches: readonly number[]): Measured[] {
  const specShape = shape(1).map((d, i) => (i === batchAxis ? dim('batch') : d));
  const fast: CompiledModel = compile(model, { inputs: [spec(specShape)], optimize: level });
  for (const b of batches) {
    const x = kiln.randn(shape(b), { seed: b });
    fast.run(x);
    fast.run(x); // the plan runs (and resolves this batch) from the second call of a signature
  }
  const text = fast.explain();
  const lines = [...text.matchAll(MEMORY_LINE)];
  expect(lines.map((l) => Number(l[1])), text).toEqual([...batches]);
  const s = schedule(fast.graph);
  return lines.map((l) => {
    const [batch, arena, bound] = [Number(l[1]), Number(l[2]), Number(l[3])];
    const types = stepTypes(s, new Map([['batch', batch]]));
    // The same plan again, and its check; O3 adds in-place reuse (the line says how many).
    const m = planMemory(s, types, level === 'O3' ? IN_PLACE : {});
    expect([m.arenaBytes, m.lowerBound]).toEqual([arena, bound]);
    checkPlan(s, types, m);
    expect(Number(l[4])).toBe(m.blocks.reduce((n, b) => n + b.slots.length, 0));
    expect(Number(l[5])).toBe(m.blocks.length);
    expect(l[6] === undefined ? null : Number(l[6])).toBe(level === 'O3' ? m.inPlace.length : null);
    // In-place reuse never raises the bound of the same graph.
    expect(bound).toBeLessThanOrEqual(planMemory(s, types).lowerBound);
    // The graph run with its intermediates only in the arena gives the same bits.
    kiln.scope(() => {
      const x = kiln.randn(shape(batch), { seed: 100 + batch });
      const want = kiln.noGrad(() => interpretEager(fast.graph, [x]));
      const got = kiln.noGrad(() => runInArena(fast.graph, x, new Map([['batch', batch]]), m));
      got.forEach((g, i) => expect(identical(g, want[i]!), `output ${i} through the arena`).toBe(true));
    });
    return { batch, arena, bound, inPlace: l[6] === undefined ? null : Number(l[6]) };
  });
}

describe('acceptance: arena ≤ 1.25 × lower bound on whole models at O0 and O3', () => {
  const models: [string, () => kiln.nn.Module, (b: number) => number[], number][] = [
    ['MLP', mlp, (b) => [b, 12], 0],
    ['CNN (conv/bn/relu/pool/linear)', cnn, (b) => [b, 1, 10, 10], 0],
    ['LSTM written out over 16 steps', () => new HandLstm().eval(), (b) => [16, b, 3], 1],
    ['nn.LSTM over 16 steps', () => new nn.LSTM(3, 8).eval(), (b) => [16, b, 3], 1],
    ['residual block', () => new Residual().eval(), (b) => [b, 4, 6, 6], 0],
  ];
  for (const [name, make, shape, batchAxis] of models) {
    it(name, () => {
      kiln.manualSeed(5);
      const model = make();
      for (const level of ['O0', 'O3'] as const) {
        for (const r of measure(model, shape, batchAxis, level, [1, 5])) {
          expect(r.arena, `${name} ${level} batch ${r.batch}`).toBeLessThanOrEqual(1.25 * r.bound);
          if (process.env['KILN_MEMORY_REPORT']) console.log(`${name} ${level} batch=${r.batch}: arena ${r.arena} / bound ${r.bound} = ${(r.arena / r.bound || 1).toFixed(3)}, in place ${r.inPlace ?? '-'}`);
        }
      }
    });
  }

  it('a plan without symbols prints one memory line before any plan run; a symbolic one says none yet', () => {
    const fixed = compile(mlp(), { inputs: [spec([4, 12])], optimize: 'O0' });
    fixed.run(kiln.randn([4, 12]));
    expect(fixed.explain()).toMatch(/\n {2}}\n {2}memory: arena 1024 bytes \(lower bound 1024 bytes\), 4 intermediates in 4 blocks\n/); // two [4, 32] float32 alive at once
    const sym = compile(mlp(), { inputs: [spec([dim('batch'), 12])], optimize: 'O3' });
    sym.run(kiln.randn([4, 12]));
    expect(sym.explain()).toContain('memory: planned per concrete shape at its first run (none yet)');
  });

  it('segments of a graph-breaking function print their memory line after their graph', () => {
    const f = (x: kiln.Tensor) => {
      const h = x.relu().exp();
      return h.sum().item() > 0 ? h.neg().tanh().sigmoid() : h;
    };
    const fast = compile(f, { inputs: [spec([3, 4])], optimize: 'O0' });
    const x = kiln.randn([3, 4], { seed: 3 });
    for (let i = 0; i < 3; i++) fast.run(x);
    const text = fast.explain();
    // Segment 1 returns all it makes (the lazy tensors are still referenced): nothing in the arena.
    expect(text).toMatch(/segment 1 on \w+: 3 nodes, 2 runs\n {4}graph\([^]*?\n {4}}\n {4}memory: arena 0 bytes \(lower bound 0 bytes\), 0 intermediates in 0 blocks\n/);
    // Segment 2: neg → tanh → sigmoid; the first two results ([3, 4] float32, 48 bytes) are alive together at tanh.
    expect(text).toMatch(/segment 2 on \w+: 3 nodes, 2 runs\n {4}graph\([^]*?\n {4}}\n {4}memory: arena 96 bytes \(lower bound 96 bytes\), 2 intermediates in 2 blocks\n/);
  });
});
