// Random search with kiln.search: 12 configurations of a small MLP on the bundled MNIST
// digits (learning rate log-uniform, hidden size a choice, weight decay log-uniform),
// trained for 3 epochs each by `trial` in examples/searchTrial.mjs on 2 worker threads.
// Prints the results table and the best configuration. The same seed gives the same
// configurations and results, whatever the number of workers.
// Run: node examples/search.mjs   (KILN_TRIALS, default 12)
import * as kiln from 'kiln';

const { space } = kiln.search;
const result = await kiln.search.randomSearch({
  space: {
    lr: space.logUniform(1e-4, 3e-1),
    hidden: space.choice([16, 32, 64, 128]),
    weightDecay: space.logUniform(1e-5, 1e-1),
  },
  trial: { module: new URL('./searchTrial.mjs', import.meta.url), export: 'trial' },
  trials: Number(process.env.KILN_TRIALS ?? 12),
  budget: 3, // epochs
  workers: 2,
  seed: 0,
});
console.log(result.table());
const { config, score, extra } = result.best;
console.log(`best: lr ${config.lr.toExponential(2)}, hidden ${config.hidden}, weight decay ${config.weightDecay.toExponential(2)}: val loss ${score.toFixed(4)}, val accuracy ${(100 * extra.accuracy).toFixed(1)}%`);
