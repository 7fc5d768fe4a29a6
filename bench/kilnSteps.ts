/**
 * Kiln's benchmark workloads, by name, so a worker thread (`kilnWorker.ts`) can build the
 * same step as the main process: each returns one training step (or op) to time.
 */
import * as kiln from '../src/index.js';

export type KilnStep = () => void;

/** One Adam training step (forward, cross-entropy, backward, update) of `model` on a fixed seeded batch. */
function adamStep(model: kiln.nn.Sequential, xShape: number[]): KilnStep {
  const { nn } = kiln;
  const opt = new kiln.optim.Adam(model.parameters(), { lr: 1e-3 });
  const x = kiln.rand(xShape, { seed: 1 }).keep();
  const y = kiln.randint(0, 10, [xShape[0]!], { seed: 2 }).keep();
  return () =>
    kiln.scope(() => {
      opt.zeroGrad();
      nn.crossEntropy(model.forward(x), y).backward();
      opt.step();
    });
}

/** MLP 784-512-512-10, batch 128: forward + backward + Adam. */
export function kilnMlp(): KilnStep {
  const { nn } = kiln;
  return adamStep(new nn.Sequential(new nn.Linear(784, 512), new nn.ReLU(), new nn.Linear(512, 512), new nn.ReLU(), new nn.Linear(512, 10)), [128, 784]);
}

/** CNN conv3×3×32-relu-pool2-conv3×3×64-relu-pool2-dense10, batch 32: forward + backward + Adam. */
export function kilnCnn(): KilnStep {
  const { nn } = kiln;
  return adamStep(new nn.Sequential(
    new nn.Conv2d(1, 32, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(64 * 5 * 5, 10),
  ), [32, 1, 28, 28]);
}

/** Eager matmul 512³. */
export function kilnMatmul512(): KilnStep {
  const a = kiln.randn([512, 512], { seed: 1 }).keep(), b = kiln.randn([512, 512], { seed: 2 }).keep();
  return () => a.matmul(b).dispose();
}

export const KILN_STEPS = { mlp: kilnMlp, cnn: kilnCnn, matmul512: kilnMatmul512 } as const;
export type KilnStepName = keyof typeof KILN_STEPS;
