// Reservoir computing: a large fixed random network, only a linear readout trained (in
// closed form, by ridge regression).
//  1. An echo-state network predicts the Mackey-Glass series one step ahead; prints the
//     NRMSE on a held-out segment.
//  2. An extreme learning machine classifies the 10k MNIST digits bundled with Kiln
//     (seeded stratified 8k/2k split); prints the test accuracy.
// Run: node examples/reservoir.mjs   (KILN_RESERVOIR_QUICK=1: small sizes, a few seconds)
import * as kiln from 'kiln';

await kiln.init();
const quick = process.env.KILN_RESERVOIR_QUICK === '1';

/**
 * The Mackey-Glass delay equation dx/dt = β·x(t−τ) / (1 + x(t−τ)ⁿ) − γ·x(t) with the
 * standard chaotic parameters τ = 17, β = 0.2, γ = 0.1, n = 10 and x(t) = 1.2 for
 * t ≤ 0, integrated by classical Runge-Kutta (RK4) with step h = 0.1 (τ is exactly 170
 * steps; the delayed value at a half step is the mean of its two grid neighbours),
 * sampled every 1 time unit after dropping the first `skip` samples (the transient).
 */
function mackeyGlass(samples, { tau = 17, beta = 0.2, gamma = 0.1, n = 10, h = 0.1, every = 10, skip = 500, x0 = 1.2 } = {}) {
  const lag = Math.round(tau / h);
  const steps = (samples + skip) * every;
  const x = new Float64Array(lag + steps + 1); // x[lag + k] = x(k·h); before that, the history
  x.fill(x0, 0, lag + 1);
  const f = (xt, xd) => (beta * xd) / (1 + xd ** n) - gamma * xt;
  for (let k = 0; k < steps; k++) {
    const i = lag + k;
    const d0 = x[i - lag], d1 = x[i - lag + 1], dm = 0.5 * (d0 + d1);
    const k1 = f(x[i], d0);
    const k2 = f(x[i] + (h / 2) * k1, dm);
    const k3 = f(x[i] + (h / 2) * k2, dm);
    const k4 = f(x[i] + h * k3, d1);
    x[i + 1] = x[i] + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4);
  }
  const out = new Float64Array(samples);
  for (let s = 0; s < samples; s++) out[s] = x[lag + (skip + s) * every];
  return out;
}

// ---- 1. Echo-state network, Mackey-Glass one step ahead ----------------------------
{
  const [trainLen, testLen, size] = quick ? [600, 300, 100] : [2000, 1000, 400];
  const washout = 100;
  const raw = mackeyGlass(trainLen + testLen + 1);
  // Standardize with the training part's statistics.
  let mean = 0, sq = 0;
  for (let t = 0; t < trainLen; t++) mean += raw[t] / trainLen;
  for (let t = 0; t < trainLen; t++) sq += (raw[t] - mean) ** 2 / trainLen;
  const series = kiln.tensor(Array.from(raw, (v) => (v - mean) / Math.sqrt(sq)), { shape: [raw.length, 1] });
  const inputs = series.slice([0], [trainLen + testLen]); // u(t)
  const targets = series.slice([1], [trainLen + testLen + 1]); // u(t + 1)

  const t0 = performance.now();
  const esn = new kiln.nn.EchoStateNetwork(1, size, 1, { spectralRadius: 0.95, density: 0.1, inputScaling: 0.5, leakRate: 0.5, seed: 42 });
  esn.fit(inputs.slice([0], [trainLen]), targets.slice([0], [trainLen]), { ridge: 1e-7, washout });
  // One run over the whole series: the test steps continue from the training states.
  const pred = esn.predict(inputs).slice([trainLen], [trainLen + testLen]);
  const truth = targets.slice([trainLen], [trainLen + testLen]);
  const nrmse = Math.sqrt(pred.sub(truth).square().mean().item() / truth.variance(null, { unbiased: false }).item());
  console.log(`Mackey-Glass (tau 17) one-step-ahead prediction, ESN with ${size} reservoir units: NRMSE ${nrmse.toPrecision(3)} on ${testLen} held-out steps (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

// ---- 2. Extreme learning machine, MNIST digits --------------------------------------
{
  const [trainLimit, testLimit, hidden] = quick ? [2000, 500, 400] : [Infinity, Infinity, 1000];
  const ds = kiln.data.loadDataset('mnist');
  const take = (x, n) => (n >= x.shape[0] ? x : x.slice([0], [n]));
  // The stratified split is shuffled, so leading slices keep every class.
  const flat = (x) => x.reshape(x.shape[0], -1);
  const trainX = take(flat(ds.train.images), trainLimit), trainY = take(ds.train.labels, trainLimit);
  const testX = take(flat(ds.test.images), testLimit), testY = take(ds.test.labels, testLimit);
  const scaler = new kiln.data.Standardizer().fit(trainX);

  const t0 = performance.now();
  const elm = new kiln.nn.ExtremeLearningMachine(784, hidden, 10, { activation: 'relu', seed: 0 });
  elm.fit(scaler.transform(trainX), trainY, { ridge: 10 });
  const correct = elm.predict(scaler.transform(testX)).argmax(1).equal(testY).cast('float32').sum().item();
  const accuracy = correct / testY.shape[0];
  console.log(`MNIST digits, ELM with ${hidden} hidden units: test accuracy ${(100 * accuracy).toFixed(2)}% (${trainX.shape[0]} train / ${testY.shape[0]} test, ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
