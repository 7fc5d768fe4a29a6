// The model every page of the browser bench runs: a 784 → 128 → 10 MLP (ReLU) with
// weights from a formula (no files to fetch, the same in each page) on one input.
export const IN = 784, HIDDEN = 128, OUT = 10;

/** Weights `[in, out]` row-major, biases, and the input `[1, 784]`. */
export function mlp() {
  const fill = (n, f) => Float32Array.from({ length: n }, (_, i) => f(i));
  return {
    w1: fill(IN * HIDDEN, (i) => Math.sin(i * 0.37) * 0.05),
    b1: fill(HIDDEN, (i) => Math.cos(i) * 0.01),
    w2: fill(HIDDEN * OUT, (i) => Math.sin(i * 0.11 + 1) * 0.1),
    b2: fill(OUT, (i) => Math.cos(i * 3) * 0.01),
    x: fill(IN, (i) => (i % 17) / 17),
  };
}

/** Reports the first result: the page's time since navigation start, and the logits. */
export function report(logits, initMs) {
  window.benchResult = { coldStartMs: performance.now(), initMs, logits: Array.from(logits) };
  document.body.textContent = JSON.stringify(window.benchResult);
}

export function fail(e) {
  window.benchResult = { error: String(e?.message ?? e) };
}
