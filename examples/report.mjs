// Trains a small CNN on a subset of the bundled MNIST digits for 2 epochs and writes an
// HTML training report (report.html: curves, learning rate, gradient norms, activation
// histograms and dead units, first-layer filters, confusion matrix) and report.png (the
// curves) in the current folder. Environment: KILN_REPORT_TRAIN (training samples,
// default 2000), KILN_REPORT_VAL (validation samples, default 500), KILN_EPOCHS (default 2),
// KILN_REPORT (the HTML path, default report.html).
import * as kiln from 'kiln';

await kiln.init();
kiln.manualSeed(0);
const { nn } = kiln;

const ds = kiln.data.loadDataset('mnist');
const nTrain = Number(process.env.KILN_REPORT_TRAIN ?? 2000);
const nVal = Number(process.env.KILN_REPORT_VAL ?? 500);
const [trainIdx] = kiln.data.stratifiedSplit(ds.train.labels, [nTrain / ds.train.labels.shape[0], 1 - nTrain / ds.train.labels.shape[0]], { seed: 0 });
const [valIdx] = kiln.data.stratifiedSplit(ds.test.labels, [nVal / ds.test.labels.shape[0], 1 - nVal / ds.test.labels.shape[0]], { seed: 0 });
const scaler = new kiln.data.Standardizer({ perChannel: true }).fit(ds.train.images);
const train = new kiln.data.Subset(new kiln.data.TensorDataset(scaler.transform(ds.train.images), ds.train.labels), trainIdx);
const val = new kiln.data.Subset(new kiln.data.TensorDataset(scaler.transform(ds.test.images), ds.test.labels), valIdx);

const model = new nn.Sequential(
  new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Conv2d(8, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Flatten(), new nn.Linear(16 * 7 * 7, 64), new nn.ReLU(), new nn.Linear(64, 10),
);
const optimizer = new kiln.optim.Adam(model.parameters(), { lr: 2e-3 });
const schedule = new kiln.optim.StepLR(optimizer, { stepSize: 1, gamma: 0.5 }); // halves the lr every epoch
const path = process.env.KILN_REPORT ?? 'report.html';

const history = await kiln.fit(model, {
  optimizer,
  loss: (logits, y) => nn.crossEntropy(logits, y),
  train: new kiln.data.DataLoader(train, { batchSize: 32, shuffle: true, seed: 0 }),
  val: new kiln.data.DataLoader(val, { batchSize: 250 }),
  epochs: Number(process.env.KILN_EPOCHS ?? 2),
  metrics: ['accuracy', 'f1', 'confusion'],
  onEpochEnd: () => void schedule.step(),
  report: { path, title: `Small CNN on ${nTrain} MNIST digits`, classNames: ds.classNames },
});
const last = history.at(-1);
console.log(`val accuracy ${(100 * last.valAccuracy).toFixed(2)}%, macro F1 ${last.valMetrics.f1.toFixed(4)}`);
console.log(`wrote ${path} and ${path.replace(/\.html?$/i, '')}.png`);
