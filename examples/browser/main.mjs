// The browser example's page script: runs `scenario.mjs` with Kiln in the page and shows
// what happened. Query parameters: ?threads=2 (needs the isolated URL, see serve.mjs),
// ?backend=reference (no wasm at all), ?wasmPath=/somewhere/ (where the .wasm files are).
import * as kiln from 'kiln';
import { runScenario } from './scenario.mjs';

const params = new URLSearchParams(location.search);
const logElement = document.querySelector('#log');
const log = (line) => {
  logElement.textContent += `${line}\n`;
};

async function main() {
  const t0 = performance.now();
  const backend = params.get('backend') ?? 'wasm';
  const threads = params.has('threads') ? Number(params.get('threads')) : undefined;
  const wasmPath = params.get('wasmPath') ?? undefined;
  await kiln.init({ backend, ...(threads ? { threads } : {}), ...(wasmPath ? { wasmPath } : {}) });
  const initMs = performance.now() - t0;
  log(`Kiln ready on '${kiln.getDefaultBackend()}' in ${initMs.toFixed(0)} ms ` +
    `(cross-origin isolated: ${globalThis.crossOriginIsolated}, wasm threads: ${kiln.wasmThreads() ?? 'not loaded'})`);
  const result = await runScenario(kiln, log);
  showPredictions(result);
  const wasmFiles = performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.endsWith('.wasm'));
  window.kilnResult = { ok: true, result, page: { crossOriginIsolated: globalThis.crossOriginIsolated, threads: kiln.wasmThreads(), wasmFiles, initMs, ms: performance.now() - t0 } };
}

/** A table of the compiled model's outputs for the probe batch, and the class each picks. */
function showPredictions(result) {
  const rows = [];
  const { batch5 } = result.compiled;
  for (let i = 0; i < 5; i++) {
    const logits = batch5.slice(4 * i, 4 * i + 4);
    rows.push(`<tr><td>${i}</td>${logits.map((v) => `<td>${v.toFixed(3)}</td>`).join('')}<td>${logits.indexOf(Math.max(...logits))}</td></tr>`);
  }
  document.querySelector('#result').innerHTML =
    '<table><tr><th>sample</th><th>class 0</th><th>class 1</th><th>class 2</th><th>class 3</th><th>predicted</th></tr>' +
    `${rows.join('')}</table><pre>${result.compiled.graph}</pre>`;
}

main().catch((e) => {
  window.kilnResult = { ok: false, error: { name: e?.name, message: e?.message ?? String(e) } };
  log(`${e?.name ?? 'Error'}: ${e?.message ?? e}`);
});
