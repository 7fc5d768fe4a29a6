// backward() without retainGraph releases what the graph saved: intermediates nothing
// else holds become garbage even while the loss is kept. Its own file (its own fork):
// it turns on V8's `gc()` to force the collection the finalizer backstop frees on.
import v8 from 'node:v8';
import vm from 'node:vm';
import { beforeAll, expect, it } from 'vitest';
import * as kiln from '../../src/index.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

beforeAll(async () => {
  await kiln.init();
});

/** Collects until `done()` (finalizer callbacks run as tasks after a collection), at most 200 rounds (a loaded machine may need many). */
async function collectUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const bytes = () => kiln.memory().liveBytes['wasm']!;

it('a kept loss no longer keeps its intermediates alive after backward; tensors the user holds stay intact', async () => {
  const n = 100_000; // 400 kB per float32 intermediate
  const w = kiln.randn([n], { seed: 1, requiresGrad: true });
  let rounds = 0;
  await collectUntil(() => rounds++ === 3); // settle garbage from setup
  const base = bytes();
  let held!: kiln.Tensor;
  const losses: kiln.Tensor[] = [];
  (() => {
    held = w.mul(w); // the user keeps this one
    const h2 = held.sin().mul(w).tanh(); // three more intermediates only the tape holds
    losses.push(h2.sum()); // the "losses.push(loss)" habit keeps the graph's root
  })();
  const loss = losses[0]!;
  expect(bytes() - base).toBeGreaterThanOrEqual(4 * n * 4);
  loss.backward();
  const gradBytes = n * 4;
  // Released: only `held`, w.grad and the loss (and small scalars) remain. Before, the
  // loss's gradFn reached every intermediate, so about 3 × 400 kB stayed live.
  await collectUntil(() => bytes() - base <= n * 4 + gradBytes + 4096);
  expect(bytes() - base).toBeLessThanOrEqual(n * 4 + gradBytes + 4096);
  expect(held.disposed).toBe(false);
  const w0 = w.dataSync()[0]!;
  expect(held.dataSync()[0]).toBe(Math.fround(w0 * w0)); // float32 product, exact
  expect(loss.gradFn!.released).toBe(true);
});
