// The README's eager example: tensors, autograd, a few steps of gradient descent.
// Run with `npm run demo` (after `npm install`, which builds dist/).
import * as kiln from 'kiln';

await kiln.init(); // wasm backend (XNNPACK SIMD kernels)

const x = kiln.tensor([[1, 2], [3, 4]]);
const w = kiln.randn([2, 3], { seed: 0, requiresGrad: true });
const loss = x.matmul(w).relu().sum();
loss.backward();
console.log('loss =', loss.item());
console.log('dloss/dw =', w.grad.toString());

// Higher-order: d²/dx² of x³ at x = 2 is 12.
const f = (t) => t.pow(3).sum();
const d2f = kiln.grad((t) => kiln.grad(f)(t)[0].sum());
console.log('d²(x³)/dx² at 2 =', d2f(kiln.tensor([2]))[0].item());

// Fit y = 3x − 1 by gradient descent; kiln.scope frees each step's intermediates.
const xs = kiln.linspace(-1, 1, 64).reshape(64, 1);
const ys = xs.mul(3).sub(1);
const a = kiln.zeros([1], { requiresGrad: true });
const b = kiln.zeros([1], { requiresGrad: true });
for (let step = 0; step <= 200; step++) {
  const mse = kiln.scope(() => {
    a.zeroGrad();
    b.zeroGrad();
    const loss = xs.mul(a).add(b).sub(ys).square().mean();
    loss.backward();
    kiln.noGrad(() => {
      a.sub_(a.grad.mul(0.5));
      b.sub_(b.grad.mul(0.5));
    });
    return loss.item();
  });
  if (step % 50 === 0) console.log(`step ${String(step).padStart(3)}  mse ${mse.toFixed(6)}`);
}
console.log(`fitted a = ${a.item().toFixed(4)}, b = ${b.item().toFixed(4)} (true 3, -1)`);
