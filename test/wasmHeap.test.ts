/**
 * The wasm heap's blocks (`WasmBackend.malloc` / `freeBlock`): 16-byte aligned whatever
 * emscripten's malloc (8-byte aligned) returns, so a v128 access never straddles a cache
 * line; and freed whole (the raw block behind the aligned start), so alloc/free cycles
 * neither leak nor grow the heap.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { engine } from '../src/eager/engine.js';
import type { WasmBackend } from '../src/runtime/wasm/wasmBackend.js';

let wasm: WasmBackend;
beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
  wasm = engine.backends.get('wasm') as unknown as WasmBackend;
});

describe('wasm heap blocks', () => {
  it('start 16-byte aligned for every size and dtype (tensors, arenas, kernels\' scratch)', () => {
    const ptrs: number[] = [];
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      for (let size = 0; size < 40; size++) {
        const s = wasm.alloc(dtype, size);
        ptrs.push(s.ptr);
        wasm.free(s);
      }
    }
    // Interleaved lifetimes too: the raw blocks then sit at both 8 mod 16 and 0 mod 16.
    const held = Array.from({ length: 50 }, (_, i) => wasm.malloc('float32', 1 + (i % 7)));
    ptrs.push(...held);
    const arena = wasm.allocArena(100);
    ptrs.push(arena.ptr);
    expect(ptrs.filter((p) => p % 16 !== 0)).toEqual([]);
    for (const p of held) wasm.freeBlock(p);
    wasm.freeArena(arena);
    // A tensor's values stay intact next to its neighbours (the offset word sits before the start).
    const a = kiln.tensor([1, 2, 3]), b = kiln.tensor([4, 5, 6, 7, 8]);
    expect(Array.from(a.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(b.dataSync())).toEqual([4, 5, 6, 7, 8]);
  });

  it('are freed whole: 20k alloc/free cycles of mixed sizes leave the heap size and live bytes unchanged', () => {
    const cycle = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const p = wasm.malloc('float32', 1 + ((i * 37) % 3000));
        const q = wasm.malloc('int32', 1 + ((i * 11) % 17));
        wasm.freeBlock(p);
        wasm.freeBlock(q);
      }
    };
    cycle(2000);
    const heap = wasm.memory.buffer.byteLength, live = wasm.liveBytes();
    cycle(20_000);
    expect(wasm.memory.buffer.byteLength).toBe(heap);
    expect(wasm.liveBytes()).toBe(live);
    // The same request after a free gets the same block back (dlmalloc reuses the freed raw block).
    const p = wasm.malloc('float32', 1000);
    wasm.freeBlock(p);
    expect(wasm.malloc('float32', 1000)).toBe(p);
    wasm.freeBlock(p);
  });
});
