import { cat, I, kernelsOn, ModuleBuilder, T, type Code, type ValType } from '../wasmAssembler.js';
import { SIMD_MATH } from './simdMath.js';

// ---- WebAssembly SIMD elementwise kernels, generated on first use ------------------------
//
// tfjs-backend-wasm's comparisons, logical ops, LeakyRelu and Sqrt are scalar C++ loops
// with per-element broadcast index math (≈5 ns/element), and the ops it lacks (maximum,
// minimum, reciprocal, where, logicalNot) ran as portable JS. Vectorized, these loops are
// memory-bound, so Kiln emits them itself: f32x4 bodies over 16 elements per iteration
// (64 for bool-only ops, on i8x16), then one v128 at a time, then a scalar tail, in a
// module per op that imports tfjs's heap (zero copies; any byte alignment).
//
// Every kernel has one signature shape, all byte addresses / counts (i32):
//   kernel(in0, …, inK-1, out, rows, cols, step0, …, stepK-1, [f32 params])
// It computes `rows` rows of `cols` output elements (the output is contiguous). Input k
// is read per its mode, fixed in the kernel's name: 'v' = one element per output element
// (contiguous), 's' = one element for the whole row (broadcast); after each row its base
// advances by `stepK` bytes (0 keeps it: a row broadcast `[…, C] ∘ [C]`).
//
// Semantics match the portable reference kernels exactly (see the per-op notes), so the
// backends agree bit for bit (NaN payloads aside), except that leakyRelu multiplies by
// alpha rounded to float32 (as PyTorch's float32 kernel does) where the portable kernel
// rounds alpha·x once: at most 1 ulp apart.

/** How an input is read within a row: 'v' = contiguous, 's' = one broadcast element. */
export type Mode = 'v' | 's';
/** Element kinds: float32, 4-byte raw bits (copied, never computed on), bool byte. */
export type Kind = 'f32' | 'b32' | 'u8';

const BYTES: Record<Kind, number> = { f32: 4, b32: 4, u8: 1 };

/**
 * Expression builders: `x[k]` pushes input k (v128 lanes or a scalar), `p[j]` param j (lanes
 * in vector bodies), `tmp` an f32 local; `more.vtmp` is the first of the spec's `vlocals`
 * v128 locals, `more.ps` push the params as f32 (what `SimdUnaryMath` takes), and
 * `more.extra` is the first of the spec's `locals`.
 */
type Expr = (x: readonly Code[], p: readonly Code[], tmp: number, more: { vtmp: number; ps: readonly Code[]; extra: number }) => Code;

/** One generated kernel: export name, inputs (kind and mode), output kind, f32 params, bodies. */
export interface SimdKernelSpec {
  name: string;
  ins: readonly { kind: Kind; mode: Mode }[];
  out: Kind;
  params: number;
  /** v128 scratch locals the bodies use (transcendentals). */
  vlocals?: number;
  /** Further locals of any type (a fused program keeps its steps' values in them). */
  locals?: readonly ValType[];
  /**
   * The main loop's four groups at once, instead of `vec` four times: `x[u][k]` pushes
   * input k of group u; `code` computes them and `results[u]` then pushes group u's
   * result. A long body (a fused program) can so interleave the groups step by step,
   * giving the CPU four independent chains side by side as four single-op loops would.
   */
  vecGroups?: (x: readonly (readonly Code[])[], p: readonly Code[], tmp: number, more: { vtmp: number; ps: readonly Code[]; extra: number }) => { code: Code; results: readonly Code[] };
  /** Vector body: one v128 from v128 inputs (a bool input arrives as a -1/0 lane mask; a bool result is one). */
  vec: Expr;
  /** Scalar body: f32 (i32 0/1 for a bool output) from scalar inputs (a bool input as i32 0/1). */
  sc: Expr;
}
type Spec = SimdKernelSpec;

// ---- per-op bodies --------------------------------------------------------------------

type Bin = { v: (a: Code, b: Code) => Code; s: (a: Code, b: Code) => Code };
const arith = (v: () => Code, s: () => Code): Bin => ({ v: (a, b) => cat(a, b, v()), s: (a, b) => cat(a, b, s()) });

/** Binary float32 → float32 ops. */
export const BINARY_OPS: Record<string, Bin> = {
  add: arith(I.f32x4Add, I.f32Add),
  sub: arith(I.f32x4Sub, I.f32Sub),
  mul: arith(I.f32x4Mul, I.f32Mul),
  div: arith(I.f32x4Div, I.f32Div),
  // Reference: NaN if either is NaN, else `a > b ? a : b` (ties, i.e. ±0, give b; so does
  // PyTorch's vectorized CPU kernel). pmax(b, a) is `b < a ? a : b`: exactly that for
  // numbers, and b when b is NaN; a NaN `a` is patched in by or-ing its lanes' a ≠ a mask
  // (all ones: a NaN) over the result — 3 instructions where a select took 5. f32x4.max
  // would turn max(+0, -0) into +0. The scalar form is the same rule: `a > b || a ≠ a ? a : b`.
  maximum: {
    v: (a, b) => cat(b, a, I.f32x4Pmax(), a, a, I.f32x4Ne(), I.v128Or()),
    s: (a, b) => cat(a, b, a, b, I.f32Gt(), a, a, I.f32Ne(), I.i32Or(), I.select()),
  },
  minimum: {
    v: (a, b) => cat(b, a, I.f32x4Pmin(), a, a, I.f32x4Ne(), I.v128Or()),
    s: (a, b) => cat(a, b, a, b, I.f32Lt(), a, a, I.f32Ne(), I.i32Or(), I.select()),
  },
};

/** Comparisons float32 × float32 → bool byte (0/1); IEEE: NaN compares false except `!=`. */
export const COMPARE_OPS: Record<string, Bin> = {
  equal: arith(I.f32x4Eq, I.f32Eq),
  notEqual: arith(I.f32x4Ne, I.f32Ne),
  less: arith(I.f32x4Lt, I.f32Lt),
  lessEqual: arith(I.f32x4Le, I.f32Le),
  greater: arith(I.f32x4Gt, I.f32Gt),
  greaterEqual: arith(I.f32x4Ge, I.f32Ge),
};

/** Bool × bool → bool (elements are bytes; nonzero is true). */
export const LOGICAL_OPS: Record<string, Bin> = {
  logicalAnd: arith(I.v128And, I.i32And),
  logicalOr: arith(I.v128Or, I.i32Or),
};

type Un = { params: number; v: (x: Code, p: readonly Code[]) => Code; s: (x: Code, p: readonly Code[], tmp: number) => Code };
const ZERO = (): Code => I.f32x4Const(0);

/** Unary float32 ops; `params` are f32 attributes (alpha; min, max). */
export const UNARY_OPS: Record<string, Un> = {
  neg: { params: 0, v: (x) => cat(x, I.f32x4Neg()), s: (x) => cat(x, I.f32Neg()) },
  abs: { params: 0, v: (x) => cat(x, I.f32x4Abs()), s: (x) => cat(x, I.f32Abs()) },
  sqrt: { params: 0, v: (x) => cat(x, I.f32x4Sqrt()), s: (x) => cat(x, I.f32Sqrt()) },
  square: { params: 0, v: (x) => cat(x, x, I.f32x4Mul()), s: (x) => cat(x, x, I.f32Mul()) },
  // `x <= 0 ? 0 : x`, as the reference: pmax(x, 0) is `x < 0 ? 0 : x` (NaN stays NaN),
  // and adding +0 turns its -0 into +0 and leaves every other value as it is.
  relu: { params: 0, v: (x) => cat(x, ZERO(), I.f32x4Pmax(), ZERO(), I.f32x4Add()), s: (x) => cat(I.f32(0), x, x, I.f32(0), I.f32Le(), I.select()) },
  reciprocal: { params: 0, v: (x) => cat(I.f32x4Const(1), x, I.f32x4Div()), s: (x) => cat(I.f32(1), x, I.f32Div()) },
  // `x > 0 ? x : alpha·x` (NaN stays NaN).
  leakyRelu: {
    params: 1,
    v: (x, [a]) => cat(x, x, a!, I.f32x4Mul(), x, ZERO(), I.f32x4Gt(), I.v128Bitselect()),
    s: (x, [a]) => cat(x, x, a!, I.f32Mul(), x, I.f32(0), I.f32Gt(), I.select()),
  },
  // pow(x, 0.5) as Math.pow computes it: sqrt, except pow(-0, .5) = +0 and pow(-∞, .5) = +∞.
  powHalf: {
    params: 0,
    v: (x) => cat(I.f32x4Const(Infinity), x, I.f32x4Sqrt(), ZERO(), I.f32x4Add(), x, I.f32x4Const(-Infinity), I.f32x4Eq(), I.v128Bitselect()),
    s: (x) => cat(I.f32(Infinity), x, I.f32Sqrt(), I.f32(0), I.f32Add(), x, I.f32(-Infinity), I.f32Eq(), I.select()),
  },
  // `x < lo ? lo : x`, then `r > hi ? hi : r` (pmax/pmin are exactly these; NaN stays NaN).
  // A missing bound is passed as ∓Infinity, which leaves every x unchanged.
  clip: {
    params: 2,
    v: (x, [lo, hi]) => cat(x, lo!, I.f32x4Pmax(), hi!, I.f32x4Pmin()),
    s: (x, [lo, hi], t) => cat(lo!, x, x, lo!, I.f32Lt(), I.select(), I.set(t), hi!, I.get(t), I.get(t), hi!, I.f32Gt(), I.select()),
  },
};

// ---- the loop generator ---------------------------------------------------------------

const MODES2: readonly (readonly [Mode, Mode])[] = [['v', 'v'], ['v', 's'], ['s', 'v']];
const MODES3: readonly (readonly [Mode, Mode, Mode])[] = (['v', 's'] as const).flatMap((c) =>
  (['v', 's'] as const).flatMap((x) => (['v', 's'] as const).map((y) => [c, x, y] as const))).filter((m) => m.some((v) => v === 'v'));

/**
 * Emits one kernel function per the calling convention above (also the fused
 * elementwise kernels', whose bodies are a whole program). Word mode (any float or
 * 4-byte stream): a v128 holds 4 elements, a bool input arrives as an i32x4 mask (-1/0)
 * and a bool output is narrowed from four of them. Byte mode (bools only): a v128 holds
 * 16 elements as an i8x16 mask. Scalar bool inputs arrive as 0/1.
 */
export function emitSimdKernel(m: ModuleBuilder, s: Spec): void {
  const K = s.ins.length;
  const types: ValType[] = [];
  const local = (t: ValType): number => K + 3 + K + s.params + types.push(t) - 1;
  const ptr = (k: number): number => k;
  const OUT = K, ROWS = K + 1, COLS = K + 2;
  const step = (k: number): number => K + 3 + k;
  const param = (j: number): number => 2 * K + 3 + j;
  const byteMode = s.out === 'u8' && s.ins.every((x) => x.kind === 'u8');
  const lanes = byteMode ? 16 : 4;
  const i = local(T.i32);
  const cur = s.ins.map(() => local(T.i32));
  const vx = s.ins.map(() => local(T.v128));
  const sx = s.ins.map((x) => local(x.kind === 'f32' ? T.f32 : T.i32));
  const vp = Array.from({ length: s.params }, () => local(T.v128));
  const tmp = local(T.f32);
  const vtmp = K + 3 + K + s.params + types.length;
  for (let j = 0; j < (s.vlocals ?? 0); j++) local(T.v128);
  const vr = [0, 1, 2, 3].map(() => local(T.v128));
  // Word mode: a bool input's 16 bytes widen to i16x8 halves, then to four i32x4 masks.
  const wide = s.ins.map((x) => (!byteMode && x.kind === 'u8' && x.mode === 'v' ? { lo: local(T.v128), hi: local(T.v128) } : null));
  const xv = vx.map((l) => I.get(l)), xs = sx.map((l) => I.get(l));
  const pv = vp.map((l) => I.get(l)), ps = Array.from({ length: s.params }, (_, j) => I.get(param(j)));
  const extra = K + 3 + K + s.params + types.length;
  for (const t of s.locals ?? []) local(t);
  const more = { vtmp, ps, extra };
  // Per-group input lanes for `vecGroups` (a broadcast input's lanes are the same in every group).
  const vxg = s.vecGroups ? [0, 1, 2, 3].map(() => s.ins.map((x, k) => (x.mode === 'v' ? local(T.v128) : vx[k]!))) : null;
  const grouped = vxg ? s.vecGroups!(vxg.map((g) => g.map((l) => I.get(l))), pv, tmp, more) : null;
  const zero16 = (): Code => I.v128([...new Array<number>(16).fill(0)]);

  /** Loads input k's lanes of group u (elements u·lanes … of this iteration) into `into[k]` (default vx[k]). */
  const loadGroup = (u: number, into: readonly number[] = vx): Code => cat(...s.ins.map((x, k) => {
    if (x.mode === 's') return [];
    const w = wide[k];
    if (w) return cat(I.get(u < 2 ? w.lo : w.hi), u % 2 ? I.i32x4ExtendHighI16x8S() : I.i32x4ExtendLowI16x8S(), I.set(into[k]!));
    if (x.kind === 'u8') return cat(I.get(cur[k]!), I.v128Load(16 * u), zero16(), I.i8x16Ne(), I.set(into[k]!));
    return cat(I.get(cur[k]!), I.v128Load(16 * u), I.set(into[k]!));
  }));
  const widen = cat(...wide.map((w, k) => (w ? cat(
    I.get(cur[k]!), I.v128Load(), zero16(), I.i8x16Ne(), I.tee(vx[k]!), I.i16x8ExtendLowI8x16S(), I.set(w.lo),
    I.get(vx[k]!), I.i16x8ExtendHighI8x16S(), I.set(w.hi),
  ) : [])));
  const advance = (elems: number): Code => cat(
    ...s.ins.map((x, k) => (x.mode === 'v' ? I.bump(cur[k]!, I.i32(elems * BYTES[x.kind])) : [])),
    I.bump(OUT, I.i32(elems * BYTES[s.out])),
    I.get(i), I.i32(elems), I.i32Sub(), I.set(i),
  );
  /** `while (i >= n) { body; advance(n) }`, tested at the bottom (one branch per iteration). */
  const whileAtLeast = (n: number, body: Code): Code => I.block(cat(
    I.get(i), I.i32(n), I.i32LtU(), I.brIf(0),
    I.loop(cat(body, advance(n), I.get(i), I.i32(n), I.i32GeU(), I.brIf(0))),
  ));

  /** One group's result stored at byte offset `off` (masks become 1/0 bytes by negation). */
  const storeGroup = (u: number): Code => (byteMode
    ? cat(I.get(OUT), s.vec(xv, pv, tmp, more), I.i8x16Neg(), I.v128Store(16 * u))
    : cat(I.get(OUT), s.vec(xv, pv, tmp, more), I.v128Store(16 * u)));
  // Four groups per iteration: 16 elements in word mode, 64 in byte mode.
  const four = (result: (u: number) => Code): Code => (grouped
    ? cat(...[0, 1, 2, 3].map((u) => loadGroup(u, vxg![u]!)), grouped.code, ...[0, 1, 2, 3].map(result))
    : cat(...[0, 1, 2, 3].map((u) => cat(loadGroup(u), result(u)))));
  const groupResult = (u: number): Code => (grouped ? grouped.results[u]! : s.vec(xv, pv, tmp, more));
  const main = s.out === 'u8' && !byteMode
    ? cat(widen, four((u) => cat(groupResult(u), I.set(vr[u]!))),
      // Four i32x4 masks (-1/0) narrow to 16 mask bytes; negation makes them 1/0.
      I.get(OUT), I.get(vr[0]!), I.get(vr[1]!), I.i16x8NarrowI32x4S(), I.get(vr[2]!), I.get(vr[3]!), I.i16x8NarrowI32x4S(),
      I.i8x16NarrowI16x8S(), I.i8x16Neg(), I.v128Store())
    : cat(widen, four((u) => (byteMode
      ? cat(I.get(OUT), groupResult(u), I.i8x16Neg(), I.v128Store(16 * u))
      : cat(I.get(OUT), groupResult(u), I.v128Store(16 * u)))));
  // Then one group at a time, where a group is a whole v128 of output.
  const single = byteMode || (s.out !== 'u8' && wide.every((w) => !w)) ? whileAtLeast(lanes, cat(loadGroup(0), storeGroup(0))) : [];
  const scalarLoad = (x: { kind: Kind }): Code => (x.kind === 'f32' ? I.f32Load() : x.kind === 'b32' ? I.i32Load() : cat(I.i32Load8U(), I.i32(0), I.i32Ne()));
  const tail = cat(
    ...s.ins.map((x, k) => (x.mode === 'v' ? cat(I.get(cur[k]!), scalarLoad(x), I.set(sx[k]!)) : [])),
    I.get(OUT), s.sc(xs, ps, tmp, more), s.out === 'f32' ? I.f32Store() : s.out === 'b32' ? I.i32Store() : I.i32Store8(),
  );

  const rowSetup = cat(
    I.get(COLS), I.set(i),
    ...s.ins.map((x, k) => {
      if (x.mode === 'v') return cat(I.get(ptr(k)), I.set(cur[k]!));
      // A broadcast element: its scalar and its lanes, once per row.
      const sc = cat(I.get(ptr(k)), scalarLoad(x), I.set(sx[k]!));
      if (x.kind === 'f32') return cat(sc, I.get(sx[k]!), I.f32x4Splat(), I.set(vx[k]!));
      if (x.kind === 'b32') return cat(sc, I.get(sx[k]!), I.i32x4Splat(), I.set(vx[k]!));
      return cat(sc, I.i32(0), I.get(sx[k]!), I.i32Sub(), byteMode ? I.i8x16Splat() : I.i32x4Splat(), I.set(vx[k]!));
    }),
  );
  const rowEnd = cat(...s.ins.map((_x, k) => I.bump(ptr(k), step(k))));
  const body = cat(
    ...vp.map((l, j) => cat(I.get(param(j)), I.f32x4Splat(), I.set(l))),
    I.repeat(ROWS, cat(rowSetup, whileAtLeast(4 * lanes, main), single, whileAtLeast(1, tail), rowEnd)),
  );
  const params: ValType[] = [...s.ins.map(() => T.i32), T.i32, T.i32, T.i32, ...s.ins.map(() => T.i32), ...new Array<ValType>(s.params).fill(T.f32)];
  m.func(s.name, params, [], types, body);
}

/** Export name of a binary or comparison kernel, e.g. `add_vs`. */
export const binaryName = (op: string, a: Mode, b: Mode): string => `${op}_${a}${b}`;
/** Export name of a where kernel (cond, x, y modes), e.g. `where_vvs`. */
export const whereName = (c: Mode, x: Mode, y: Mode): string => `where_${c}${x}${y}`;

/** Kernel specs of one op: its mode combinations (binary: vv, vs, sv; where: 7). */
function specsOf(op: string): Spec[] {
  const bin = BINARY_OPS[op] ?? COMPARE_OPS[op] ?? LOGICAL_OPS[op];
  if (bin) {
    const out: Kind = BINARY_OPS[op] ? 'f32' : 'u8', inKind: Kind = LOGICAL_OPS[op] ? 'u8' : 'f32';
    return MODES2.map(([am, bm]) => ({
      name: binaryName(op, am, bm), ins: [{ kind: inKind, mode: am }, { kind: inKind, mode: bm }], out, params: 0,
      vec: (x) => bin.v(x[0]!, x[1]!), sc: (x) => bin.s(x[0]!, x[1]!),
    }));
  }
  // where(cond, x, y) on raw 4-byte lanes: serves float32 and int32 alike.
  if (op === 'where') {
    return MODES3.map(([cm, xm, ym]) => ({
      name: whereName(cm, xm, ym), ins: [{ kind: 'u8', mode: cm }, { kind: 'b32', mode: xm }, { kind: 'b32', mode: ym }], out: 'b32', params: 0,
      vec: (x) => cat(x[1]!, x[2]!, x[0]!, I.v128Bitselect()),
      sc: (x) => cat(x[1]!, x[2]!, x[0]!, I.select()),
    }));
  }
  if (op === 'logicalNot') {
    return [{ name: op, ins: [{ kind: 'u8', mode: 'v' }], out: 'u8', params: 0, vec: (x) => cat(x[0]!, I.v128Not()), sc: (x) => cat(x[0]!, I.i32Eqz()) }];
  }
  // Transcendentals (simdMath.ts): the scalar tail runs the vector code on a splat.
  const f = SIMD_MATH[op];
  if (f) {
    return [{
      name: op, ins: [{ kind: 'f32', mode: 'v' }], out: 'f32', params: f.params, vlocals: f.locals,
      vec: (x, _p, _t, c) => f.vec(x[0]!, c.vtmp, c.ps),
      sc: (x, _p, _t, c) => cat(f.vec(cat(x[0]!, I.f32x4Splat()), c.vtmp, c.ps), I.f32x4ExtractLane(0)),
    }];
  }
  const u = UNARY_OPS[op];
  if (!u) throw new Error(`no SIMD kernel for ${op}`);
  return [{ name: op, ins: [{ kind: 'f32', mode: 'v' }], out: 'f32', params: u.params, vec: (x, p) => u.v(x[0]!, p), sc: (x, p, t) => u.s(x[0]!, p, t) }];
}

/** Every op with generated kernels. */
export const SIMD_OPS: readonly string[] = [
  ...Object.keys(BINARY_OPS), ...Object.keys(COMPARE_OPS), ...Object.keys(LOGICAL_OPS), 'logicalNot', 'where', ...Object.keys(UNARY_OPS),
  ...Object.keys(SIMD_MATH),
];

/** A module with the kernels of `ops` (one op's module is ~1 KB and generates in ~1 ms). */
export function simdElementwiseModule(ops: readonly string[] = SIMD_OPS): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder().importMemory();
  for (const op of ops) for (const spec of specsOf(op)) emitSimdKernel(m, spec);
  return m.bytes();
}

/** A generated kernel: pointers, out, rows, cols, row steps (bytes), then f32 params. */
export type SimdKernel = (...args: number[]) => void;
export type SimdKernels = Readonly<Record<string, SimdKernel>>;

/**
 * The kernels of `op` bound to `memory`, by export name. Each op's module is generated,
 * compiled and instantiated on first use, then cached (per op, per memory).
 */
export function simdKernels(memory: WebAssembly.Memory, op: string): SimdKernels {
  return kernelsOn<SimdKernels>(memory, `simdElementwise ${op}`, () => simdElementwiseModule([op]));
}
