/**
 * The generated WebAssembly SIMD transpose (src/runtime/wasm/kernels/simdTranspose.ts):
 *  - through Kiln, the wasm backend equals the reference backend bit for bit (float32 and
 *    int32, NaN payloads included) for 2-D, batched 2-D, [2,1,0], [1,0,2] and [0,2,1,3]
 *    permutations, shapes with size-1 axes (simplified first), and permutations that stay
 *    on `_Transpose`;
 *  - called directly on the heap, with row strides wider than the rows, batches and
 *    several blockings, the kernels match a JS model and write nothing outside the output;
 *  - float32/int32 transposes do not call `_Transpose`; bools and other permutations do.
 */
import { beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import * as kiln from '../src/index.js';
import { engine } from '../src/eager/engine.js';
import { simdTransposeModule, transposeKernels, transposeOnHeap, type TransposeKernels } from '../src/runtime/wasm/kernels/simdTranspose.js';
import type { WasmBackend } from '../src/runtime/wasm/wasmBackend.js';
import { kernelsOn } from '../src/runtime/wasm/wasmAssembler.js';
import { loadWasmModule } from '../src/runtime/wasm/wasmModule.js';

let nativeTranspose: MockInstance;
let wasm: WasmBackend;
beforeAll(async () => {
  // Spies must exist before the backend binds the exports at init.
  const mod = await loadWasmModule();
  nativeTranspose = vi.spyOn(mod, '_Transpose');
  await kiln.init({ backend: 'wasm' });
  wasm = engine.backends.get('wasm') as unknown as WasmBackend;
});

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Distinct bit patterns: element i's float32 bits, with NaNs of varied payloads and signs
 * mixed in: quiet ones only, unless `signaling` (a float32 → JS number conversion, as in
 * the reference backend's kernels, sets the quiet bit; the wasm kernels move raw bits).
 */
function bitsOf(n: number, seed: number, signaling = false): Uint32Array {
  const out = new Uint32Array(n);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    if (s % 7 === 0) out[i] = (s & 0x80000000) | 0x7f800001 | (s & 0x003fffff) | (signaling ? 0 : 0x400000); // NaN, payload and sign from s
    else out[i] = new Uint32Array(new Float32Array([(i % 1000) - 500 + (s % 97) / 100]).buffer)[0]!;
  }
  return out;
}

type Perm = readonly number[];
const permOf = (shape: readonly number[], perm: Perm): number[] => perm.map((p) => shape[p]!);

/** `perm` of `shape` on both backends from the same bits; returns each result's bits. */
function onBoth(shape: readonly number[], perm: Perm, dtype: 'float32' | 'int32', seed: number): [Uint32Array, Uint32Array, Uint32Array] {
  const bits = bitsOf(sizeOf(shape), seed);
  return kiln.scope(() => {
    const res = (['wasm', 'reference'] as const).map((backend) => {
      const data = dtype === 'float32' ? new Float32Array(bits.buffer) : new Int32Array(bits.buffer);
      const x = kiln.tensor(data, { shape, dtype, backend });
      const y = kiln.permute(x, perm);
      expect(y.shape).toEqual(permOf(shape, perm));
      const d = y.dataSync();
      return new Uint32Array(d.buffer, d.byteOffset, d.length).slice();
    });
    return [res[0]!, res[1]!, bits] as [Uint32Array, Uint32Array, Uint32Array];
  });
}

/** The expected bits of `perm` applied to `shape`d data (row-major). */
function model(bits: Uint32Array, shape: readonly number[], perm: Perm): Uint32Array {
  const r = shape.length;
  const inStrides = new Array<number>(r).fill(1);
  for (let d = r - 2; d >= 0; d--) inStrides[d] = inStrides[d + 1]! * shape[d + 1]!;
  const outShape = permOf(shape, perm);
  const out = new Uint32Array(bits.length);
  const idx = new Array<number>(r).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < r; d++) src += idx[d]! * inStrides[perm[d]!]!;
    out[o] = bits[src]!;
    for (let d = r - 1; d >= 0; d--) {
      if (++idx[d]! < outShape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

function sameBits(got: Uint32Array, want: Uint32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) expect.fail(`${what}: element ${i} has bits 0x${got[i]!.toString(16)}, expected 0x${want[i]!.toString(16)}`);
  }
}

const CASES: [number[], Perm][] = [
  // 2-D: tiny, thin (the 2- and 3-wide shuffles), edges of 1–3, blocks, MLP shapes.
  ...[[1, 1], [1, 9], [9, 1], [2, 2], [2, 3], [3, 5], [4, 4], [5, 7], [7, 4], [4, 9], [2, 13], [13, 2], [3, 17], [17, 3],
    [2, 1000], [1000, 3], [3, 1000], [1000, 2], [16, 16], [17, 33], [33, 17], [64, 64], [65, 67], [68, 132], [10, 512], [512, 10],
    [128, 784], [784, 128], [512, 512], [300, 257]].map((s) => [s, [1, 0]] as [number[], Perm]),
  // Batched 2-D.
  [[3, 17, 33], [0, 2, 1]], [[5, 4, 4], [0, 2, 1]], [[7, 3, 2], [0, 2, 1]], [[4, 2, 9], [0, 2, 1]], [[2, 64, 80], [0, 2, 1]],
  [[6, 3, 1000], [0, 2, 1]], [[6, 1000, 3], [0, 2, 1]],
  // Strided rows: [2, 1, 0] is one matrix per middle index, rows b·c apart.
  [[5, 7, 9], [2, 1, 0]], [[3, 4, 2], [2, 1, 0]], [[2, 6, 3], [2, 1, 0]], [[17, 5, 33], [2, 1, 0]], [[64, 8, 32], [2, 1, 0]],
  // Chunks moved whole: [1, 0, 2] and [0, 2, 1, 3].
  [[5, 7, 2], [1, 0, 2]], [[3, 4, 3], [1, 0, 2]], [[9, 5, 4], [1, 0, 2]], [[33, 40, 5], [1, 0, 2]], [[6, 7, 17], [1, 0, 2]],
  [[2, 5, 7, 3], [0, 2, 1, 3]], [[3, 16, 4, 16], [0, 2, 1, 3]], [[2, 3, 40, 9], [0, 2, 1, 3]],
  // Size-1 axes and mergeable neighbours, simplified to the cases above.
  [[1, 17, 1, 33], [0, 3, 2, 1]], [[4, 6, 10], [2, 0, 1]], [[4, 6, 10], [1, 2, 0]], [[2, 3, 5, 7], [0, 1, 3, 2]], [[1, 1], [1, 0]],
  [[3, 4, 5], [0, 1, 2]], [[0, 5], [1, 0]], [[5, 0, 3], [2, 1, 0]],
  // [2, 3, 4, 5] by [3, 1, 2, 0] merges axes 1, 2 into [2, 1, 0]; the last two stay on `_Transpose`.
  [[2, 3, 4, 5], [3, 1, 2, 0]], [[3, 4, 5, 6], [1, 3, 0, 2]], [[2, 3, 4, 5, 2], [4, 2, 0, 3, 1]],
];

describe('wasm transpose equals the reference backend bit for bit', () => {
  for (const dtype of ['float32', 'int32'] as const) {
    it(`${dtype}: ${CASES.length} shapes and permutations`, () => {
      let seed = 1;
      for (const [shape, perm] of CASES) {
        const [got, want, bits] = onBoth(shape, perm, dtype, seed++);
        const what = `${dtype} [${shape.join(',')}] by [${perm.join(',')}]`;
        sameBits(want, model(bits, shape, perm), `${what} (reference vs model)`);
        sameBits(got, want, what);
      }
    });
  }

  it('NaN payloads and signs survive, signaling NaNs included on wasm', () => {
    for (const signaling of [false, true]) {
      const bits = bitsOf(37 * 41, 99, signaling);
      const nans = Array.from(bits).filter((b) => (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0);
      expect(new Set(nans).size).toBeGreaterThan(50); // many distinct payloads went in
      kiln.scope(() => {
        const x = kiln.tensor(new Float32Array(bits.buffer), { shape: [37, 41], backend: 'wasm' });
        const d = x.transpose().dataSync();
        sameBits(new Uint32Array(d.buffer, d.byteOffset, d.length), model(bits, [37, 41], [1, 0]), `wasm, signaling ${signaling}`);
      });
    }
  });

  it('gradients: transpose is its own adjoint on both backends', () => {
    kiln.scope(() => {
      for (const backend of ['wasm', 'reference'] as const) {
        const x = kiln.randn([6, 9], { seed: 3, backend, requiresGrad: true });
        const w = kiln.randn([9, 6], { seed: 4, backend });
        x.transpose().mul(w).sum().backward();
        expect(Array.from(x.grad!.dataSync())).toEqual(Array.from(w.transpose().dataSync()));
      }
    });
  });
});

describe('routing', () => {
  it('float32 and int32 take the generated kernels; bool and uncovered permutations keep _Transpose', () => {
    kiln.scope(() => {
      nativeTranspose.mockClear();
      kiln.randn([64, 48], { seed: 1 }).transpose().dataSync();
      kiln.randn([3, 16, 8], { seed: 1 }).transpose(1, 2).dataSync();
      kiln.randint(0, 9, [5, 7], { seed: 1 }).transpose().dataSync();
      kiln.permute(kiln.randn([4, 5, 6], { seed: 1 }), [2, 1, 0]).dataSync();
      kiln.permute(kiln.randn([2, 3, 4, 5], { seed: 1 }), [0, 2, 1, 3]).dataSync();
      expect(nativeTranspose).not.toHaveBeenCalled();
      const b = kiln.tensor([1, 0, 0, 1, 1, 0], { shape: [2, 3], dtype: 'bool' }).transpose();
      expect(b.toArray()).toEqual([[true, true], [false, true], [false, false]]);
      expect(nativeTranspose).toHaveBeenCalledTimes(1);
      kiln.permute(kiln.randn([3, 4, 5, 6], { seed: 1 }), [1, 3, 0, 2]).dataSync();
      expect(nativeTranspose).toHaveBeenCalledTimes(2);
    });
  });

  it('transposeOnHeap declines permutations it does not cover', () => {
    const m = wasm.memory;
    expect(transposeOnHeap(m, 0, [2, 3, 4, 5], [3, 1, 2, 0], 0)).toBe(false);
    expect(transposeOnHeap(m, 0, [2, 3, 4], [1, 2, 0], 0)).toBe(false);
    expect(transposeOnHeap(m, 0, [2, 3], [0, 1], 0)).toBe(false);
  });
});

// ---- direct calls on the heap ------------------------------------------------------------

describe('generated kernels on the heap (strided rows, batches, blockings, guard words)', () => {
  const GUARD = 0xdeadbeef;
  /** A heap block of `words` 4-byte words plus `pad` guard words each side, at a 4-but-not-16-aligned address. */
  function block(words: number, pad = 8): { at: number; view: () => Uint32Array; guardsIntact: () => boolean; free: () => void } {
    const raw = wasm.module._malloc((words + 2 * pad) * 4 + 32);
    const base = ((raw + 15) & ~15) + 4; // misaligned for v128 on purpose
    const at = base + pad * 4;
    const view = (): Uint32Array => new Uint32Array(wasm.memory.buffer, base, words + 2 * pad);
    view().fill(GUARD);
    return {
      at,
      view: () => new Uint32Array(wasm.memory.buffer, at, words),
      guardsIntact: () => { const v = view(); for (let i = 0; i < pad; i++) if (v[i] !== GUARD || v[pad + words + i] !== GUARD) return false; return true; },
      free: () => wasm.module._free(raw),
    };
  }

  /**
   * t32 on `batch` matrices of rows × cols inside a source of row stride `sw` words and
   * batch stride `sb`, into a destination of row stride `dw` and batch stride `db`; words
   * outside the rows × cols boxes of the destination must keep their fill.
   */
  function checkT32(k: TransposeKernels, what: string, rows: number, cols: number, sw: number, dw: number, batch = 1, sb = rows * sw, db = cols * dw): void {
    const srcWords = Math.max(1, (batch - 1) * sb + rows * sw), dstWords = Math.max(1, (batch - 1) * db + cols * dw);
    const src = block(srcWords), dst = block(dstWords);
    try {
      const bits = bitsOf(srcWords, rows * 131 + cols, true);
      src.view().set(bits);
      dst.view().fill(0x12345678);
      k.t32(src.at, dst.at, rows, cols, sw * 4, dw * 4, batch, sb * 4, db * 4);
      const want = new Uint32Array(dstWords).fill(0x12345678);
      for (let b = 0; b < batch; b++) for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) want[b * db + j * dw + i] = bits[b * sb + i * sw + j]!;
      sameBits(dst.view(), want, what);
      expect(src.guardsIntact() && dst.guardsIntact(), `${what}: guard words`).toBe(true);
      sameBits(src.view(), bits, `${what}: source unchanged`);
    } finally {
      src.free();
      dst.free();
    }
  }

  it('validates', () => {
    expect(WebAssembly.validate(simdTransposeModule())).toBe(true);
  });

  const SIZES = [1, 2, 3, 4, 5, 7, 8, 12, 15, 16, 17, 31, 33, 64, 67];
  const blockings = [{ bi: 16, bj: 64 }, { bi: 4, bj: 4 }, { bi: 8, bj: 12 }, { bi: 20, bj: 8 }];
  for (const g of blockings) {
    it(`t32 with ${g.bi}×${g.bj} blocks: every size pair, contiguous and padded rows`, () => {
      const k = kernelsOn<TransposeKernels>(wasm.memory, `simdTranspose test ${JSON.stringify(g)}`, () => simdTransposeModule(g));
      for (const rows of SIZES) {
        for (const cols of SIZES) {
          checkT32(k, `${g.bi}×${g.bj} ${rows}×${cols}`, rows, cols, cols, rows);
          checkT32(k, `${g.bi}×${g.bj} ${rows}×${cols} padded`, rows, cols, cols + 3, rows + 5);
        }
      }
    });
  }

  it('t32 batches with gaps between matrices, and the strided layout of [2, 1, 0]', () => {
    const k = transposeKernels(wasm.memory);
    for (const [rows, cols] of [[3, 5], [2, 9], [9, 3], [17, 33], [4, 4], [40, 2]] as const) {
      checkT32(k, `batch 3 of ${rows}×${cols} with gaps`, rows, cols, cols + 1, rows + 2, 3, rows * (cols + 1) + 7, cols * (rows + 2) + 5);
      // [a, b, c] by [2, 1, 0]: rows b·c apart, matrices c apart (interleaved), b = 4.
      checkT32(k, `[${rows},4,${cols}] by [2,1,0]`, rows, cols, 4 * cols, 4 * rows, 4, cols, rows);
    }
    checkT32(k, 'batch 0', 5, 5, 5, 5, 0);
  });

  it('c32 moves chunks of 4–68 bytes', () => {
    const k = transposeKernels(wasm.memory);
    for (const [rows, cols, c] of [[5, 7, 1], [3, 4, 2], [40, 3, 3], [6, 5, 4], [33, 9, 5], [4, 35, 17], [2, 2, 8]] as const) {
      for (const batch of [1, 2]) {
        const size = batch * rows * cols * c;
        const src = block(size), dst = block(size);
        try {
          const bits = bitsOf(size, rows + 7 * cols + c, true);
          src.view().set(bits);
          k.c32(src.at, dst.at, rows, cols, c * 4, cols * c * 4, rows * c * 4, batch, rows * cols * c * 4, rows * cols * c * 4);
          sameBits(dst.view(), model(bits, [batch, rows, cols, c], [0, 2, 1, 3]), `c32 ${batch}×${rows}×${cols}×${c}`);
          expect(dst.guardsIntact()).toBe(true);
        } finally {
          src.free();
          dst.free();
        }
      }
    }
  });
});
