// Small image-classification data and a CNN for the training-report tests.
import * as kiln from '../../src/index.js';

const { nn } = kiln;

/** `n` 1×8×8 images of 4 classes: class c lights up quadrant c, plus Gaussian noise (seeded). */
export function quadrantImages(n: number, seed: number): kiln.data.TensorDataset<[kiln.Tensor, kiln.Tensor]> {
  const labels = kiln.randint(0, 4, [n], { seed });
  const y = labels.dataSync();
  const mask = new Float32Array(n * 64);
  for (let i = 0; i < n; i++) {
    const c = y[i]!, r0 = c < 2 ? 0 : 4, c0 = c % 2 ? 4 : 0;
    for (let r = r0; r < r0 + 4; r++) for (let k = c0; k < c0 + 4; k++) mask[i * 64 + r * 8 + k] = 1.5;
  }
  const x = kiln.randn([n, 1, 8, 8], { seed: seed + 1 }).mul(0.5).add(kiln.tensor(mask, { shape: [n, 1, 8, 8] }));
  return new kiln.data.TensorDataset(x, labels);
}

/** Conv2d(1→4, 3×3) · ReLU · MaxPool · Flatten · Linear(64→16) · Tanh · Linear(16→4): layers '0', '4', '6' have parameters; '1' (ReLU) and '5' (Tanh) are activations. */
export function quadrantCnn(): kiln.nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(),
    new nn.Linear(4 * 4 * 4, 16), new nn.Tanh(), new nn.Linear(16, 4),
  );
}
