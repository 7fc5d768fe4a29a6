/**
 * Kiln's kernel pool (src/runtime/wasm/kernelPool.ts) with stand-in workers, so each path
 * is forced and checked without depending on the OS's scheduling: a helper that never
 * starts (its calls run on the calling thread), one that starts but never claims a job
 * (the calling thread takes the job back), and a real helper (Node worker) running a
 * generated function on a shared memory. The function writes `value` at `address`; results
 * are exact integers. The threaded build's end-to-end use (the lstm kernel split by rows)
 * is in test/wasmThreads.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { KernelPool, type PoolModule } from '../src/runtime/wasm/kernelPool.js';
import { I, ModuleBuilder, T } from '../src/runtime/wasm/wasmAssembler.js';
import type { KernelWorker, WasmModule } from '../src/runtime/wasm/wasmModule.js';

/** A module with `store(address, value)`: memory[address] = value (i32). */
const STORE: PoolModule = {
  key: 'test pool store',
  generate: () => {
    const m = new ModuleBuilder().importMemory();
    m.func('store', [T.i32, T.i32], [], [], [I.get(0), I.get(1), I.i32Store()]);
    return m.bytes();
  },
  functions: ['store'],
};
const MODULES = [STORE];

/** A stand-in for tfjs's module: a fresh shared memory and the given way to start workers. */
function fakeModule(spawn: (source: string) => KernelWorker): WasmModule {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
  return { asm: { memory }, spawnWorker: spawn } as unknown as WasmModule;
}

const words = (m: WasmModule): Int32Array => new Int32Array(m.asm.memory.buffer);

describe('kernel pool', () => {
  it('a helper that has not started runs nothing: its calls run on the calling thread', () => {
    const m = fakeModule(() => ({ postMessage: () => {}, terminate: () => {} }));
    const pool = KernelPool.on(m, 2, MODULES)!;
    const store = pool.fn('test pool store', 'store');
    pool.queue(0, store, 16, 7);
    pool.queue(0, store, 20, -3);
    pool.start(0);
    pool.finish(0);
    expect([words(m)[4], words(m)[5]]).toEqual([7, -3]);
    expect(pool.jobs).toEqual({ helpers: 0, here: 1, takenBack: 0 });
  });

  it('a job its helper does not claim is taken back and run by the calling thread', () => {
    // Ready at once (as a helper whose flags say so), but never claims a job: a descheduled helper.
    const m = fakeModule(() => ({
      postMessage: (msg: unknown) => Atomics.store(new Int32Array((msg as { flags: SharedArrayBuffer }).flags), 1, 1),
      terminate: () => {},
    }));
    const pool = KernelPool.on(m, 2, MODULES)!;
    const store = pool.fn('test pool store', 'store');
    pool.begin();
    try {
      for (let job = 0; job < 3; job++) {
        pool.queue(0, store, 32 + 4 * job, 100 + job);
        pool.start(0);
        pool.finish(0);
      }
    } finally {
      pool.end();
    }
    expect(Array.from(words(m).subarray(8, 11))).toEqual([100, 101, 102]);
    expect(pool.jobs).toEqual({ helpers: 3, here: 0, takenBack: 3 });
  });

  it('a real helper runs its jobs on the shared memory; the calling thread runs its own share', async () => {
    const m = fakeModule((source) => {
      const w = new Worker(source, { eval: true, execArgv: [] });
      w.unref();
      return w;
    });
    const pool = KernelPool.on(m, 2, MODULES)!;
    const store = pool.fn('test pool store', 'store');
    // Wait until the helper has started (its first jobs would run here).
    for (let i = 0; i < 200 && pool.jobs.helpers === 0; i++) {
      pool.queue(0, store, 60, 1);
      pool.start(0);
      pool.finish(0);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(pool.jobs.helpers).toBeGreaterThan(0);
    pool.begin();
    try {
      for (let job = 0; job < 50; job++) {
        pool.queue(0, store, 64 + 8 * job, job);
        pool.start(0);
        // The calling thread's share, into the neighbouring word.
        const f = new Int32Array(m.asm.memory.buffer);
        f[(68 + 8 * job) >> 2] = -job;
        pool.finish(0);
      }
    } finally {
      pool.end();
    }
    const f = words(m);
    for (let job = 0; job < 50; job++) {
      expect(f[(64 + 8 * job) >> 2], `job ${job}`).toBe(job);
      expect(f[(68 + 8 * job) >> 2]).toBe(-job | 0);
    }
    expect(pool.jobs.helpers + pool.jobs.here).toBeGreaterThanOrEqual(50);
    pool.close();
  });

  it('every user passes the same module list; more calls than a job holds throw', () => {
    const m = fakeModule(() => ({ postMessage: () => {}, terminate: () => {} }));
    const pool = KernelPool.on(m, 2, MODULES)!;
    expect(() => KernelPool.on(m, 2, [STORE])).toThrow(/same module list/);
    expect(KernelPool.on(m, 1, MODULES)).toBeNull();
    const store = pool.fn('test pool store', 'store');
    expect(() => pool.fn('test pool store', 'load')).toThrow(/no function/);
    expect(() => {
      for (let i = 0; i < 9; i++) pool.queue(0, store, 0, 0);
    }).toThrow(/more than 8 calls/);
  });
});
