// What the browser example runs, and what the Chromium test compares with Node: eager
// autograd (a second derivative too), a small classifier trained by `kiln.fit` with Adam,
// `kiln.compile` with a symbolic batch, a checkpoint saved to bytes and loaded into a
// fresh model, and an LSTM. Every number comes back in a plain object, so a page and Node can be
// compared exactly. `kiln` is passed in: the page hands in its bundle, Node the sources.

/** Runs the scenario on the default backend; `log` receives progress lines. */
export async function runScenario(kiln, log = () => {}) {
  const { nn } = kiln;
  const out = { backend: kiln.getDefaultBackend() };
  kiln.manualSeed(0);

  // 1. Eager autograd.
  const x = kiln.tensor([[1, 2], [3, 4]]);
  const w = kiln.randn([2, 3], { seed: 0, requiresGrad: true });
  const loss = x.matmul(w).relu().sum();
  loss.backward();
  const d2 = kiln.grad((t) => kiln.grad((u) => u.pow(3).sum())(t)[0].sum());
  out.autograd = { loss: loss.item(), grad: Array.from(w.grad.dataSync()), d2: d2(kiln.tensor([2]))[0].item() };
  log(`autograd: loss ${out.autograd.loss.toFixed(4)}, d²(x³)/dx² at 2 = ${out.autograd.d2}`);

  // 2. A 4 → 16 → 4 classifier, trained with Adam by kiln.fit on 48 seeded points.
  const points = kiln.randn([48, 4], { seed: 1 });
  const labels = points.argmax(1); // the class is the largest coordinate
  const model = new nn.Sequential(new nn.Linear(4, 16), new nn.ReLU(), new nn.Linear(16, 4));
  const batchLosses = [];
  const history = await kiln.fit(model, {
    optimizer: new kiln.optim.Adam(model.parameters(), { lr: 0.05 }),
    loss: (logits, y) => nn.crossEntropy(logits, y),
    train: new kiln.data.DataLoader(new kiln.data.TensorDataset(points, labels), { batchSize: 16, shuffle: true, seed: 0 }),
    epochs: 3,
    onBatchEnd: ({ loss: l }) => void batchLosses.push(l),
    log,
  });
  out.training = { batchLosses, epochLosses: history.map((r) => r.trainLoss), accuracy: history.map((r) => r.trainAccuracy) };

  // 3. Compiled with a symbolic batch: one trace serves batch 5 and batch 2.
  model.eval();
  const fast = kiln.compile(model, { inputs: [kiln.spec([kiln.dim('batch'), 4])] });
  const probe = kiln.randn([5, 4], { seed: 2 });
  const y5 = fast.run(probe);
  const y2 = fast.run(kiln.randn([2, 4], { seed: 3 }));
  const eager = model.forward(probe);
  out.compiled = {
    batch5: Array.from(y5.dataSync()),
    batch2: Array.from(y2.dataSync()),
    eager: Array.from(eager.dataSync()),
    traceCount: fast.traceCount,
    cacheSize: fast.cacheSize,
    graph: fast.graph.toString().replace(/ +# .*$/gm, ''), // without source locations (they name files)
  };
  log(`compiled: ${fast.traceCount} trace for batch 5 and batch 2`);

  // 4. A checkpoint as bytes, loaded into a fresh model.
  const bytes = await kiln.save(model, { metadata: { epochs: history.length } });
  kiln.manualSeed(123);
  const fresh = new nn.Sequential(new nn.Linear(4, 16), new nn.ReLU(), new nn.Linear(16, 4)).eval();
  const metadata = await kiln.load(fresh, bytes);
  out.checkpoint = { bytes: Array.from(bytes), metadata, restored: Array.from(fresh.forward(probe).dataSync()) };
  log(`checkpoint: ${bytes.length} bytes, reloaded into a fresh model`);

  // 5. An LSTM over 6 steps at batch 8: on 2 threads its rows are split over Kiln's kernel
  // threads (a worker that starts in the background: the second call, after a pause, runs there).
  const lstm = new nn.LSTM(5, 12).eval();
  const seq = kiln.randn([6, 8, 5], { seed: 4 });
  const first = Array.from(lstm.forward(seq)[0].dataSync());
  await new Promise((resolve) => setTimeout(resolve, 200));
  out.lstm = { first, later: Array.from(lstm.forward(seq)[0].dataSync()) };
  log('lstm: 6 steps at batch 8, twice');
  return out;
}
