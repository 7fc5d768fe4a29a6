/**
 * GEMM rows of the `kernels` suite: XNNPACK `_FusedMatMul` as Kiln called it before (B's
 * packing cached by tensor id) vs Kiln's generated GEMM (src/runtime/wasm/kernels/
 * gemmKernel.ts) on packed B (a constant), unpacked row-major B (a B seen for the first
 * time) and, where the engine has relaxed SIMD, with `f32x4.relaxed_madd` (multi-row tiles
 * only: the M = 1 tile multiplies then adds in both modules), on the shapes
 * of the models bench; plus the register-only f32x4 multiply-add peak the GFLOP/s are
 * measured against. All raw calls on preallocated heap buffers, 1 thread.
 *
 * Relaxed SIMD: Node 20 has it behind `--experimental-wasm-relaxed-simd`, which this suite
 * sets (v8.setFlagsFromString) before compiling its own FMA module; Kiln's kernels keep
 * whatever they detected first.
 */
import v8 from 'node:v8';
import type { WasmBackend } from '../src/runtime/wasm/wasmBackend.js';
import { gemmModule, packedGemmBytes, type GemmTile } from '../src/runtime/wasm/kernels/gemmKernel.js';
import { cat, I, ModuleBuilder, T } from '../src/runtime/wasm/wasmAssembler.js';
import { compare, type Contender, type Row } from './harness.js';

/** [what, M, K, N]: the products of the models bench. */
const SHAPES: [string, number, number, number][] = [
  ['MLP b1 layer 1 (GEMV)', 1, 784, 512],
  ['MLP b1 layer 2 (GEMV)', 1, 512, 512],
  ['MLP b128 layer 1', 128, 784, 512],
  ['MLP b128 layer 3', 128, 512, 10],
  ['LSTM input projection b1', 32, 64, 512],
  ['LSTM input projection b16', 512, 64, 512],
  ['LSTM recurrent b1', 1, 128, 512],
  ['LSTM recurrent b16', 16, 128, 512],
  ['CNN dense b32', 32, 1600, 10],
  ['512³', 512, 512, 512],
];

const ACCS = 12;

/** peak(n): n iterations of 12 independent f32x4 multiply-adds on registers (no memory). */
function peakModule(fma: boolean): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder();
  const x = 1, accs = Array.from({ length: ACCS }, (_, i) => 2 + i);
  const step = accs.map((a) => (fma
    ? cat(I.get(x), I.get(x), I.get(a), I.f32x4RelaxedMadd(), I.set(a))
    : cat(I.get(a), I.get(x), I.get(x), I.f32x4Mul(), I.f32x4Add(), I.set(a))));
  const body = cat(
    I.f32x4Const(0.999), I.set(x), accs.map((a) => cat(I.f32x4Const(a / 1000), I.set(a))),
    I.repeat(0, step),
    // Every accumulator reaches the result, so none is dead code.
    I.get(accs[0]!), accs.slice(1).map((a) => cat(I.get(a), I.f32x4Add())), I.f32x4ExtractLane(0),
  );
  m.func('peak', [T.i32], [T.f32], new Array(1 + ACCS).fill(T.v128), body);
  return m.bytes();
}

type GemmExports = Record<string, (...args: number[]) => void>;

export function gemmRows(wasm: WasmBackend): Row[] {
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  const memory = wasm.memory;
  const instantiate = (bytes: Uint8Array<ArrayBuffer>, withMemory: boolean): GemmExports =>
    new WebAssembly.Instance(new WebAssembly.Module(bytes), withMemory ? { env: { memory } } : {}).exports as unknown as GemmExports;
  const relaxed = WebAssembly.validate(peakModule(true));
  const plain = instantiate(gemmModule(false), true);
  const fma = relaxed ? instantiate(gemmModule(true), true) : null;
  const rows: Row[] = [];
  const gflops: string[] = [];
  const record = (r: Row[], flops: number): void => {
    for (const row of r) {
      // Median and best round: on a shared machine the best is the steadier figure.
      const scale = row.unit === 'us' ? 1e3 : 1e6;
      const median = flops / (row.median * scale), best = flops / (Math.min(...row.rounds) * scale);
      row.extra = { gflops: median, bestGflops: best };
      gflops.push(`  ${row.title.padEnd(44)} ${row.name.padEnd(36)} ${median.toFixed(1).padStart(6)} GFLOP/s (best round ${best.toFixed(1)})`);
    }
    rows.push(...r);
  };

  const iters = 200_000;
  const peakFlops = iters * ACCS * 8;
  const peaks: Contender[] = [{ name: 'f32x4.mul + f32x4.add', run: () => void instantiatePeak(false).peak!(iters) }];
  if (relaxed) peaks.push({ name: 'f32x4.relaxed_madd', run: () => void instantiatePeak(true).peak!(iters) });
  record(compare({ title: `register-only f32x4 multiply-add peak (${ACCS} accumulators)`, baseline: peaks[0]!.name, unit: 'ms', iters: 5, contenders: peaks }), peakFlops);

  const module = wasm.module;
  for (const [what, M, K, N] of SHAPES) {
    const a = wasm.alloc('float32', M * K), b = wasm.alloc('float32', K * N), c = wasm.alloc('float32', M * N);
    const av = wasm.view(a) as Float32Array, bv = wasm.view(b) as Float32Array;
    for (let i = 0; i < av.length; i++) av[i] = Math.sin(i);
    for (let i = 0; i < bv.length; i++) bv[i] = Math.cos(i);
    const packed = wasm.malloc('float32', packedGemmBytes(K, N) / 4);
    plain['pack']!(b.ptr, N * 4, 4, K, N, packed);
    const full = N >> 3, edge = packed + full * K * 32;
    // The tile gemm.ts picks (1×24 for M = 1; 4×8 when N < 16; else 2×16).
    const tile: GemmTile = M === 1 ? { mr: 1, np: 3 } : N < 16 ? { mr: 4, np: 1 } : { mr: 2, np: 2 };
    const fn = `gemm_${tile.mr}x${tile.np * 8}`;
    const ap = wasm.shapePtr([1, M, K], 0), bp = wasm.shapePtr([1, K, N], 1);
    const xnn = 'XNNPACK _FusedMatMul (B cached)';
    const contenders: Contender[] = [
      { name: xnn, run: () => void module.__FusedMatMul!(a.id, ap, 3, b.id, bp, 3, 0, 0, 0, 0, 0, 0, c.id) },
      { name: `kiln ${fn} (B packed)`, run: () => plain[fn]!(a.ptr, K * 4, packed, 32, K * 32, edge, 0, 0, c.ptr, N * 4, M, N, K) },
      { name: `kiln ${fn} (B unpacked)`, run: () => plain[fn]!(a.ptr, K * 4, b.ptr, N * 4, 32, edge, 0, 0, c.ptr, N * 4, M, N, K) },
    ];
    if (fma) contenders.push({ name: `kiln ${fn} relaxed FMA (B packed)`, run: () => fma[fn]!(a.ptr, K * 4, packed, 32, K * 32, edge, 0, 0, c.ptr, N * 4, M, N, K) });
    const flops = 2 * M * K * N;
    const iters = Math.max(2, Math.min(2000, Math.round(2e8 / flops)));
    record(compare({ title: `GEMM ${what} ${M}×${K}·${K}×${N}`, baseline: xnn, unit: flops > 2e7 ? 'ms' : 'us', iters, contenders }), flops);
    wasm.freeBlock(packed);
    wasm.free(a);
    wasm.free(b);
    wasm.free(c);
  }
  console.log(`\nGEMM GFLOP/s (1 thread; ${relaxed ? 'relaxed SIMD available' : 'no relaxed SIMD'})\n${gflops.join('\n')}`);
  return rows;

  function instantiatePeak(withFma: boolean): GemmExports {
    return (peakCache[withFma ? 1 : 0] ??= instantiate(peakModule(withFma), false));
  }
}

const peakCache: (GemmExports | undefined)[] = [];
