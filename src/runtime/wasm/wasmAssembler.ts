/**
 * A small WebAssembly module builder for the kernels Kiln generates itself (copy loops,
 * SIMD elementwise loops). Modules import tfjs-backend-wasm's heap as `env.memory`, so
 * they work on Kiln's tensors in place; functions take byte addresses.
 *
 * Code is nested arrays of bytes: each helper in `I` returns one instruction (or a
 * structured block around its body), a function body is any nesting of them, and
 * `ModuleBuilder.func` flattens it once.
 *
 * @example
 * const m = new ModuleBuilder().importMemory();
 * // fill(dst, n, value): n float32s at byte address dst.
 * m.func('fill', [T.i32, T.i32, T.f32], [], [], I.repeat(1, [I.get(0), I.get(2), I.f32Store(), I.bump(0, I.i32(4))]));
 * const inst = new WebAssembly.Instance(new WebAssembly.Module(m.bytes()), { env: { memory } });
 * // On tfjs's threaded build the heap is shared: compile with `compileForMemory(memory, …)`.
 */

/** Value types. */
export const T = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b } as const;
export type ValType = (typeof T)[keyof typeof T];

/**
 * Instruction bytes, possibly nested: blocks and concatenations hold their parts instead of
 * copying them, and `ModuleBuilder.func` flattens each body once (generation stays ~1 ms).
 */
export type Code = readonly (number | Code)[];

/** Concatenates code without copying. */
export const cat = (...parts: Code[]): Code => parts;

function flattenInto(code: Code, out: number[]): void {
  for (const c of code) {
    if (typeof c === 'number') out.push(c);
    else flattenInto(c, out);
  }
}

/** The bytes of nested code. */
export function flatten(code: Code): number[] {
  const out: number[] = [];
  flattenInto(code, out);
  return out;
}

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (i32 range). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) { out.push(b); return out; }
    out.push(b | 0x80);
  }
}

const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

/** Memory immediate: log2 alignment hint and a constant byte offset. */
const mem = (align: number, offset = 0): number[] => [...uleb(align), ...uleb(offset)];
/** A SIMD (0xfd-prefixed) instruction. */
const simd = (opcode: number, ...imm: number[]): Code => [0xfd, ...uleb(opcode), ...imm];

const f32Bytes = (v: number): number[] => [...new Uint8Array(new Float32Array([v]).buffer)];

/** Instructions. Loads/stores take an optional constant byte offset. */
export const I = {
  // ---- control
  /** `block … end` with no result. */
  block: (body: Code): Code => [0x02, 0x40, body, 0x0b],
  /** `loop … end` with no result. */
  loop: (body: Code): Code => [0x03, 0x40, body, 0x0b],
  /** `if … end` (consumes an i32). */
  if: (body: Code): Code => [0x04, 0x40, body, 0x0b],
  /** `if … else … end` (consumes an i32). */
  ifElse: (then: Code, otherwise: Code): Code => [0x04, 0x40, then, 0x05, otherwise, 0x0b],
  br: (depth: number): Code => [0x0c, ...uleb(depth)],
  brIf: (depth: number): Code => [0x0d, ...uleb(depth)],
  /** `select` (untyped: numeric operands): c ? a : b with stack a, b, c. */
  select: (): Code => [0x1b],
  drop: (): Code => [0x1a],

  // ---- locals and constants
  get: (i: number): Code => [0x20, ...uleb(i)],
  set: (i: number): Code => [0x21, ...uleb(i)],
  tee: (i: number): Code => [0x22, ...uleb(i)],
  i32: (v: number): Code => [0x41, ...sleb(v)],
  f32: (v: number): Code => [0x43, ...f32Bytes(v)],
  /** v128.const from 16 bytes. */
  v128: (bytes: readonly number[]): Code => simd(0x0c, ...bytes),
  /** v128.const of four equal f32 lanes. */
  f32x4Const: (v: number): Code => simd(0x0c, ...f32Bytes(v), ...f32Bytes(v), ...f32Bytes(v), ...f32Bytes(v)),

  // ---- i32
  i32Eqz: (): Code => [0x45],
  i32Eq: (): Code => [0x46],
  i32Ne: (): Code => [0x47],
  i32LtU: (): Code => [0x49],
  i32GeU: (): Code => [0x4f],
  i32Add: (): Code => [0x6a],
  i32Sub: (): Code => [0x6b],
  i32Mul: (): Code => [0x6c],
  i32DivU: (): Code => [0x6e],
  i32And: (): Code => [0x71],
  i32Or: (): Code => [0x72],
  i32ShrU: (): Code => [0x76],

  // ---- memory
  i32Load: (off = 0): Code => [0x28, ...mem(2, off)],
  f32Load: (off = 0): Code => [0x2a, ...mem(2, off)],
  i32Load8U: (off = 0): Code => [0x2d, ...mem(0, off)],
  i32Store: (off = 0): Code => [0x36, ...mem(2, off)],
  f32Store: (off = 0): Code => [0x38, ...mem(2, off)],
  i32Store8: (off = 0): Code => [0x3a, ...mem(0, off)],
  v128Load: (off = 0): Code => simd(0x00, ...mem(4, off)),
  v128Store: (off = 0): Code => simd(0x0b, ...mem(4, off)),
  f64Load: (off = 0): Code => [0x2b, ...mem(3, off)],
  f64Store: (off = 0): Code => [0x39, ...mem(3, off)],
  /** memory.copy (dst, src, bytes). */
  memoryCopy: (): Code => [0xfc, 0x0a, 0x00, 0x00],
  /** memory.fill (dst, byte, bytes). */
  memoryFill: (): Code => [0xfc, 0x0b, 0x00],

  // ---- f32 scalar
  f32Eq: (): Code => [0x5b],
  f32Ne: (): Code => [0x5c],
  f32Lt: (): Code => [0x5d],
  f32Gt: (): Code => [0x5e],
  f32Le: (): Code => [0x5f],
  f32Ge: (): Code => [0x60],
  f32Abs: (): Code => [0x8b],
  f32Neg: (): Code => [0x8c],
  f32Sqrt: (): Code => [0x91],
  f32Add: (): Code => [0x92],
  f32Sub: (): Code => [0x93],
  f32Mul: (): Code => [0x94],
  f32Div: (): Code => [0x95],

  // ---- f64 scalar
  f64Add: (): Code => [0xa0],

  // ---- conversions
  f32ConvertI32S: (): Code => [0xb2],
  f32ConvertI32U: (): Code => [0xb3],
  i32TruncSatF32S: (): Code => [0xfc, 0x00],
  f32DemoteF64: (): Code => [0xb6],
  f64PromoteF32: (): Code => [0xbb],

  // ---- SIMD
  /** i8x16.shuffle(a, b): byte k of the result is byte lanes[k] of a‖b (0–31). */
  i8x16Shuffle: (lanes: readonly number[]): Code => simd(0x0d, ...lanes),
  /** The i8x16.shuffle that picks 32-bit lanes (0–3 from a, 4–7 from b). */
  i32x4Shuffle: (l0: number, l1: number, l2: number, l3: number): Code => simd(0x0d, ...[l0, l1, l2, l3].flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])),
  i8x16Splat: (): Code => simd(0x0f),
  i32x4Splat: (): Code => simd(0x11),
  f32x4Splat: (): Code => simd(0x13),
  i8x16Ne: (): Code => simd(0x24),
  f32x4Eq: (): Code => simd(0x41),
  f32x4Ne: (): Code => simd(0x42),
  f32x4Lt: (): Code => simd(0x43),
  f32x4Gt: (): Code => simd(0x44),
  f32x4Le: (): Code => simd(0x45),
  f32x4Ge: (): Code => simd(0x46),
  v128Not: (): Code => simd(0x4d),
  v128And: (): Code => simd(0x4e),
  v128Or: (): Code => simd(0x50),
  /** bitselect(a, b, mask): bits of a where mask is 1, else of b. */
  v128Bitselect: (): Code => simd(0x52),
  i8x16Neg: (): Code => simd(0x61),
  i8x16NarrowI16x8S: (): Code => simd(0x65),
  i16x8NarrowI32x4S: (): Code => simd(0x85),
  i16x8ExtendLowI8x16S: (): Code => simd(0x87),
  i16x8ExtendHighI8x16S: (): Code => simd(0x88),
  i32x4ExtendLowI16x8S: (): Code => simd(0xa7),
  i32x4ExtendHighI16x8S: (): Code => simd(0xa8),
  f32x4Abs: (): Code => simd(0xe0),
  f32x4Neg: (): Code => simd(0xe1),
  f32x4Sqrt: (): Code => simd(0xe3),
  f32x4Add: (): Code => simd(0xe4),
  f32x4Sub: (): Code => simd(0xe5),
  f32x4Mul: (): Code => simd(0xe6),
  f32x4Div: (): Code => simd(0xe7),
  /** IEEE 754-2019 min/max: NaN-propagating, -0 < +0. */
  f32x4Min: (): Code => simd(0xe8),
  f32x4Max: (): Code => simd(0xe9),
  /** pmin(a, b) = b < a ? b : a; pmax(a, b) = a < b ? b : a (C's ternaries, exactly). */
  f32x4Pmin: (): Code => simd(0xea),
  f32x4Pmax: (): Code => simd(0xeb),
  f64x2ExtractLane: (lane: number): Code => simd(0x21, lane),
  /** The two low f32 lanes widened to f64 (exact). */
  f64x2PromoteLowF32x4: (): Code => simd(0x5f),
  f64x2Add: (): Code => simd(0xf0),
  // float64 arithmetic (normalization kernels: statistics and normalizing in float64)
  f64x2Sub: (): Code => simd(0xf1),
  f64Sub: (): Code => [0xa1],
  f64Div: (): Code => [0xa3],
  f64Sqrt: (): Code => [0x9f],

  // ---- more integer, i64, f64 and SIMD instructions (Philox samplers, pool gradients)
  i32Xor: (): Code => [0x73],
  i32WrapI64: (): Code => [0xa7],
  i64Const: (v: number): Code => [0x42, ...sleb(v)],
  i64ExtendI32U: (): Code => [0xad],
  i64Add: (): Code => [0x7c],
  i64Mul: (): Code => [0x7e],
  i64Or: (): Code => [0x84],
  i64Shl: (): Code => [0x86],
  i64ShrU: (): Code => [0x88],
  f64Const: (v: number): Code => [0x44, ...new Uint8Array(new Float64Array([v]).buffer)],
  f64Mul: (): Code => [0xa2],
  f64Floor: (): Code => [0x9c],
  f64ConvertI32U: (): Code => [0xb8],
  i32TruncSatF64S: (): Code => [0xfc, 0x02],
  v128Xor: (): Code => simd(0x51),
  i32x4LtU: (): Code => simd(0x3a),
  i32x4ShrU: (): Code => simd(0xad),
  i32x4Add: (): Code => simd(0xae),
  i32x4Sub: (): Code => simd(0xb1),
  /** Full 64-bit products of the low (high) two u32 lanes. */
  i64x2ExtmulLowI32x4U: (): Code => simd(0xde),
  i64x2ExtmulHighI32x4U: (): Code => simd(0xdf),
  f64x2Splat: (): Code => simd(0x14),
  f64x2Floor: (): Code => simd(0x75),
  f64x2Mul: (): Code => simd(0xf2),
  f32x4ConvertI32x4S: (): Code => simd(0xfa),
  /** The two low lanes as f64, signed / unsigned (exact). */
  f64x2ConvertLowI32x4S: (): Code => simd(0xfe),
  f64x2ConvertLowI32x4U: (): Code => simd(0xff),
  /** f64x2 → f32 lanes 0, 1 (lanes 2, 3 zero); round to nearest even. */
  f32x4DemoteF64x2Zero: (): Code => simd(0x5e),
  /** f64x2 → i32 lanes 0, 1 (truncated, saturating; lanes 2, 3 zero). */
  i32x4TruncSatF64x2SZero: (): Code => simd(0xfc),
  f32Max: (): Code => [0x97],
  i32LtS: (): Code => [0x48],
  i32GtS: (): Code => [0x4a],
  /** v128.andnot(a, b) = a & ~b. */
  v128AndNot: (): Code => simd(0x4f),
  i32x4Mul: (): Code => simd(0xb5),
  i32x4MaxS: (): Code => simd(0xb8),
  i32x4ExtractLane: (lane: number): Code => simd(0x1b, lane),
  f32x4ReplaceLane: (lane: number): Code => simd(0x20, lane),
  /** v128.load32_splat: one float32 (or i32) from memory into all four lanes (GEMM kernels). */
  v128Load32Splat: (off = 0): Code => simd(0x09, ...mem(2, off)),
  /**
   * Relaxed SIMD f32x4.relaxed_madd(a, b, c) = a·b + c, fused or not as the engine picks
   * (x64 with FMA: fused). Only where `WebAssembly.validate` accepts it (Node 20 needs
   * `--experimental-wasm-relaxed-simd`): detect, never require.
   */
  f32x4RelaxedMadd: (): Code => simd(0x105),

  // ---- SIMD float/bit tricks for polynomial transcendentals (simdMath.ts)
  f32x4ExtractLane: (lane: number): Code => simd(0x1f, lane),
  i32x4Shl: (): Code => simd(0xab),
  i32x4ShrS: (): Code => simd(0xac),
  /** v128.const of four equal i32 lanes. */
  i32x4Const: (v: number): Code => simd(0x0c, ...[v, v, v, v].flatMap((x) => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, (x >>> 24) & 0xff])),

  // ---- small idioms
  /** local[i] += local[by], or += a constant when `by` is code. */
  bump: (i: number, by: number | Code): Code => [0x20, ...uleb(i), typeof by === 'number' ? [0x20, ...uleb(by)] : by, 0x6a, 0x21, ...uleb(i)],
  /** Runs `body` local[counter] times, decrementing it (no run when it is 0). */
  repeat: (counter: number, body: Code): Code => I.block([
    I.get(counter), I.i32Eqz(), I.brIf(0),
    I.loop([body, I.get(counter), I.i32(1), I.i32Sub(), I.tee(counter), I.brIf(0)]),
  ]),
  /** `x = start; while (x < end) { body; x += step }` (signed compare, tested first). */
  forUp: (x: number, start: Code, end: Code, step: Code, body: Code): Code => I.block([
    start, I.set(x),
    I.loop([I.get(x), end, I.i32LtS(), I.i32Eqz(), I.brIf(1), body, I.bump(x, step), I.br(0)]),
  ]),
};

interface FuncDef { name: string; type: number; locals: ValType[]; body: number[] }

// How generated modules declare the heap they import. tfjs's single-threaded build has a
// plain memory, matched by "min 0, no max". Its threaded build's memory is shared, and a
// shared memory's import must say so and give a maximum (flags 0x03) at least the
// memory's own: Emscripten creates that heap with maximum 65536 pages (4 GiB, the wasm32
// ceiling), so declaring 65536 matches it, and any other shared memory too.
const WASM32_MAX_PAGES = 65536;
/** What `importMemory()` declares by default: set by `compileForMemory` while it generates. */
let importsShared = false;

/** The limits of a memory import: plain (min 0) or shared (min 0, max 65536 pages). */
export function memoryImportLimits(shared: boolean): number[] {
  return shared ? [0x03, 0x00, ...uleb(WASM32_MAX_PAGES)] : [0x00, 0x00];
}

const compiledForMemory = new Map<string, WebAssembly.Module>();

/**
 * The module `generate` builds, compiled to be instantiated on `memory`: while it runs,
 * `importMemory()` declares a shared memory if `memory` is one (tfjs's threaded build),
 * a plain one otherwise. Compiled once per `key` and kind of memory.
 */
export function compileForMemory(memory: WebAssembly.Memory, key: string, generate: () => Uint8Array<ArrayBuffer>): WebAssembly.Module {
  // Pages without cross-origin isolation have no SharedArrayBuffer at all (the name is undefined).
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const cacheKey = `${shared ? 'shared' : 'plain'} ${key}`;
  let mod = compiledForMemory.get(cacheKey);
  if (!mod) {
    const outer = importsShared;
    importsShared = shared;
    try {
      mod = new WebAssembly.Module(generate());
    } finally {
      importsShared = outer;
    }
    compiledForMemory.set(cacheKey, mod);
  }
  return mod;
}

const instancesByMemory = new WeakMap<WebAssembly.Memory, Map<string, WebAssembly.Exports>>();

/**
 * The exports of the module `generate` builds, instantiated on `memory` (imported as
 * `env.memory`): compiled once per `key` and kind of memory (`compileForMemory`),
 * instantiated once per memory and key. `T` describes the exported functions.
 */
export function kernelsOn<T>(memory: WebAssembly.Memory, key: string, generate: () => Uint8Array<ArrayBuffer>): T {
  let byKey = instancesByMemory.get(memory);
  if (!byKey) instancesByMemory.set(memory, (byKey = new Map()));
  let exports = byKey.get(key);
  if (!exports) {
    exports = new WebAssembly.Instance(compileForMemory(memory, key, generate), { env: { memory } }).exports;
    byKey.set(key, exports);
  }
  return exports as unknown as T;
}

/** Collects types, the memory import, functions and their exports; `bytes()` encodes. */
export class ModuleBuilder {
  private readonly types: string[] = [];
  private readonly funcs: FuncDef[] = [];
  private memory: { module: string; field: string; shared: boolean } | null = null;

  /**
   * Imports a memory (default `env.memory`, min 0 pages: the host passes tfjs's heap);
   * `shared` defaults to the memory `compileForMemory` is compiling for (else plain).
   */
  importMemory(module = 'env', field = 'memory', shared = importsShared): this {
    this.memory = { module, field, shared };
    return this;
  }

  /** Adds an exported function; parameters are locals 0…n-1, then `locals`. Returns its index. */
  func(fnName: string, params: readonly ValType[], results: readonly ValType[], locals: readonly ValType[], body: Code): number {
    const sig = [0x60, ...uleb(params.length), ...params, ...uleb(results.length), ...results].join(',');
    let type = this.types.indexOf(sig);
    if (type < 0) type = this.types.push(sig) - 1;
    if (this.funcs.some((f) => f.name === fnName)) throw new Error(`wasm function ${fnName} defined twice`);
    this.funcs.push({ name: fnName, type, locals: [...locals], body: flatten(body) });
    return this.funcs.length - 1;
  }

  bytes(): Uint8Array<ArrayBuffer> {
    const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const put = (bytes: readonly number[]): void => { for (const b of bytes) out.push(b); };
    const section = (id: number, items: readonly number[][]): void => {
      if (items.length === 0) return;
      let size = uleb(items.length).length;
      for (const it of items) size += it.length;
      put([id, ...uleb(size), ...uleb(items.length)]);
      for (const it of items) put(it);
    };
    section(1, this.types.map((s) => s.split(',').map(Number)));
    if (this.memory) section(2, [[...name(this.memory.module), ...name(this.memory.field), 0x02, ...memoryImportLimits(this.memory.shared)]]);
    section(3, this.funcs.map((f) => uleb(f.type)));
    section(7, this.funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]));
    section(10, this.funcs.map((f) => {
      // Locals are run-length encoded by type.
      const head: number[] = [];
      let runs = 0;
      for (let i = 0; i < f.locals.length;) {
        let j = i;
        while (j < f.locals.length && f.locals[j] === f.locals[i]) j++;
        head.push(...uleb(j - i), f.locals[i]!);
        runs++;
        i = j;
      }
      const size = uleb(runs).length + head.length + f.body.length + 1;
      const fn = [...uleb(size), ...uleb(runs), ...head];
      for (const b of f.body) fn.push(b);
      fn.push(0x0b);
      return fn;
    }));
    return new Uint8Array(out);
  }
}
