/**
 * Soak: 5,000 compiled runs, with and without a graph break, whose caller disposes each
 * output without a kiln.scope, keep `kiln.memory()` exactly flat and never grow the wasm
 * heap. The smallest model that showed the leak (a graph break leaked the eager glue's
 * intermediates, about 6 tensors per run). Exact equality: no tolerance.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../../src/index.js';
import { engine } from '../../src/eager/engine.js';
import type { WasmBackend } from '../../src/runtime/wasm/wasmBackend.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
});

class Plain extends nn.Module {
  fc = new nn.Linear(4, 4);
  forward(x: kiln.Tensor): kiln.Tensor {
    return this.fc.forward(x).relu();
  }
}

class Gated extends Plain {
  override forward(x: kiln.Tensor): kiln.Tensor {
    const h = this.fc.forward(x);
    return h.mean().item() > 0 ? h.relu() : h.tanh(); // a graph break
  }
}

describe('5,000 compiled runs keep memory flat', () => {
  for (const [label, Model] of [['one graph', Plain], ['with a graph break', Gated]] as const) {
    it(label, () => {
      const wasm = engine.backends.get('wasm') as unknown as WasmBackend;
      kiln.manualSeed(1);
      const fast = kiln.compile(new Model().eval(), { inputs: [kiln.spec([kiln.dim('batch'), 4])] });
      const xs = [kiln.randn([3, 4], { seed: 2 }).add(2), kiln.randn([3, 4], { seed: 3 }).sub(2)]; // both branches
      let at100: ReturnType<typeof kiln.memory> | null = null;
      let heap = 0;
      for (let i = 1; i <= 5000; i++) {
        (fast.run(xs[i % 2]!) as kiln.Tensor).dispose();
        if (i === 100) {
          at100 = kiln.memory();
          heap = wasm.memory.buffer.byteLength;
        }
      }
      expect(kiln.memory()).toEqual(at100);
      expect(wasm.memory.buffer.byteLength).toBe(heap);
      expect(fast.traceCount).toBe(1);
    });
  }
});
