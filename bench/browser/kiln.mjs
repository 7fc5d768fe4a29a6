import * as kiln from 'kiln';
import { HIDDEN, IN, OUT, fail, mlp, report } from './mlp.mjs';

async function main() {
  await kiln.init();
  const initMs = performance.now();
  const { w1, b1, w2, b2, x } = mlp();
  const h = kiln.tensor(x, { shape: [1, IN] }).matmul(kiln.tensor(w1, { shape: [IN, HIDDEN] })).add(kiln.tensor(b1)).relu();
  const y = h.matmul(kiln.tensor(w2, { shape: [HIDDEN, OUT] })).add(kiln.tensor(b2));
  report(await y.data(), initMs);
}
main().catch(fail);
