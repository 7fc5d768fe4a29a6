// The activation a conv2d / convTranspose2d / linear node carries (attr `activation`, set by
// the activationFusion pass), applied as the GEMM stores each output: one pass over the
// result instead of a second dispatch. Each activation is its own op's WGSL (the
// elementwise kernels' expression, as fused programs use it), so the result is what the
// separate op gives, NaN included. Which one runs is a uniform (`act`), with its float
// attributes as bits (`a0…a3`): one pipeline per product kernel serves every activation,
// since lavapipe takes seconds to compile a tiled pipeline.
import { fusedActivationOf, KilnError, type Attrs } from '../../../ir/index.js';
import { ELEMENTWISE_SPECS, WGSL_HELPERS } from './elementwise.js';
import { STEP_PARAMS, stepFunction } from './fusedElementwise.js';

/** The activations an epilogue applies, numbered from 1 in this order (0: none). */
const ACTIVATIONS = ['relu', 'leakyRelu', 'clip', 'sigmoid', 'tanh', 'elu'] as const;

/** The i32 uniforms the epilogue reads (add them to the kernel's params). */
export const EPILOGUE_PARAMS = ['act', 'a0', 'a1', 'a2', 'a3', 'inf_bits', 'nan_bits'] as const;

/** WGSL: `fn epilogue(v: f32) -> f32`, the activation `p.act` of `v` (the helpers it needs included). */
export const EPILOGUE_WGSL = `${WGSL_HELPERS}
${STEP_PARAMS}
${ACTIVATIONS.map((op) => stepFunction(op, { op, args: [0], attrs: {} }, ['float32'], 'float32')).join('\n')}
fn epilogue(v: f32) -> f32 {
  let sp = StepParams(bitcast<vec4f>(vec4<i32>(p.a0, p.a1, p.a2, p.a3)), p.inf_bits, p.nan_bits);
  switch p.act {
${ACTIVATIONS.map((op, i) => `    case ${i + 1}: { return step${op}(v, sp); }`).join('\n')}
    default: { return v; }
  }
}`;

const bits = new Int32Array(4);
const floats = new Float32Array(bits.buffer);

/** The epilogue's uniform values for a node's attributes (`act` 0 without an activation). */
export function epilogueParams(attrs: Attrs): Record<(typeof EPILOGUE_PARAMS)[number], number> {
  const act = fusedActivationOf(attrs);
  bits.fill(0);
  let id = 0;
  if (act) {
    id = ACTIVATIONS.indexOf(act.op as (typeof ACTIVATIONS)[number]) + 1;
    if (id === 0) throw new KilnError(`no webgpu epilogue for the fused activation ${act.op}`);
    floats.set((ELEMENTWISE_SPECS[act.op]!.params?.(act.attrs) ?? []).slice(0, 4));
  }
  return { act: id, a0: bits[0]!, a1: bits[1]!, a2: bits[2]!, a3: bits[3]!, inf_bits: 0x7f800000, nan_bits: 0x7fc00000 };
}
