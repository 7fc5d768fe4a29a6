import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

// Runs in its own process (vitest isolates test files), before any init.
describe('init', () => {
  it('ops before await kiln.init() throw a KilnError saying what to do', async () => {
    expect(kiln.getDefaultBackend()).toBeNull();
    expect(() => kiln.zeros([2])).toThrow(/call await kiln\.init\(\) before creating tensors/);
    await kiln.init({ backend: 'reference' });
    expect(kiln.getDefaultBackend()).toBe('reference');
    expect(kiln.zeros([2]).backend.name).toBe('reference');
    expect(kiln.wasmThreads()).toBeNull(); // the reference backend loads no wasm (a page fetches none)
    expect(() => kiln.zeros([2]).to('wasm')).toThrow(/backend 'wasm' is not initialized: call await kiln\.init\(\{ backend: 'wasm' \}\)/);
    await kiln.init();
    expect(kiln.getDefaultBackend()).toBe('wasm');
    await expect(kiln.init({ backend: 'tpu' as kiln.BackendName })).rejects.toThrow(/unknown backend 'tpu'/);
  });
});
