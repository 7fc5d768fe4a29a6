// The per-step gate ops of the recurrent layers (src/ops/recurrentCells.ts) on wasm: one
// generated SIMD kernel each, one pass over batch × hidden that reads the two projections
// and the state once and writes the new state once, instead of a split and a dozen
// elementwise passes.
//
//   lstm(xp, hp, c, hOut, cOut, rows, H)   xp, hp [rows, 4H] (i, f, g, o), c [rows, H]
//   gru(xp, hp, h, out, rows, H)           xp, hp [rows, 3H] (r, z, n), h [rows, H]
//   rnnTanh|rnnRelu(xp, hp, out, rows, H)  xp, hp [rows, H] (the Elman RNN's step)
// (byte addresses, then counts). Per row: eight hidden units at a time (two cells side by
// side, their code interleaved), then four, then one at a time (the same vector code on a
// splat, lane 0 stored), so every element is computed alike.
//
// The arithmetic is the decomposition's, op for op in float32 (a = xp + hp;
// c' = σ(f)·c + σ(i)·tanh(g); h' = σ(o)·tanh(c'); gru: n = tanh(xn + r·hn), h' = n + z·(h − n)),
// with σ and tanh from `SIMD_MATH` (≤ 2 ulp each against float64 `Math`, see simdMath.ts):
// the results agree with the float64 reference kernels within a few float32 ulp of the
// gates' magnitudes (the tests hold them to 1e-5·max(1, |ref|)). NaN in any input reaches
// exactly the outputs the reference makes NaN; σ(±∞) and tanh(±∞) are exact (0, 1, ±1).
import type { Kernel } from '../../backend.js';
import { registerNativeKernels, type NativeKernelFactory } from '../nativeKernels.js';
import type { WasmStorage } from '../wasmBackend.js';
import { cat, I, kernelsOn, ModuleBuilder, T, type Code, type ValType } from '../wasmAssembler.js';
import { fallbackOf } from './elementwise.js';
import { UNARY_OPS } from './simdElementwise.js';
import { SIMD_MATH } from './simdMath.js';

const sigmoid = SIMD_MATH['sigmoid']!, tanh = SIMD_MATH['tanh']!;

/** How a cell's code reads and writes: whole v128s (four units) or one unit as a splat. */
interface Access {
  /** Pushes the f32x4 at byte address `addr`. */
  load(addr: Code): Code;
  /** Stores `value` (an f32x4) at `addr`. */
  store(addr: Code, value: Code): Code;
  /** Bytes one application covers. */
  readonly bytes: number;
}

/** Four units `offset` bytes on. */
const vectorAt = (offset: number): Access => ({ load: (a) => cat(a, I.v128Load(offset)), store: (a, v) => cat(a, v, I.v128Store(offset)), bytes: 16 });
const VECTOR = vectorAt(0);
const SCALAR: Access = {
  load: (a) => cat(a, I.f32Load(), I.f32x4Splat()),
  store: (a, v) => cat(a, v, I.f32x4ExtractLane(0), I.f32Store()),
  bytes: 4,
};

/**
 * One gate kernel: params (input pointers…, output pointers…, rows, H); per row, `cell`
 * over H units, with the projections' pointers at gate 0 and `gate(p, k)` the address of
 * gate k (k·H·4 bytes on).
 */
interface GateSpec {
  readonly name: string;
  readonly gates: number;
  /** Pointer params that advance one unit per unit (state in, outputs). */
  readonly streams: number;
  /** v128 locals the cell keeps its gates in. */
  readonly keep: number;
  /**
   * The cell's code in phases (each a gate's σ/tanh, then the state update): cells run
   * side by side interleave theirs phase by phase (see `emit`).
   */
  cell(acc: Access, gate: (projection: 0 | 1, k: number) => Code, stream: (s: number) => Code, v: (k: number) => number, tmp: number): Code[];
}

function emit(m: ModuleBuilder, s: GateSpec): void {
  // Params: xp, hp, the streams, rows, H. Then locals.
  const XP = 0, HP = 1, ROWS = 2 + s.streams, H = 3 + s.streams;
  const types: ValType[] = [];
  const local = (t: ValType): number => H + 1 + types.push(t) - 1;
  const left = local(T.i32);
  const stride = [0, 1, 2, 3].map(() => local(T.i32)); // k·H·4 bytes, gates 0–3
  // Two cells side by side (eight units): each keeps its own gates.
  const keep = Array.from({ length: 2 * s.keep }, () => local(T.v128));
  const tmp = local(T.v128);
  for (let k = 1; k < Math.max(sigmoid.locals, tanh.locals); k++) local(T.v128);
  const proj = [XP, HP];
  const gate = (p: 0 | 1, k: number): Code => (k === 0 ? I.get(proj[p]!) : cat(I.get(proj[p]!), I.get(stride[k]!), I.i32Add()));
  const stream = (j: number): Code => I.get(2 + j);
  const advance = (bytes: number): Code => cat(
    ...[...proj, ...Array.from({ length: s.streams }, (_, j) => 2 + j)].map((p) => I.bump(p, I.i32(bytes))),
    I.get(left), I.i32(bytes / 4), I.i32Sub(), I.set(left),
  );
  /**
   * `while (left >= n) { cells; advance }`, the cells of `accs` (side by side in memory)
   * interleaved phase by phase: each σ/tanh is a long dependency chain, and two independent
   * ones next to each other keep the CPU busy where one cell's code in a row would stall it
   * (the results are the same: each lane computes the same operations).
   */
  const whileAtLeast = (n: number, accs: readonly Access[]): Code => {
    const phases = accs.map((acc, j) => s.cell(acc, gate, stream, (k) => keep[j * s.keep + k]!, tmp));
    const bytes = accs.reduce((sum, acc) => sum + acc.bytes, 0);
    return I.block(cat(
      I.get(left), I.i32(n), I.i32LtU(), I.brIf(0),
      I.loop(cat(phases[0]!.map((_, i) => cat(...phases.map((p) => p[i]!))), advance(bytes), I.get(left), I.i32(n), I.i32GeU(), I.brIf(0))),
    ));
  };
  const body = cat(
    ...[1, 2, 3].map((k) => cat(I.get(H), I.i32(4 * k), I.i32Mul(), I.set(stride[k]!))),
    I.repeat(ROWS, cat(
      I.get(H), I.set(left),
      whileAtLeast(8, [VECTOR, vectorAt(16)]),
      whileAtLeast(4, [VECTOR]),
      whileAtLeast(1, [SCALAR]),
      // The projections' rows hold `gates` blocks: skip the other gates' blocks.
      I.bump(XP, stride[s.gates - 1]!), I.bump(HP, stride[s.gates - 1]!),
    )),
  );
  m.func(s.name, [T.i32, T.i32, ...new Array<ValType>(s.streams).fill(T.i32), T.i32, T.i32], [], types, body);
}

/** xp + hp at gate k. */
const preact = (acc: Access, gate: (p: 0 | 1, k: number) => Code, k: number): Code => cat(acc.load(gate(0, k)), acc.load(gate(1, k)), I.f32x4Add());

// Streams: c, hOut, cOut. Kept: σ(i), σ(f), tanh(g), σ(o) → then c' in slot 1.
const LSTM: GateSpec = {
  name: 'lstm', gates: 4, streams: 3, keep: 4,
  cell: (acc, gate, stream, v, tmp) => [
    cat(sigmoid.vec(preact(acc, gate, 0), tmp, []), I.set(v(0))),
    cat(sigmoid.vec(preact(acc, gate, 1), tmp, []), I.set(v(1))),
    cat(tanh.vec(preact(acc, gate, 2), tmp, []), I.set(v(2))),
    cat(sigmoid.vec(preact(acc, gate, 3), tmp, []), I.set(v(3))),
    // c' = σ(f)·c + σ(i)·tanh(g)
    cat(I.get(v(1)), acc.load(stream(0)), I.f32x4Mul(), I.get(v(0)), I.get(v(2)), I.f32x4Mul(), I.f32x4Add(), I.set(v(1)), acc.store(stream(2), I.get(v(1)))),
    // h' = σ(o)·tanh(c')
    acc.store(stream(1), cat(I.get(v(3)), tanh.vec(I.get(v(1)), tmp, []), I.f32x4Mul())),
  ],
};

// Streams: h, out. Kept: r, z, n.
const GRU: GateSpec = {
  name: 'gru', gates: 3, streams: 2, keep: 3,
  cell: (acc, gate, stream, v, tmp) => [
    cat(sigmoid.vec(preact(acc, gate, 0), tmp, []), I.set(v(0))),
    cat(sigmoid.vec(preact(acc, gate, 1), tmp, []), I.set(v(1))),
    // n = tanh(xn + r·hn)
    cat(tanh.vec(cat(acc.load(gate(0, 2)), I.get(v(0)), acc.load(gate(1, 2)), I.f32x4Mul(), I.f32x4Add()), tmp, []), I.set(v(2))),
    // h' = n + z·(h − n)
    acc.store(stream(1), cat(I.get(v(2)), I.get(v(1)), acc.load(stream(0)), I.get(v(2)), I.f32x4Sub(), I.f32x4Mul(), I.f32x4Add())),
  ],
};

/**
 * The Elman RNN's step as a gate kernel (the sequence kernel's; the unrolled graph runs the
 * add and the activation as ops): out = tanh|relu(xp + hp), the activations' own code
 * (SIMD_MATH's tanh; the elementwise relu), so the same bits.
 */
const rnnCell = (name: string, act: (x: Code, tmp: number) => Code): GateSpec => ({
  name, gates: 1, streams: 1, keep: 0,
  cell: (acc, gate, stream, _v, tmp) => [acc.store(stream(0), act(preact(acc, gate, 0), tmp))],
});
const RNN_TANH = rnnCell('rnnTanh', (x, tmp) => tanh.vec(x, tmp, []));
const RNN_RELU = rnnCell('rnnRelu', (x) => UNARY_OPS['relu']!.v(x, []));

/** The module with the gate kernels (~2 KB, generated once per heap). */
export function recurrentGatesModule(): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder().importMemory();
  emit(m, LSTM);
  emit(m, GRU);
  emit(m, RNN_TANH);
  emit(m, RNN_RELU);
  return m.bytes();
}

interface GateKernels {
  lstm(xp: number, hp: number, c: number, hOut: number, cOut: number, rows: number, hidden: number): void;
  gru(xp: number, hp: number, h: number, out: number, rows: number, hidden: number): void;
  rnnTanh(xp: number, hp: number, out: number, rows: number, hidden: number): void;
  rnnRelu(xp: number, hp: number, out: number, rows: number, hidden: number): void;
}

/** The gate kernels on `memory` (byte addresses, then counts; see the top of this file). */
export function recurrentGatesOn(memory: WebAssembly.Memory): GateKernels {
  return kernelsOn<GateKernels>(memory, 'recurrentGates', recurrentGatesModule);
}

/** A gate op on the generated kernel for float32; other dtypes run the portable kernel. */
function gateKernel(which: keyof GateKernels): NativeKernelFactory {
  return (backend, name): Kernel<WasmStorage> => {
    const other = fallbackOf(backend, name);
    let k: GateKernels | null = null;
    return (inputs, attrs, outTypes, given) => {
      const xp = inputs[0]!, hp = inputs[1]!, s = inputs[2]!;
      if (xp.dtype !== 'float32' || hp.dtype !== 'float32' || s.dtype !== 'float32') return other(inputs, attrs, outTypes, given);
      const rows = s.shape[0]!, hidden = s.shape[1]!;
      // Every output caller-given (a plan's hot path): no array per call.
      const outs = given && given.length === outTypes.length && given[0] && (outTypes.length < 2 || given[1])
        ? (given as WasmStorage[])
        : outTypes.map((_t, j) => given?.[j] ?? backend.alloc('float32', rows * hidden));
      if (rows * hidden > 0) {
        k ??= recurrentGatesOn(backend.memory);
        if (which === 'lstm') k.lstm(xp.storage.ptr, hp.storage.ptr, s.storage.ptr, outs[0]!.ptr, outs[1]!.ptr, rows, hidden);
        else k.gru(xp.storage.ptr, hp.storage.ptr, s.storage.ptr, outs[0]!.ptr, rows, hidden);
      }
      return outs;
    };
  };
}

registerNativeKernels({ lstmGates: gateKernel('lstm'), gruGates: gateKernel('gru') });
