// The whole-sequence `lstm`, `gru` and `rnn` ops (src/ops/recurrent.ts) on wasm, float32: one
// kernel call for every layer, direction and step, instead of the decomposition's (or an
// unrolled plan's) two kernels per step plus the split of the input projection and the
// concat of the outputs. Per layer and direction:
//   xp = x·W_ihᵀ + (b_ih + b_hh)            one GEMM over T·B rows (gemm.ts; W packed once);
//                                           gru: + b_ih only
//   per step t: hp = h·W_hhᵀ (gru: + b_hh)   the GEMM again (W_hh packed once), h read in place
//               h, c = lstmGates(xp_t, hp, c), h = gruGates(xp_t, hp, h) or
//               h = tanh|relu(xp_t + hp): the gate kernels (recurrentGatesKernel.ts),
//                                           h written straight into the output sequence
// The same kernels on the same values in the same order as the decomposition, so the
// results are its bits (and an unrolled plan's). With `lengths`, sequence b keeps its
// state and outputs 0 from step lengths[b] on (the decomposition's `where`s, as copies).
// On the threaded build, with enough rows, the GEMMs and the gates split their rows over
// Kiln's kernel threads (rowSplit.ts; the same bits per row; there the decomposition's
// large products may run on XNNPACK's threads instead, in another summation order).
// (The op takes float32 or float64, and wasm has no float64 tensors.)
import type { TensorType } from '../../../ir/index.js';
import type { Kernel } from '../../backend.js';
import { registerNativeKernels, type NativeKernelFactory } from '../nativeKernels.js';
import type { WasmStorage } from '../wasmBackend.js';
import { gemmOnHeap, packedPanels } from './gemm.js';
import { gemmKernels } from './gemmKernel.js';
import { recurrentGatesOn } from './recurrentGatesKernel.js';
import { reusedScratch } from './reusedScratch.js';
import { GATES_OF, RowSplit, type GateKind } from './rowSplit.js';
import { transposeOnHeap } from './simdTranspose.js';

/** Bytes rounded up to 16 (every scratch piece v128-aligned). */
const align = (bytes: number): number => (bytes + 15) & ~15;

/** The sequence kernel of `op` (lstm: states h and c; gru, rnn: h). */
const recurrentSequence = (op: 'lstm' | 'gru' | 'rnn'): NativeKernelFactory => (backend): Kernel<WasmStorage> => {
  const scratch = reusedScratch(backend);
  /** `n` floats from byte `src` to byte `dst`. */
  const copy = (dst: number, src: number, n: number): void => {
    backend.heap().f32.copyWithin(dst >>> 2, src >>> 2, (src >>> 2) + n);
  };
  /** [a, b, c] → [b, a, c] of 4-byte elements (batch-first ↔ time-major). */
  const swap01 = (src: number, a: number, b: number, c: number, dst: number): void => {
    if (a === 1 || b === 1) copy(dst, src, a * b * c);
    else transposeOnHeap(backend.memory, src, [a, b, c], [1, 0, 2], dst);
  };

  /** Output `j`: the caller-given storage, else a fresh one (no closure per call). */
  const outputAt = (given: readonly (WasmStorage | undefined)[] | undefined, outTypes: readonly TensorType[], j: number): WasmStorage => {
    const g = given?.[j];
    if (g) return g;
    let n = 1;
    for (const d of outTypes[j]!.shape) n *= d;
    return backend.alloc('float32', n);
  };

  return (inputs, attrs, outTypes, given) => {
    const x = inputs[0]!;
    const H = attrs['hiddenSize'] as number, L = attrs['numLayers'] as number;
    const D = attrs['bidirectional'] === true ? 2 : 1, batchFirst = attrs['batchFirst'] === true, hasBiases = attrs['hasBiases'] === true;
    const kind: GateKind = op === 'rnn' ? (attrs['nonlinearity'] === 'relu' ? 'rnnRelu' : 'rnnTanh') : op;
    const lstm = op === 'lstm', states = lstm ? 2 : 1;
    const perSlot = hasBiases ? 4 : 2, first = 1 + states, base = first + L * D * perSlot;
    const lengths = inputs.length > base ? inputs[base]! : null;
    const T = x.shape[batchFirst ? 1 : 0]!, B = x.shape[batchFirst ? 0 : 1]!;
    const I = x.shape[2]!, G = GATES_OF[kind] * H, DH = D * H;
    // Every output caller-given (a plan's hot path): no array per call.
    const outs = given && given.length === outTypes.length && given[0] && given[1] && (!lstm || given[2])
      ? (given as WasmStorage[])
      : lstm ? [outputAt(given, outTypes, 0), outputAt(given, outTypes, 1), outputAt(given, outTypes, 2)] : [outputAt(given, outTypes, 0), outputAt(given, outTypes, 1)];
    const y = outs[0]!, hN = outs[1]!, cN = lstm ? outs[2]! : null;
    if (T * B * H === 0) return outs;

    // Scratch: the time-major input (batch-first), xp [T·B, G], hp [B, G], the bias sum,
    // c [B, H] (lstm); with lengths h [B, H] and the step's c'; per layer output [T, B, D·H]
    // (two, alternating, when there are more layers; none when it can be y); with two
    // directions, one direction's h sequence [T, B, H].
    const layerOutIsY = !batchFirst;
    const seqBytes = align(4 * T * B * DH), stateBytes = align(4 * B * H);
    const xTBytes = batchFirst ? align(4 * T * B * I) : 0, xpBytes = align(4 * T * B * G), hpBytes = align(4 * B * G), biasBytes = hasBiases ? align(4 * G) : 0;
    const lengthBytes = lengths ? stateBytes : 0, cBytes = lstm ? stateBytes : 0;
    const bufABytes = L > 1 || !layerOutIsY ? seqBytes : 0, bufBBytes = L > 2 || (L > 1 && !layerOutIsY) ? seqBytes : 0;
    const start = scratch(xTBytes + xpBytes + hpBytes + biasBytes + cBytes + 2 * lengthBytes + bufABytes + bufBBytes + (D === 2 ? align(4 * T * B * H) : 0));
    const xT = start, xp = xT + xTBytes, hp = xp + xpBytes, bias = hp + hpBytes, c = bias + biasBytes;
    const hState = c + cBytes, cNext = hState + lengthBytes, bufA = cNext + lengthBytes, bufB = bufA + bufABytes, hsDir = bufB + bufBBytes;
    const gates = recurrentGatesOn(backend.memory);
    const addBias = gemmKernels(backend.memory).addBias;
    let input = x.storage.ptr, F = I;
    if (batchFirst) {
      swap01(input, B, T, I, xT);
      input = xT;
    }
    // Kiln's kernel threads take shares of the rows (threaded build, enough rows); their
    // helpers spin until the `finally`.
    const split = RowSplit.of(backend, B);
    // gru's step product adds b_hh (lstm's and rnn's is in xp): the split needs to know there is one.
    const stepSplit = split?.canStep(kind, B, H, op === 'gru' && hasBiases ? 1 : 0) ? split : null;
    split?.begin();
    try {
      for (let l = 0; l < L; l++) {
        // This layer's time-major output: y itself when it is the last layer's and y is time-major.
        const out = l === L - 1 && layerOutIsY ? y.ptr : l % 2 === 0 ? bufA : bufB;
        for (let dir = 0; dir < D; dir++) {
          const slot = l * D + dir, w = first + slot * perSlot;
          const wIh = inputs[w]!.storage, wHh = inputs[w + 1]!.storage;
          let biasPtr = 0, stepBias = 0;
          if (hasBiases && op !== 'gru') {
            // b_ih + b_hh: the decomposition's float32 add, as a SIMD kernel.
            copy(bias, inputs[w + 2]!.storage.ptr, G);
            addBias(bias, inputs[w + 3]!.storage.ptr, 1, G);
            biasPtr = bias;
          } else if (hasBiases) {
            // gru: r multiplies W_hn·h + b_hn, so b_hh stays with the step's product.
            biasPtr = inputs[w + 2]!.storage.ptr;
            stepBias = inputs[w + 3]!.storage.ptr;
          }
          if (split?.canGemm(T * B, F, G, biasPtr)) split.gemm(input, T * B, F, packedPanels(backend, wIh, 'nk', F, G), G, biasPtr, xp);
          else gemmOnHeap(backend, input, T * B, F, wIh, 'nk', G, biasPtr, xp);
          // The direction's h sequence: the layer output itself with one direction.
          const hs = D === 1 ? out : hsDir;
          const stateAt = slot * B * H * 4;
          if (lstm) copy(c, inputs[2]!.storage.ptr + stateAt, B * H);
          let h = inputs[1]!.storage.ptr + stateAt;
          if (lengths) {
            copy(hState, h, B * H);
            h = hState;
          }
          const panels = stepSplit ? packedPanels(backend, wHh, 'nk', H, G) : 0;
          for (let k = 0; k < T; k++) {
            const t = dir === 1 ? T - 1 - k : k;
            const ht = hs + t * B * H * 4, xpt = xp + t * B * G * 4;
            // Without lengths c is updated in place (each element is read before it is written).
            const cOut = lengths ? cNext : c;
            // lstm: the gates read c; gru: they read the previous h; rnn: neither.
            const state = lstm ? c : h;
            if (stepSplit) stepSplit.step(kind, B, H, h, panels, stepBias, xpt, hp, state, ht, cOut);
            else {
              gemmOnHeap(backend, h, B, H, wHh, 'nk', G, stepBias, hp);
              if (kind === 'lstm') gates.lstm(xpt, hp, c, ht, cOut, B, H);
              else if (kind === 'gru') gates.gru(xpt, hp, h, ht, B, H);
              else gates[kind](xpt, hp, ht, B, H);
            }
            if (!lengths) {
              h = ht;
              continue;
            }
            const { f32, i32 } = backend.heap();
            const len = lengths.storage.ptr >>> 2;
            for (let b = 0; b < B; b++) {
              const row = b * H * 4;
              if (t < i32[len + b]!) {
                copy(hState + row, ht + row, H);
                if (lstm) copy(c + row, cNext + row, H);
              } else f32.fill(0, (ht + row) >>> 2, ((ht + row) >>> 2) + H);
            }
          }
          copy(hN.ptr + stateAt, h, B * H);
          if (cN) copy(cN.ptr + stateAt, c, B * H);
          if (D === 2) for (let r = 0; r < T * B; r++) copy(out + (r * DH + dir * H) * 4, hsDir + r * H * 4, H);
        }
        input = out;
        F = DH;
      }
    } finally {
      split?.end();
    }
    if (!layerOutIsY) swap01(input, T, B, DH, y.ptr);
    return outs;
  };
};

registerNativeKernels({ lstm: recurrentSequence('lstm'), gru: recurrentSequence('gru'), rnn: recurrentSequence('rnn') });
