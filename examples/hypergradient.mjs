// Tuning the learning rate by gradient descent on the validation loss (hypergradients).
// With a tensor learning rate, an optimizer's steps are out of place and recorded on the
// tape, so the validation loss after K unrolled training steps is an ordinary function
// of lr and kiln.valueAndGrad gives d(val loss)/d(lr). An outer Adam step on log(lr)
// then moves lr; every outer step restarts training from the same initial weights.
// Run: node examples/hypergradient.mjs   (KILN_OUTER outer steps, default 12; KILN_UNROLL
// inner steps, default 15)
import * as kiln from 'kiln';

await kiln.init();
const { nn } = kiln;
const outerSteps = Number(process.env.KILN_OUTER ?? 12);
const K = Number(process.env.KILN_UNROLL ?? 15);

// A small regression: y = tanh(x·a/2) + noise, 64 training and 64 validation points.
const a = kiln.tensor([[1.5], [-2], [0.5], [1]]);
const makeSplit = (seed) => {
  const x = kiln.randn([64, 4], { seed });
  const y = x.matmul(a).mul(0.5).tanh().add(kiln.randn([64, 1], { seed: seed + 100 }).mul(0.05));
  return [x, y];
};
const [xTrain, yTrain] = makeSplit(1);
const [xVal, yVal] = makeSplit(2);

// The same initial weights for every outer step.
const makeModel = () => {
  kiln.manualSeed(0);
  return new nn.Sequential(new nn.Linear(4, 32), new nn.Tanh(), new nn.Linear(32, 1));
};

/** Validation loss after K steps of SGD (momentum 0.5) at learning rate `lr` (a tensor). */
const valLossAfterTraining = (lr) => {
  const model = makeModel();
  const opt = new kiln.optim.SGD(model.parameters(), { lr, momentum: 0.5 });
  for (let k = 0; k < K; k++) {
    // createGraph: the gradients themselves depend on lr through the earlier steps
    nn.mseLoss(model.forward(xTrain), yTrain).backward(undefined, { createGraph: true });
    opt.step(); // rebinds model's parameters to new tensors on the tape
    opt.zeroGrad();
  }
  return nn.mseLoss(model.forward(xVal), yVal);
};

// The hyperparameter: log(lr), so lr stays positive; an Adam step per outer iteration.
const logLr = kiln.tensor(Math.log(0.001), { requiresGrad: true });
const hyperOpt = new kiln.optim.Adam([logLr], { lr: 0.3 });
const hyper = kiln.valueAndGrad((l) => valLossAfterTraining(l.exp()));

console.log(`SGD (momentum 0.5), ${K} unrolled steps per outer step`);
let first, last;
for (let step = 0; step <= outerSteps; step++) {
  const lr = Math.exp(logLr.item());
  const [val, grad] = kiln.scope(() => {
    // A detached copy: the inner backward passes then leave logLr.grad alone.
    const [v, [g]] = hyper(logLr.detach());
    return [v.item(), g.item()];
  });
  console.log(`outer ${String(step).padStart(2)}  lr ${lr.toFixed(4)}  val loss ${val.toFixed(4)}  d(val)/d(log lr) ${grad.toExponential(2)}`);
  first ??= { lr, val };
  last = { lr, val };
  if (step === outerSteps) break;
  logLr.grad = kiln.tensor(grad);
  hyperOpt.step();
  hyperOpt.zeroGrad();
}
console.log(`lr ${first.lr.toFixed(4)} → ${last.lr.toFixed(4)}: val loss ${first.val.toFixed(4)} → ${last.val.toFixed(4)}`);
