// Out of memory on the wasm heap (capped at 4 GiB). Its own file, so its own fork: the
// heap it grows is never given back to the process.
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../../src/index.js';
import { engine } from '../../src/eager/engine.js';
import type { WasmBackend, WasmStorage } from '../../src/runtime/wasm/wasmBackend.js';

const MiB = 1024 * 1024;
let wasm: WasmBackend;

beforeAll(async () => {
  await kiln.init({ backend: 'reference' });
  await kiln.init({ backend: 'wasm' });
  wasm = engine.backends.get('wasm') as unknown as WasmBackend;
});

/**
 * Takes the heap up to Kiln's limit with untouched buffers (growing it costs ≈0.2 s;
 * writing 4 GB of zeros ≈20 s on this machine): `chunk` bytes at a time, then halves,
 * down to `min`. Returns them for `release`.
 */
function ballast(totalBytes: number, chunk: number, min = chunk): WasmStorage[] {
  const out: WasmStorage[] = [];
  let left = totalBytes;
  for (let c = chunk; c >= min; c /= 2) {
    while (left >= c) {
      try {
        out.push(wasm.alloc('bool', c));
      } catch {
        break;
      }
      left -= c;
    }
  }
  return out;
}

function release(storages: WasmStorage[]): void {
  for (const s of storages) wasm.free(s);
  storages.length = 0;
}

function ptrOf(t: kiln.Tensor): number {
  return (t.storage as WasmStorage).ptr;
}

/** conv2d + bias, matmul and a sum agree on wasm and on the reference backend (tolerance 1e-4·max(1,|ref|)). */
function expectMathAgrees(x: kiln.Tensor, w: kiln.Tensor, b: kiln.Tensor, a: kiln.Tensor, m: kiln.Tensor): void {
  kiln.scope(() => {
    const on = (t: kiln.Tensor) => t.to('reference');
    const pairs: [kiln.Tensor, kiln.Tensor][] = [
      [x.conv2d(w, b, { padding: 1 }), on(x).conv2d(on(w), on(b), { padding: 1 })],
      [a.matmul(m), on(a).matmul(on(m))],
      [a.sum(1), on(a).sum(1)],
    ];
    for (const [got, want] of pairs) {
      const g = got.dataSync(), r = want.dataSync();
      expect(g.length).toBe(r.length);
      let worst = 0;
      for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i]! - r[i]!) / Math.max(1, Math.abs(r[i]!)));
      expect(worst).toBeLessThanOrEqual(1e-4);
    }
  });
}

describe('wasm heap: out of memory', () => {
  it('tensors above 2 GiB compute right; allocating until failure gives a KilnError; earlier tensors intact; memory() exact; the backend usable', () => {
    const early = kiln.arange(0, 1000, 1, { dtype: 'float32' });
    const plusOne = () => kiln.scope(() => early.add(1).sum().item());
    expect(plusOne()).toBe(500500); // caches the scalar 1 (a kept tensor) before counting
    const base = kiln.memory();

    // 2.25 GiB below: what follows lives at offsets ≥ 2³¹ (negative as int32).
    const low = ballast(2304 * MiB, 256 * MiB);
    // Small gaps remain between those: fill them until allocations come from the top, with
    // blocks halving from 16 KiB to 16 bytes (malloc takes the best fit, so once a size comes
    // from the top no gap below holds it; the next size fills what is left).
    for (let bytes = 16384; bytes >= 16; bytes /= 2) do low.push(wasm.alloc('bool', bytes)); while (low[low.length - 1]!.ptr < 2 ** 31);
    const x = kiln.randn([2, 3, 9, 9], { seed: 1 });
    const w = kiln.randn([5, 3, 3, 3], { seed: 2 });
    const b = kiln.randn([5], { seed: 3 });
    const a = kiln.randn([33, 70], { seed: 4 });
    const m = kiln.randn([70, 17], { seed: 5 });
    for (const t of [x, w, b, a, m]) expect(ptrOf(t)).toBeGreaterThanOrEqual(2 ** 31);
    expectMathAgrees(x, w, b, a, m);

    // Up to the limit, untouched; then user tensors of 16 MiB until one fails.
    const high = ballast(4096 * MiB, 128 * MiB, 32 * MiB);
    const users: kiln.Tensor[] = [];
    let error: unknown = null;
    for (let i = 0; i < 64 && error === null; i++) {
      try {
        users.push(kiln.zeros([4 * MiB]));
      } catch (e) {
        error = e;
      }
    }
    expect(error).toBeInstanceOf(kiln.KilnError);
    const message = (error as Error).message;
    expect(message).toMatch(/^zeros: out of memory: cannot allocate 16,777,216 bytes \(16 MiB\) for 4,194,304 float32 elements on the 'wasm' backend/);
    expect(message).toMatch(/live: [\d,]+ bytes \([\d.]+ GiB\) in \d+ buffers/);
    expect(message).toMatch(/memory\.oom\.test\.ts:\d+:\d+/); // the user's line

    // Nothing counted for what failed; what was made before reads back intact.
    const full = kiln.memory();
    expect(full.liveTensors).toBe(base.liveTensors + 5 + users.length);
    expect(early.toArray()).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    kiln.scope(() => {
      for (const u of users) expect(u.sum().item()).toBe(0);
    });
    expect(kiln.memory()).toEqual(full);

    // An op whose output does not fit; absurd sizes: KilnErrors naming the op, nothing counted.
    const before = kiln.memory();
    expect(() => early.expand([64, 1000, 1000])).toThrow(/^expand: out of memory: cannot allocate 256,000,000 bytes/);
    expect(() => kiln.zeros([1e5, 1e5])).toThrow(/^zeros: out of memory: cannot allocate 40,000,000,000 bytes/);
    expect(() => kiln.arange(0, 1e12, 1, { dtype: 'float32' })).toThrow(/^arange: out of memory/);
    expect(kiln.memory()).toEqual(before);

    // Freeing makes room again: the same ops work and agree, above 2 GiB.
    release(high);
    for (const u of users) u.dispose();
    expectMathAgrees(x, w, b, a, m);
    expect(plusOne()).toBe(500500);

    release(low);
    for (const t of [x, w, b, a, m]) t.dispose();
    const end = kiln.memory();
    expect(end.liveTensors).toBe(base.liveTensors);
    expect(end.liveBytes).toEqual(base.liveBytes);
  });

  it('a kernel that cannot get memory for its scratch (a packed operand) raises instead of returning garbage', () => {
    const a = kiln.randn([128, 256], { seed: 6 }); // rows ≥ b's columns / 2: the direct product, packing b
    const b = kiln.randn([256, 256], { seed: 7 }); // never multiplied yet: packed on first use
    const base = kiln.memory();
    // One hole of 256 KiB, then Kiln's buffers up to its limit: the 128 KiB output fits in
    // the hole, the packed copy of b then cannot.
    const hole = wasm.alloc('bool', 256 * 1024);
    const below = ballast(4096 * MiB, 256 * MiB, 64);
    // The reserve above Kiln's limit, taken the way the native code takes it.
    const raw: number[] = [];
    for (let c = 64 * MiB; c >= 64; c /= 2) for (let p = wasm.module._malloc(c) >>> 0; p !== 0; p = wasm.module._malloc(c) >>> 0) raw.push(p);
    wasm.free(hole);
    const before = kiln.memory();
    // (Kiln's GEMM packs b into a buffer of its own: the allocation that fails is that one.)
    expect(() => a.matmul(b)).toThrow(/^matmul: out of memory: cannot allocate [\d,]+ bytes/);
    expect(kiln.memory()).toEqual(before);

    for (const p of raw) wasm.module._free(p);
    release(below);
    const got = a.matmul(b).dataSync();
    const want = a.to('reference').matmul(b.to('reference')).dataSync();
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i]!)) * 16);
    expect(kiln.memory().liveBytes.wasm).toBe(base.liveBytes['wasm']! + 128 * 256 * 4);
  });
});
