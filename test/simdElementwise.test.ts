/**
 * The generated WebAssembly SIMD elementwise kernels (src/runtime/wasm/kernels/simdElementwise.ts):
 *  - through Kiln, the wasm backend agrees bit for bit with the reference backend for every
 *    generated op and broadcast pattern, at lengths that exercise the 16-wide body, the
 *    4-wide loop and the scalar tail, with NaN, ±Infinity and ±0 among the values;
 *  - called directly on the heap at misaligned byte addresses, every kernel and mode
 *    matches a float32 model of the reference semantics;
 *  - float32 inputs take the generated kernels, other dtypes keep the tfjs/portable ones.
 */
import { beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import * as kiln from '../src/index.js';
import { engine } from '../src/eager/engine.js';
import { broadcastShapes } from '../src/ops/shapeHelpers.js';
import { planBroadcast } from '../src/runtime/wasm/kernels/elementwise.js';
import { binaryName, SIMD_OPS, simdElementwiseModule, simdKernels, whereName, type Mode } from '../src/runtime/wasm/kernels/simdElementwise.js';
import { I, ModuleBuilder, sleb, T, uleb } from '../src/runtime/wasm/wasmAssembler.js';
import type { WasmBackend } from '../src/runtime/wasm/wasmBackend.js';
import { loadWasmModule } from '../src/runtime/wasm/wasmModule.js';

let nativeGreater: MockInstance;
let wasm: WasmBackend;
beforeAll(async () => {
  // Spies must exist before the backend binds the exports at init.
  const mod = await loadWasmModule();
  nativeGreater = vi.spyOn(mod, '_Greater');
  await kiln.init({ backend: 'wasm' });
  wasm = engine.backends.get('wasm') as unknown as WasmBackend;
});

const f32 = Math.fround;
const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, 3e38, -1e-40];

/** Seeded values: mostly random, with specials and repeats (ties, equal elements). */
function values(n: number, seed: number): Float32Array {
  let s = seed * 2654435761 >>> 0;
  const rnd = (): number => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    out[i] = r < 0.15 ? SPECIAL[Math.floor(rnd() * SPECIAL.length)]! : r < 0.25 ? Math.round(rnd() * 4 - 2) : (rnd() * 2 - 1) * 10;
  }
  return out;
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Same bits, except any NaN equals any NaN (payloads and signs of NaN are not specified). */
function sameFloats(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (!Object.is(g, w)) expect.fail(`${what}: element ${i} is ${Object.is(g, -0) ? '-0' : g}, expected ${Object.is(w, -0) ? '-0' : w}`);
  }
}

/** An op run on both backends from the same data; each input is (shape, data). */
function onBoth(run: (...xs: kiln.Tensor[]) => kiln.Tensor, inputs: { shape: number[]; data: ArrayLike<number>; dtype?: 'float32' | 'int32' | 'bool' }[]): [ArrayLike<number>, ArrayLike<number>] {
  return kiln.scope(() => {
    const res = (['wasm', 'reference'] as const).map((backend) =>
      run(...inputs.map((x) => kiln.tensor(x.data, { shape: x.shape, dtype: x.dtype ?? 'float32', backend }))).dataSync());
    return [res[0]!, res[1]!] as [ArrayLike<number>, ArrayLike<number>];
  });
}

const LENGTHS = [0, 1, 3, 4, 5, 15, 16, 17, 33, 1000];

/** Broadcast patterns [a shape, b shape]: flat, scalar either side, row, column, outer, NCHW channel. */
function patterns(): [string, number[], number[]][] {
  const out: [string, number[], number[]][] = [];
  for (const n of LENGTHS) {
    out.push([`same ${n}`, [n], [n]], [`scalar b ${n}`, [n], []], [`scalar a ${n}`, [], [n]]);
  }
  for (const c of [1, 3, 4, 5, 17, 40]) {
    for (const r of [1, 3, 7]) {
      out.push([`row [${r},${c}]∘[${c}]`, [r, c], [c]], [`row [${c}]∘[${r},${c}]`, [c], [r, c]]);
      out.push([`col [${r},${c}]∘[${r},1]`, [r, c], [r, 1]], [`outer [${r},1]∘[1,${c}]`, [r, 1], [1, c]]);
    }
  }
  out.push(['channel [2,5,3,4]∘[5,1,1]', [2, 5, 3, 4], [5, 1, 1]], ['channel [5,1,1]∘[2,5,3,4]', [5, 1, 1], [2, 5, 3, 4]]);
  out.push(['three blocks [3,1,20]∘[1,4,20]', [3, 1, 20], [1, 4, 20]], ['small outer [6,2,1]∘[1,2,3]', [6, 2, 1], [1, 2, 3]]);
  out.push(['size-1 dims [1,7,1]∘[7,1]', [1, 7, 1], [7, 1]], ['empty [0,3]∘[3]', [0, 3], [3]]);
  return out;
}

const BINARY: Record<string, (a: kiln.Tensor, b: kiln.Tensor) => kiln.Tensor> = {
  add: (a, b) => a.add(b), sub: (a, b) => a.sub(b), mul: (a, b) => a.mul(b), div: (a, b) => a.div(b),
  maximum: (a, b) => a.maximum(b), minimum: (a, b) => a.minimum(b),
  equal: (a, b) => a.equal(b), notEqual: (a, b) => a.notEqual(b), less: (a, b) => a.less(b),
  lessEqual: (a, b) => a.lessEqual(b), greater: (a, b) => a.greater(b), greaterEqual: (a, b) => a.greaterEqual(b),
};

describe('wasm SIMD kernels agree with the reference backend', () => {
  for (const [op, f] of Object.entries(BINARY)) {
    it(op, () => {
      let seed = 1;
      for (const [what, as, bs] of patterns()) {
        const [got, want] = onBoth(f, [{ shape: as, data: values(sizeOf(as), seed++) }, { shape: bs, data: values(sizeOf(bs), seed++) }]);
        sameFloats(got, want, `${op} ${what}`);
      }
    });
  }

  for (const op of ['logicalAnd', 'logicalOr'] as const) {
    it(`${op} (bool × bool; nonzero inputs of other dtypes keep the other kernels)`, () => {
      let seed = 300;
      for (const [what, as, bs] of patterns()) {
        const bits = (n: number): number[] => Array.from(values(n, seed++), (v) => (v > 0 ? 1 : 0));
        const [got, want] = onBoth((a, b) => a[op](b), [{ shape: as, data: bits(sizeOf(as)), dtype: 'bool' }, { shape: bs, data: bits(sizeOf(bs)), dtype: 'bool' }]);
        sameFloats(got, want, `${op} ${what}`);
      }
      const [got, want] = onBoth((a, b) => a[op](b), [{ shape: [9], data: values(9, 1) }, { shape: [9], data: [0, 1, 2, 0, -1, 0, 3, 0, 0] }]);
      sameFloats(got, want, `${op} float32`);
    });
  }

  it('logicalNot', () => {
    for (const n of LENGTHS) {
      const [got, want] = onBoth((a) => a.logicalNot(), [{ shape: [n], data: Array.from(values(n, n), (v) => (v > 0 ? 1 : 0)), dtype: 'bool' }]);
      sameFloats(got, want, `logicalNot [${n}]`);
    }
  });

  it('where (cond, x, y each same, scalar or block-broadcast; float32 and int32)', () => {
    let seed = 100;
    const conds = (n: number): number[] => Array.from(values(n, seed++), (v) => (v > 0 ? 1 : 0));
    for (const [what, xs, ys] of patterns()) {
      for (const cs of [xs, ys, [], xs.length ? [...xs.slice(0, -1), 1] : []]) {
        const shapes = { cond: cs, x: xs, y: ys };
        broadcastShapes(broadcastShapes(cs, xs), ys); // every combination here broadcasts
        for (const dtype of ['float32', 'int32'] as const) {
          const data = (n: number): ArrayLike<number> => (dtype === 'int32' ? Array.from(values(n, seed++), (v) => (Number.isFinite(v) ? Math.round(v * 1e6) | 0 : -7)) : values(n, seed++));
          const [got, want] = onBoth((c, x, y) => kiln.where(c, x, y), [
            { shape: cs, data: conds(sizeOf(cs)), dtype: 'bool' },
            { shape: xs, data: data(sizeOf(xs)), dtype },
            { shape: ys, data: data(sizeOf(ys)), dtype },
          ]);
          sameFloats(got, want, `where ${what} cond [${shapes.cond.join(',')}] ${dtype}`);
        }
      }
    }
  });

  const UNARY: Record<string, (x: kiln.Tensor) => kiln.Tensor> = {
    neg: (x) => x.neg(), abs: (x) => x.abs(), sqrt: (x) => x.sqrt(), square: (x) => x.square(), relu: (x) => x.relu(),
    reciprocal: (x) => x.reciprocal(),
    'clip(-0.3, 2.5)': (x) => x.clip(-0.3, 2.5), 'clip(0, null)': (x) => x.clip(0, null), 'clip(null, -1)': (x) => x.clip(null, -1),
  };
  for (const [op, f] of Object.entries(UNARY)) {
    it(op, () => {
      for (const n of LENGTHS) {
        const [got, want] = onBoth(f, [{ shape: [n], data: values(n, n + 7) }]);
        sameFloats(got, want, `${op} [${n}]`);
      }
    });
  }

  it('pow with a scalar exponent (2, -1, 0.5, 1 take exact shortcuts) and with a tensor exponent', () => {
    for (const p of [2, -1, 0.5, 1, 3, -0.5, 0]) {
      for (const n of LENGTHS) {
        const [got, want] = onBoth((x) => x.pow(p), [{ shape: [n], data: values(n, n + 11) }]);
        sameFloats(got, want, `pow(x, ${p}) [${n}]`);
      }
    }
    const [got, want] = onBoth((x, y) => x.pow(y), [{ shape: [5, 17], data: values(85, 1) }, { shape: [17], data: values(17, 2) }]);
    sameFloats(got, want, 'pow [5,17]^[17]');
  });

  it('pow shortcuts equal Math.pow in float64 on the reference backend', () => {
    const x = [...SPECIAL, ...Array.from({ length: 200 }, (_, i) => (i - 100) * 0.37), 5e-324, -5e-324, 1e308];
    for (const p of [2, -1, 0.5, 1]) {
      const got = kiln.tensor(x, { dtype: 'float64', backend: 'reference' }).pow(p).dataSync();
      sameFloats(got, x.map((v) => Math.pow(v, p)), `float64 pow(x, ${p})`);
    }
  });

  it('leakyRelu: alpha·x in float32 (as PyTorch), within 1 ulp of the portable kernel', () => {
    for (const alpha of [0.01, 0.2, 1 / 3]) {
      for (const n of LENGTHS) {
        const x = values(n, n + 3);
        const [got, want] = onBoth((t) => t.leakyRelu(alpha), [{ shape: [n], data: x }]);
        const model = Array.from(x, (v) => (v > 0 ? v : f32(f32(alpha) * v)));
        sameFloats(got, model, `leakyRelu(${alpha}) [${n}]`);
        for (let i = 0; i < n; i++) {
          const g = got[i]!, w = want[i]!;
          if (Number.isNaN(w)) expect(Number.isNaN(g)).toBe(true);
          else if (g !== w) expect(Math.abs(g - w)).toBeLessThanOrEqual(Math.abs(w) * 2 ** -23 + 1e-45);
        }
      }
    }
  });
});

describe('routing', () => {
  it('float32 comparisons run the generated kernels; int32 keeps the tfjs kernel', () => {
    kiln.scope(() => {
      nativeGreater.mockClear();
      const x = kiln.randn([64], { seed: 1 });
      expect(Array.from(x.greater(0).dataSync())).toEqual(Array.from(x.dataSync(), (v) => (v > 0 ? 1 : 0)));
      expect(nativeGreater).not.toHaveBeenCalled();
      expect(kiln.tensor([1, 5, 3], { dtype: 'int32' }).greater(2).toArray()).toEqual([false, true, true]);
      expect(nativeGreater).toHaveBeenCalled();
    });
  });

  it('plans block broadcasts as rows × cols calls, and declines long JS loops', () => {
    const p = (a: number[], b: number[], out: number[]) => planBroadcast([a, b], out, [4, 4], 4);
    expect(p([8, 16], [16], [8, 16])).toEqual({ rows: 8, cols: 16, modes: ['v', 'v'], steps: [64, 0], outer: [] });
    expect(p([8, 16], [8, 1], [8, 16])).toEqual({ rows: 8, cols: 16, modes: ['v', 's'], steps: [64, 4], outer: [] });
    expect(p([8, 1], [1, 16], [8, 16])).toEqual({ rows: 8, cols: 16, modes: ['s', 'v'], steps: [4, 0], outer: [] });
    // NCHW channel broadcast: N outer steps of C rows × HW cols.
    expect(p([2, 5, 3, 4], [5, 1, 1], [2, 5, 3, 4])).toEqual({
      rows: 5, cols: 12, modes: ['v', 's'], steps: [48, 4], outer: [{ size: 2, strides: [240, 0], outStride: 240 }],
    });
    // Many tiny calls: left to the other kernels.
    expect(p([64, 2, 1], [1, 2, 3], [64, 2, 3])).toBeNull();
  });
});

// ---- direct calls on the heap, at misaligned addresses ----------------------------------

type Model = (...x: number[]) => number;
const BIN_MODEL: Record<string, Model> = {
  add: (a, b) => f32(a + b), sub: (a, b) => f32(a - b), mul: (a, b) => f32(a * b), div: (a, b) => f32(a / b),
  maximum: (a, b) => (a !== a || b !== b ? NaN : a > b ? a : b),
  minimum: (a, b) => (a !== a || b !== b ? NaN : a < b ? a : b),
  equal: (a, b) => +(a === b), notEqual: (a, b) => +(a !== b), less: (a, b) => +(a < b),
  lessEqual: (a, b) => +(a <= b), greater: (a, b) => +(a > b), greaterEqual: (a, b) => +(a >= b),
};
const CMP = new Set(['equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual']);
const UN_MODEL: Record<string, { p: number[]; f: Model }> = {
  neg: { p: [], f: (x) => -x }, abs: { p: [], f: Math.abs }, sqrt: { p: [], f: (x) => f32(Math.sqrt(x)) },
  square: { p: [], f: (x) => f32(x * x) }, relu: { p: [], f: (x) => (x <= 0 ? 0 : x) }, reciprocal: { p: [], f: (x) => f32(1 / x) },
  leakyRelu: { p: [0.1], f: (x) => (x > 0 ? x : f32(f32(0.1) * x)) },
  powHalf: { p: [], f: (x) => f32(Math.pow(x, 0.5)) },
  clip: { p: [-0.5, 1.5], f: (x) => { const lo = f32(-0.5), hi = f32(1.5); const r = x < lo ? lo : x; return r > hi ? hi : r; } },
};

describe('generated kernels on the heap (misaligned addresses, rows with steps)', () => {
  /** A heap scratch region; DataView reads/writes at any byte offset. */
  function heap(bytes: number): { base: number; dv: () => DataView; free: () => void } {
    const base = wasm.module._malloc(bytes + 64);
    return { base, dv: () => new DataView(wasm.memory.buffer), free: () => wasm.module._free(base) };
  }
  const modes2: [Mode, Mode][] = [['v', 'v'], ['v', 's'], ['s', 'v']];

  it('validates as one module', () => {
    expect(WebAssembly.validate(simdElementwiseModule())).toBe(true);
    expect(SIMD_OPS.length).toBe(34); // 25 + the 9 transcendentals of simdMath.ts (test/simdMath.test.ts)
  });

  for (const op of Object.keys(BIN_MODEL)) {
    it(`${op}: every mode, offsets 1–3 bytes, rows of 1–37`, () => {
      const k = simdKernels(wasm.memory, op);
      const cmp = CMP.has(op);
      for (const [am, bm] of modes2) {
        for (const [rows, cols] of [[1, 0], [1, 37], [3, 5], [4, 16], [2, 19]] as const) {
          for (const off of [1, 2, 3]) {
            // a: rows × cols (or one per row when 's'), b: one row reused (step 0) or per row.
            const aN = am === 'v' ? rows * cols : rows, bN = bm === 'v' ? cols : 1;
            const h = heap(4 * (aN + bN) + 4 * rows * cols + 16);
            const A = h.base + off, B = A + 4 * aN + 1, O = B + 4 * bN + off;
            const av = values(aN, rows * 31 + cols + off), bv = values(bN, cols * 7 + off);
            let dv = h.dv();
            av.forEach((v, i) => dv.setFloat32(A + 4 * i, v, true));
            bv.forEach((v, i) => dv.setFloat32(B + 4 * i, v, true));
            k[binaryName(op, am, bm)]!(A, B, O, rows, cols, am === 'v' ? 4 * cols : 4, 0);
            dv = h.dv();
            const got: number[] = [], want: number[] = [];
            for (let r = 0; r < rows; r++) {
              for (let c = 0; c < cols; c++) {
                const a = av[am === 'v' ? r * cols + c : r]!, b = bv[bm === 'v' ? c : 0]!;
                want.push(BIN_MODEL[op]!(a, b));
                got.push(cmp ? dv.getUint8(O + r * cols + c) : dv.getFloat32(O + 4 * (r * cols + c), true));
              }
            }
            sameFloats(got, want, `${op}_${am}${bm} rows ${rows} cols ${cols} offset ${off}`);
            h.free();
          }
        }
      }
    });
  }

  it('where: all 7 mode combinations, offsets, cond bytes other than 0/1', () => {
    const k = simdKernels(wasm.memory, 'where');
    for (const cm of ['v', 's'] as Mode[]) for (const xm of ['v', 's'] as Mode[]) for (const ym of ['v', 's'] as Mode[]) {
      if (cm === 's' && xm === 's' && ym === 's') continue;
      for (const [rows, cols] of [[1, 37], [3, 17], [2, 4], [5, 1]] as const) {
        const n = (m: Mode): number => (m === 'v' ? rows * cols : rows);
        const h = heap(n(cm) + 4 * (n(xm) + n(ym) + rows * cols) + 16);
        const C = h.base + 3, X = C + n(cm) + 2, Y = X + 4 * n(xm) + 1, O = Y + 4 * n(ym) + 3;
        const cv = Array.from(values(n(cm), rows + cols), (v) => (v > 0 ? 1 : v < -5 ? 255 : 0));
        const xv = values(n(xm), rows * 3 + cols), yv = values(n(ym), rows * 5 + cols);
        let dv = h.dv();
        cv.forEach((v, i) => dv.setUint8(C + i, v));
        xv.forEach((v, i) => dv.setFloat32(X + 4 * i, v, true));
        yv.forEach((v, i) => dv.setFloat32(Y + 4 * i, v, true));
        const step = (m: Mode, bytes: number): number => (m === 'v' ? bytes * cols : bytes);
        k[whereName(cm, xm, ym)]!(C, X, Y, O, rows, cols, step(cm, 1), step(xm, 4), step(ym, 4));
        dv = h.dv();
        const got: number[] = [], want: number[] = [];
        const at = (m: Mode, r: number, c: number): number => (m === 'v' ? r * cols + c : r);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
          want.push(cv[at(cm, r, c)] ? xv[at(xm, r, c)]! : yv[at(ym, r, c)]!);
          got.push(dv.getFloat32(O + 4 * (r * cols + c), true));
        }
        sameFloats(got, want, `where_${cm}${xm}${ym} rows ${rows} cols ${cols}`);
        h.free();
      }
    }
  });

  const LOGIC: Record<string, (a: number, b: number) => number> = { logicalAnd: (a, b) => +(!!a && !!b), logicalOr: (a, b) => +(!!a || !!b) };
  for (const [op, model] of Object.entries(LOGIC)) {
    it(`${op}: bytes other than 0/1, every mode, offsets, rows of 0–150`, () => {
      const k = simdKernels(wasm.memory, op);
      for (const [am, bm] of modes2) {
        for (const [rows, cols] of [[1, 0], [1, 150], [3, 17], [2, 64], [4, 3]] as const) {
          const aN = am === 'v' ? rows * cols : rows, bN = bm === 'v' ? cols : 1;
          const h = heap(aN + bN + rows * cols + 16);
          const A = h.base + 1, B = A + aN + 2, O = B + bN + 3;
          const bytes = (n: number, seed: number): number[] => Array.from(values(n, seed), (v) => (v > 1 ? 2 : v > 0 ? 1 : v < -5 ? 255 : 0));
          const av = bytes(aN, rows + cols), bv = bytes(bN, cols + 5);
          let dv = h.dv();
          av.forEach((v, i) => dv.setUint8(A + i, v));
          bv.forEach((v, i) => dv.setUint8(B + i, v));
          k[binaryName(op, am, bm)]!(A, B, O, rows, cols, am === 'v' ? cols : 1, 0);
          dv = h.dv();
          const got: number[] = [], want: number[] = [];
          for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
            want.push(model(av[am === 'v' ? r * cols + c : r]!, bv[bm === 'v' ? c : 0]!));
            got.push(dv.getUint8(O + r * cols + c));
          }
          sameFloats(got, want, `${op}_${am}${bm} rows ${rows} cols ${cols}`);
          h.free();
        }
      }
    });
  }

  for (const [op, { p, f }] of Object.entries(UN_MODEL)) {
    it(`${op}: offsets, lengths 0–1000`, () => {
      const k = simdKernels(wasm.memory, op);
      for (const n of LENGTHS) {
        for (const off of [0, 1, 2, 3]) {
          const h = heap(8 * n + 16);
          const X = h.base + off, O = X + 4 * n + 3;
          const xv = values(n, n + off);
          let dv = h.dv();
          xv.forEach((v, i) => dv.setFloat32(X + 4 * i, v, true));
          k[op]!(X, O, 1, n, 0, p[0] ?? 0, p[1] ?? 0);
          dv = h.dv();
          sameFloats(Array.from({ length: n }, (_, i) => dv.getFloat32(O + 4 * i, true)), Array.from(xv, (v) => f(v)), `${op} n ${n} offset ${off}`);
          h.free();
        }
      }
    });
  }
});

describe('wasm assembler', () => {
  it('encodes LEB128', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([127]);
    expect(uleb(128)).toEqual([0x80, 1]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([63]);
    expect(sleb(64)).toEqual([0xc0, 0]);
    expect(sleb(-64)).toEqual([0x40]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
  });

  it('builds a module that runs on an imported memory (the documented example)', () => {
    const m = new ModuleBuilder().importMemory();
    m.func('fill', [T.i32, T.i32, T.f32], [], [], I.repeat(1, [I.get(0), I.get(2), I.f32Store(), I.bump(0, I.i32(4))]));
    // Many locals of mixed types are run-length encoded.
    m.func('sum3', [T.i32], [T.f32], [T.f32, T.f32, T.v128, T.i32], [I.get(0), I.f32Load(), I.get(0), I.f32Load(4), I.f32Add(), I.get(0), I.f32Load(8), I.f32Add()]);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const ex = new WebAssembly.Instance(new WebAssembly.Module(m.bytes()), { env: { memory } }).exports as { fill: (d: number, n: number, v: number) => void; sum3: (p: number) => number };
    ex.fill(8, 3, 1.5);
    expect(Array.from(new Float32Array(memory.buffer, 0, 6))).toEqual([0, 0, 1.5, 1.5, 1.5, 0]);
    expect(ex.sum3(8)).toBe(4.5);
    expect(() => m.func('fill', [], [], [], [])).toThrow(/twice/);
  });
});
