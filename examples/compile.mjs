// The README's "Eager and compiled" example: trace a model once, run it at any batch
// size, print the IR, and see a graph break explained.
import * as kiln from 'kiln';

await kiln.init();
const { nn } = kiln;

class Net extends nn.Module {
  fc1 = new nn.Linear(784, 128);
  fc2 = new nn.Linear(128, 10);
  forward(x) {
    return this.fc2.forward(this.fc1.forward(x).relu());
  }
}
const model = new Net().eval();
const fast = kiln.compile(model, { inputs: [kiln.spec([kiln.dim('batch'), 784])] });

fast.run(kiln.randn([32, 784]));              // first call: traces (runs eagerly) and compiles
fast.run(kiln.randn([1, 784]));               // batch 1: the same graph, no retrace
console.log('traces:', fast.traceCount, 'entries:', fast.cacheSize);
console.log(fast.graph.toString());

class Gated extends nn.Module {
  fc = new nn.Linear(4, 4);
  forward(x) {
    const h = this.fc.forward(x);
    if (h.mean().item() > 0) return h.relu(); // reads a value: a graph break
    return h.tanh();
  }
}
const gated = kiln.compile(new Gated().eval(), { inputs: [kiln.spec([kiln.dim('batch'), 4])] });
gated.run(kiln.randn([8, 4]));
gated.run(kiln.randn([8, 4]));
console.log(gated.explain());
