import type { PoolGeom } from '../../reference/kernels/nn.js';
import { cat, I, kernelsOn, ModuleBuilder, T, type Code, type ValType } from '../wasmAssembler.js';
import { avgScales } from './poolKernel.js';
import type { WasmBackend } from '../wasmBackend.js';

// ---- generated WebAssembly pool kernels on channels-last (NHWC) images --------------------
//
// The NHWC forms of maxPool2d / avgPool2d (ops/layout.ts), bit-identical to the reference
// kernels run on the transposed input. Channels are contiguous, so one window is a
// vector loop over channels per tap: four channels per f32x4 step, the last C mod 4
// channels one by one. Each window is clipped to the input by a per-row and a per-column
// table ([start, end) pairs, computed in JS); taps in the padding are skipped, which for
// max is max with -inf and for avg adds +0 to a sum that starts at +0 — the same bits.
//
// - max: the output pixel starts at -inf and takes f32x4.max / f32.max with each tap:
//   IEEE maximum (NaN-propagating, +0 over -0), as Math.max in the reference; max is
//   associative and commutative, so the tap order does not matter.
// - avg: a double accumulator per channel (scratch), taps added in the reference's
//   row-major order, × the window's 1/divisor (a double, the same table as the NCHW
//   kernel's), rounded to float32.

const PARAMS = { x: 0, y: 1, N: 2, H: 3, W: 4, C: 5, OH: 6, OW: 7, rows: 8, cols: 9, scales: 10, acc: 11 } as const;
const NP = 12;

function emit(m: ModuleBuilder, kind: 'max' | 'avg'): void {
  const P = PARAMS;
  const types: ValType[] = [];
  const local = (t: ValType): number => NP + types.push(t) - 1;
  const [n, oh, ow, h, w, h0, h1, w0, w1, xImg, yp, tap, c, c4, cb, rowBytes, sc, a] = Array.from({ length: 18 }, () => local(T.i32));
  const [v, s2] = [local(T.v128), local(T.v128)];
  const s = local(T.f64);
  const { get, set, tee } = I;
  const k = I.i32;
  const add = (x: Code, y: Code): Code => cat(x, y, I.i32Add());
  const mul = (x: Code, y: Code): Code => cat(x, y, I.i32Mul());
  /** Loops local `c` over float byte offsets [from, to) in steps of `step` bytes. */
  const channels = (from: Code, to: number, step: number, body: Code): Code => I.forUp(c, from, get(to), k(step), body);

  const init = kind === 'max'
    ? cat(
      channels(k(0), c4, 16, cat(add(get(yp), get(c)), I.f32x4Const(-Infinity), I.v128Store())),
      channels(get(c4), cb, 4, cat(add(get(yp), get(c)), I.f32(-Infinity), I.f32Store())),
    )
    // Doubles: the accumulator holds 2 bytes per float byte.
    : cat(get(P.acc), k(0), mul(get(cb), k(2)), I.memoryFill());

  const accumulate = kind === 'max'
    ? cat(
      channels(k(0), c4, 16, cat(
        add(get(yp), get(c)), tee(a), get(a), I.v128Load(), add(get(tap), get(c)), I.v128Load(), I.f32x4Max(), I.v128Store(),
      )),
      channels(get(c4), cb, 4, cat(
        add(get(yp), get(c)), tee(a), get(a), I.f32Load(), add(get(tap), get(c)), I.f32Load(), I.f32Max(), I.f32Store(),
      )),
    )
    : cat(
      channels(k(0), c4, 16, cat(
        add(get(tap), get(c)), I.v128Load(), set(v),
        add(get(P.acc), mul(get(c), k(2))), tee(a),
        get(a), I.v128Load(), get(v), I.f64x2PromoteLowF32x4(), I.f64x2Add(), I.v128Store(),
        get(a), get(a), I.v128Load(16), get(v), get(v), I.i32x4Shuffle(2, 3, 2, 3), I.f64x2PromoteLowF32x4(), I.f64x2Add(), I.v128Store(16),
      )),
      channels(get(c4), cb, 4, cat(
        add(get(P.acc), mul(get(c), k(2))), tee(a),
        get(a), I.f64Load(), add(get(tap), get(c)), I.f32Load(), I.f64PromoteF32(), I.f64Add(), I.f64Store(),
      )),
    );

  const finish = kind === 'max' ? cat() : cat(
    get(sc), I.f64Load(), set(s), get(s), I.f64x2Splat(), set(s2),
    channels(k(0), c4, 16, cat(
      add(get(P.acc), mul(get(c), k(2))), set(a),
      add(get(yp), get(c)),
      get(a), I.v128Load(), get(s2), I.f64x2Mul(), I.f32x4DemoteF64x2Zero(),
      get(a), I.v128Load(16), get(s2), I.f64x2Mul(), I.f32x4DemoteF64x2Zero(),
      I.i32x4Shuffle(0, 1, 4, 5), I.v128Store(),
    )),
    channels(get(c4), cb, 4, cat(
      add(get(yp), get(c)), add(get(P.acc), mul(get(c), k(2))), I.f64Load(), get(s), I.f64Mul(), I.f32DemoteF64(), I.f32Store(),
    )),
    I.bump(sc, k(8)),
  );

  const main = cat(
    mul(get(P.C), k(4)), set(cb),
    get(P.C), k(-4), I.i32And(), k(4), I.i32Mul(), set(c4),
    mul(get(P.W), get(cb)), set(rowBytes),
    get(P.x), set(xImg), get(P.y), set(yp),
    I.forUp(n, k(0), get(P.N), k(1), cat(
      get(P.scales), set(sc),
      I.forUp(oh, k(0), get(P.OH), k(1), cat(
        add(get(P.rows), mul(get(oh), k(8))), set(a),
        get(a), I.i32Load(), set(h0), get(a), I.i32Load(4), set(h1),
        I.forUp(ow, k(0), get(P.OW), k(1), cat(
          add(get(P.cols), mul(get(ow), k(8))), set(a),
          get(a), I.i32Load(), set(w0), get(a), I.i32Load(4), set(w1),
          init,
          I.forUp(h, get(h0), get(h1), k(1), cat(
            I.forUp(w, get(w0), get(w1), k(1), cat(
              add(add(get(xImg), mul(get(h), get(rowBytes))), mul(get(w), get(cb))), set(tap),
              accumulate,
            )),
          )),
          finish,
          I.bump(yp, get(cb)),
        )),
      )),
      I.bump(xImg, mul(get(P.H), get(rowBytes))),
    )),
  );
  m.func(`${kind}_nhwc`, new Array<ValType>(NP).fill(T.i32), [], types, main);
}

/** The NHWC pool module: `max_nhwc` and `avg_nhwc`. */
export function poolNhwcModule(): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder().importMemory();
  emit(m, 'max');
  emit(m, 'avg');
  return m.bytes();
}

type Kernel = (...args: number[]) => void;
type PoolNhwcKernels = Readonly<Record<'max_nhwc' | 'avg_nhwc', Kernel>>;

function kernels(memory: WebAssembly.Memory): PoolNhwcKernels {
  return kernelsOn<PoolNhwcKernels>(memory, 'poolNhwc', poolNhwcModule);
}

/** Bytes of heap scratch `poolNhwcOnHeap` needs (8-byte aligned parts). */
export function poolNhwcScratchBytes(g: PoolGeom, C: number, kind: 'max' | 'avg'): number {
  const tables = 8 * (g.OH + g.OW);
  return kind === 'max' ? tables : tables + 8 * g.OH * g.OW + 8 * C;
}

/**
 * maxPool2d / avgPool2d on NHWC float32 images on the heap (byte addresses): x is
 * [N, g.H, g.W, C], y [N, g.OH, g.OW, C], written in full; bit-identical to the
 * reference kernel on the NCHW transpose. `scratch` (8-byte aligned) holds
 * `poolNhwcScratchBytes` bytes. Padding must be non-negative (`poolSupports`).
 *
 * @example
 * // x [N, 28, 28, 32] → y [N, 14, 14, 32]
 * poolNhwcOnHeap(backend, 'max', x.ptr, y.ptr, N, 32, poolGeom(attrs, 28, 28, 14, 14), false, scratch);
 */
export function poolNhwcOnHeap(backend: WasmBackend, kind: 'max' | 'avg', x: number, y: number, N: number, C: number, g: PoolGeom, countIncludePad: boolean, scratch: number): void {
  const k = kernels(backend.memory);
  const rows = scratch, cols = rows + 8 * g.OH;
  const table = backend.heap().i32, at = rows >>> 2;
  for (let oh = 0; oh < g.OH; oh++) {
    const hs = oh * g.sh - g.pt;
    table[at + 2 * oh] = Math.max(hs, 0);
    table[at + 2 * oh + 1] = Math.min(hs + g.kh, g.H);
  }
  for (let ow = 0; ow < g.OW; ow++) {
    const ws = ow * g.sw - g.pl;
    table[at + 2 * (g.OH + ow)] = Math.max(ws, 0);
    table[at + 2 * (g.OH + ow) + 1] = Math.min(ws + g.kw, g.W);
  }
  if (kind === 'max') {
    k.max_nhwc(x, y, N, g.H, g.W, C, g.OH, g.OW, rows, cols, 0, 0);
    return;
  }
  const scales = cols + 8 * g.OW;
  new Float64Array(backend.memory.buffer, scales, g.OH * g.OW).set(avgScales(g, countIncludePad, g.OH * g.OW));
  k.avg_nhwc(x, y, N, g.H, g.W, C, g.OH, g.OW, rows, cols, scales, scales + 8 * g.OH * g.OW);
}
