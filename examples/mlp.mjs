// An MLP on the same data as the CNN demo, trained with a hand-written loop instead of
// kiln.fit: a classic recipe of Glorot/Xavier-uniform weights, zero biases, SGD with
// Nesterov momentum, L2 weight decay and halving the learning rate when validation
// loss stops improving, with early stopping that restores the best weights.
// Run: node examples/mlp.mjs   (KILN_EPOCHS, default 10)
import * as kiln from 'kiln';

await kiln.init();
kiln.manualSeed(0);
const ds = kiln.data.loadDataset('fashion-mnist');
console.log(ds.description);

const flat = (x) => x.reshape(x.shape[0], -1);
const scaler = new kiln.data.Standardizer().fit(flat(ds.train.images));
const trainX = scaler.transform(flat(ds.train.images));
const testX = scaler.transform(flat(ds.test.images));
const [fitIdx, valIdx] = kiln.data.stratifiedSplit(ds.train.labels, [0.9, 0.1], { seed: 0 });
const all = new kiln.data.TensorDataset(trainX, ds.train.labels);
const trainLoader = new kiln.data.DataLoader(new kiln.data.Subset(all, fitIdx), { batchSize: 128, shuffle: true, seed: 0 });
const valLoader = new kiln.data.DataLoader(new kiln.data.Subset(all, valIdx), { batchSize: 1000 });

const { nn } = kiln;
const scheme = { init: 'glorotUniform', bias: 'zeros' };
const model = new nn.Sequential(
  new nn.Linear(784, 256, scheme), new nn.ReLU(), new nn.Dropout(0.2),
  new nn.Linear(256, 128, scheme), new nn.ReLU(),
  new nn.Linear(128, 10, scheme),
);
const opt = new kiln.optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
const plateau = new kiln.optim.ReduceLROnPlateau(opt, { factor: 0.5, patience: 1 });
const stopper = new kiln.optim.EarlyStopping({ patience: 3 });
const lossFn = (p, y) => nn.crossEntropy(p, y);

const epochs = Number(process.env.KILN_EPOCHS ?? 10);
for (let epoch = 1; epoch <= epochs; epoch++) {
  const t0 = performance.now();
  model.train();
  let sum = 0, n = 0;
  for (const [x, y] of trainLoader) {
    kiln.scope(() => {
      opt.zeroGrad();
      const loss = lossFn(model.forward(x), y);
      loss.backward();
      kiln.optim.clipGradNorm(model.parameters(), 5);
      opt.step();
      sum += loss.item() * x.shape[0];
      n += x.shape[0];
    });
    x.dispose();
    y.dispose();
  }
  const val = kiln.evaluate(model, valLoader, lossFn);
  plateau.step(val.loss);
  console.log(`epoch ${epoch}  train loss ${(sum / n).toFixed(4)}  val loss ${val.loss.toFixed(4)}  val acc ${(100 * val.accuracy).toFixed(2)}%  lr ${opt.paramGroups[0].lr}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  if (stopper.step(val.loss, model)) {
    console.log(`early stop: best val loss ${stopper.best.toFixed(4)}, weights restored`);
    break;
  }
}
const test = kiln.evaluate(model, new kiln.data.DataLoader(new kiln.data.TensorDataset(testX, ds.test.labels), { batchSize: 1000 }), lossFn);
console.log(`test accuracy ${(100 * test.accuracy).toFixed(2)}%`);
