// The FinalizationRegistry backstop frees tensors nobody disposed; memory() must count
// them out too. Its own file (its own fork): it turns on V8's `gc()` to force a collection.
import v8 from 'node:v8';
import vm from 'node:vm';
import { beforeAll, expect, it } from 'vitest';
import * as kiln from '../../src/index.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

beforeAll(async () => {
  await kiln.init({ backend: 'reference' });
  await kiln.init({ backend: 'wasm' });
});

/** Collects until `done()` (finalizer callbacks run as tasks after a collection), at most 50 rounds. */
async function collectUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !done(); i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

it.each(['wasm', 'reference'] as const)('tensors freed by the finalizer on %s leave memory() exactly as before', async (backend) => {
  const before = kiln.memory();
  // Made and dropped without dispose() or a scope; an alias shares one storage.
  (() => {
    for (let i = 0; i < 10; i++) kiln.ones([1000], { backend }).reshape([10, 100]);
  })();
  const made = kiln.memory();
  expect(made.liveTensors).toBe(before.liveTensors + 20);
  expect(made.liveBytes[backend]).toBe(before.liveBytes[backend]! + 10 * 4000);
  await collectUntil(() => kiln.memory().liveBytes[backend] === before.liveBytes[backend] && kiln.memory().liveTensors === before.liveTensors);
  expect(kiln.memory()).toEqual(before);
});

it('tensors dropped in one long synchronous stretch (more than the 1024 that wait for registration at once) are freed too', async () => {
  const before = kiln.memory();
  // A tensor is registered with the finalizer at the end of the task that made it, or when
  // 1024 wait: 3000 made here in one stretch, every third disposed at once.
  (() => {
    for (let i = 0; i < 3000; i++) {
      const t = kiln.ones([10], { backend: 'wasm' });
      if (i % 3 === 0) t.dispose();
    }
  })();
  const made = kiln.memory();
  expect(made.liveTensors).toBe(before.liveTensors + 2000);
  expect(made.liveBytes['wasm']).toBe(before.liveBytes['wasm']! + 2000 * 40);
  await collectUntil(() => kiln.memory().liveBytes['wasm'] === before.liveBytes['wasm'] && kiln.memory().liveTensors === before.liveTensors);
  expect(kiln.memory()).toEqual(before);
});
