/**
 * Elementwise transcendentals on 256k float32 (1 MB in, 1 MB out), per call: Kiln's
 * generated SIMD kernels (src/runtime/wasm/kernels/simdMath.ts) vs tfjs-backend-wasm's
 * kernels (scalar libm loops), both called raw on preallocated heap buffers, plus Kiln eager
 * (output allocation and dispatch included). erf and softplus had no tfjs kernel: their
 * baseline is Kiln's portable JS kernel, which the wasm backend ran before. Then the GEMM
 * rows (bench/gemm.ts): XNNPACK vs the generated GEMM on the models' shapes, GFLOP/s.
 */
import * as kiln from '../src/index.js';
import type { Attrs } from '../src/ir/index.js';
import { engine } from '../src/eager/engine.js';
import { adaptArrayKernel, arrayKernels } from '../src/runtime/arrayKernels.js';
import { simdKernels } from '../src/runtime/wasm/kernels/simdElementwise.js';
import type { WasmBackend, WasmStorage } from '../src/runtime/wasm/wasmBackend.js';
import { gemmRows } from './gemm.js';
import { compare, type Row } from './harness.js';

export async function kernelsSuite(): Promise<Row[]> {
  await kiln.init({ backend: 'wasm' });
  const wasm = engine.backends.get('wasm') as unknown as WasmBackend;
  const mod = wasm.module;
  const n = 256 * 1024;
  // Values where the functions bend (|x| ≲ 6), positive for log.
  const x = kiln.randn([n], { seed: 1 }).mul(2);
  const xPos = x.abs().add(1e-3);
  const out = wasm.alloc('float32', n);
  const st = (t: kiln.Tensor): WasmStorage => t.storage as WasmStorage;
  const rows: Row[] = [];

  /** tfjs export `_Name(xId, [dtype,] outId)`, as src/runtime/wasm/kernels/elementwise.ts called them. */
  const tfjs: [op: string, fn: string, withDtype: boolean, input: kiln.Tensor, eager: () => kiln.Tensor][] = [
    ['tanh', 'Tanh', true, x, () => x.tanh()],
    ['exp', 'Exp', true, x, () => x.exp()],
    ['sigmoid', 'Sigmoid', false, x, () => x.sigmoid()],
    ['log', 'Log', true, xPos, () => xPos.log()],
    ['elu', 'Elu', true, x, () => x.elu()],
  ];
  for (const [op, fn, withDtype, input, eager] of tfjs) {
    const k = simdKernels(wasm.memory, op)[op]!;
    const raw = mod[`_${fn}`] as (...args: number[]) => void;
    const params = op === 'elu' ? [1] : [];
    rows.push(...compare({
      title: `${op} on ${n} float32, per call`,
      baseline: `tfjs-wasm _${fn} (raw)`,
      unit: 'ms',
      iters: 20,
      contenders: [
        { name: `tfjs-wasm _${fn} (raw)`, run: () => (withDtype ? raw(st(input).id, 0, out.id) : raw(st(input).id, out.id)) },
        { name: 'kiln generated kernel (raw)', run: () => k(st(input).ptr, out.ptr, 1, n, 0, ...params) },
        { name: `kiln eager x.${op}()`, run: () => eager().dispose() },
      ],
    }));
  }

  const portable: [op: string, attrs: Attrs, eager: () => kiln.Tensor][] = [
    ['erf', {}, () => x.erf()],
    ['softplus', { beta: 1, threshold: 20 }, () => x.softplus()],
  ];
  for (const [op, attrs, eager] of portable) {
    const k = simdKernels(wasm.memory, op)[op]!;
    const before = adaptArrayKernel(wasm, arrayKernels.get(op)!, (s) => wasm.view(s));
    const params = op === 'softplus' ? [1, 20] : [];
    rows.push(...compare({
      title: `${op} on ${n} float32, per call`,
      baseline: 'kiln portable kernel (before)',
      unit: 'ms',
      iters: 10,
      contenders: [
        { name: 'kiln portable kernel (before)', run: () => wasm.free(before([{ storage: st(x), shape: [n], dtype: 'float32' }], attrs, [{ shape: [n], dtype: 'float32' }])[0]!) },
        { name: 'kiln generated kernel (raw)', run: () => k(st(x).ptr, out.ptr, 1, n, 0, ...params) },
        { name: `kiln eager x.${op}()`, run: () => eager().dispose() },
      ],
    }));
  }
  rows.push(...gemmRows(wasm));
  return rows;
}
