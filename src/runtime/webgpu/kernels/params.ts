/**
 * Shapes and geometry reach shaders as i32 uniforms (a struct `p` of named fields), so a
 * pipeline is keyed by structure only and serves every size (symbolic batch dims).
 */

/** Fields the elementwise helpers (`WGSL_HELPERS`) read as u32 bit patterns; their values fit an i32 too. */
const U32_FIELDS = new Set(['inf_bits', 'nan_bits']);

/** WGSL for the uniform struct `Params` with i32 fields `names` (`inf_bits`/`nan_bits`: u32), bound as `p` at `binding` of group 0. */
export function paramStruct(names: readonly string[], binding: number): string {
  const fields = names.map((n) => `  ${n}: ${U32_FIELDS.has(n) ? 'u32' : 'i32'},`).join('\n');
  return `struct Params {\n${fields}\n}\n@group(0) @binding(${binding}) var<uniform> p: Params;`;
}

/** The bytes of `Params` for `values` (every name required), padded to 16 bytes. */
export function packParams(names: readonly string[], values: Readonly<Record<string, number>>): Int32Array {
  const out = new Int32Array(Math.max(4, Math.ceil(names.length / 4) * 4));
  names.forEach((n, i) => {
    const v = values[n];
    if (v === undefined || !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new Error(`uniform ${n} must be an i32, got ${v}`);
    out[i] = v;
  });
  return out;
}
