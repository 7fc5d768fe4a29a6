import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init();
});

function close(a: kiln.Tensor | null | undefined, b: kiln.Tensor, tol = 1e-5): void {
  expect(a).toBeTruthy();
  expect(a!.shape).toEqual(b.shape);
  const x = a!.dataSync(), y = b.dataSync();
  for (let i = 0; i < x.length; i++) expect(Math.abs(x[i]! - y[i]!)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(y[i]!)));
}

describe('forward hooks', () => {
  it('pre-hooks and hooks fire in call order with the tensors forward saw, through this.child.forward', () => {
    class Net extends nn.Module {
      fc1 = new nn.Linear(3, 4);
      act = new nn.ReLU();
      fc2 = new nn.Linear(4, 2);
      forward(x: kiln.Tensor): kiln.Tensor {
        return this.fc2.forward(this.act.forward(this.fc1.forward(x)));
      }
    }
    const net = new Net();
    const events: string[] = [];
    const seen = new Map<string, { input: kiln.Tensor; output: kiln.Tensor }>();
    const handles: kiln.nn.HookHandle[] = [];
    for (const [name, m] of [['fc1', net.fc1], ['act', net.act], ['fc2', net.fc2], ['net', net]] as const) {
      handles.push(m.registerForwardPreHook((mod, inputs) => {
        expect(mod).toBe(m);
        events.push(`pre ${name} [${(inputs[0] as kiln.Tensor).shape.join(',')}]`);
      }));
      handles.push(m.registerForwardHook((mod, inputs, output) => {
        events.push(`post ${name}`);
        seen.set(name, { input: inputs[0] as kiln.Tensor, output: output as kiln.Tensor });
      }));
    }
    const x = kiln.randn([5, 3], { seed: 1 });
    const y = net.forward(x);
    expect(events).toEqual([
      'pre net [5,3]', 'pre fc1 [5,3]', 'post fc1', 'pre act [5,4]', 'post act', 'pre fc2 [5,4]', 'post fc2', 'post net',
    ]);
    expect(seen.get('net')!.input).toBe(x);
    expect(seen.get('net')!.output).toBe(y);
    expect(seen.get('fc1')!.input).toBe(x);
    expect(seen.get('act')!.input).toBe(seen.get('fc1')!.output); // the tensor fc1 returned is what act got
    expect(seen.get('fc2')!.output).toBe(y);
    // The hooked values are the real ones.
    close(seen.get('fc1')!.output, x.matmul(net.fc1.weight.transpose()).add(net.fc1.bias!));

    for (const h of handles) h.remove();
    events.length = 0;
    net.forward(x);
    expect(events).toEqual([]);
    // The wrapper is gone: forward is the prototype's again, and nothing shows up as state.
    expect(Object.getOwnPropertyDescriptor(net.fc1, 'forward')).toBeUndefined();
    expect(net.fc1.forward).toBe(nn.Linear.prototype.forward);
    expect(nn.hasHooks(net.fc1)).toBe(false);
  });

  it('remove() removes only its own hook; removing twice is harmless; hooks can replace inputs and outputs', () => {
    const fc = new nn.Linear(2, 2, { bias: false });
    kiln.noGrad(() => fc.weight.copy_(kiln.eye(2)));
    const calls: string[] = [];
    const a = fc.registerForwardHook(() => void calls.push('a'));
    const b = fc.registerForwardHook(() => void calls.push('b'));
    fc.forward(kiln.ones([1, 2]));
    expect(calls).toEqual(['a', 'b']);
    a.remove();
    a.remove();
    calls.length = 0;
    fc.forward(kiln.ones([1, 2]));
    expect(calls).toEqual(['b']);
    expect(nn.hasHooks(fc)).toBe(true);
    b.remove();
    expect(nn.hasHooks(fc)).toBe(false);

    const pre = fc.registerForwardPreHook((_m, [x]) => [(x as kiln.Tensor).mul(3)]);
    const post = fc.registerForwardHook((_m, _i, y) => (y as kiln.Tensor).add(1));
    expect(fc.forward(kiln.ones([1, 2])).toArray()).toEqual([[4, 4]]); // (1·3)·I + 1
    pre.remove();
    post.remove();
    expect(fc.forward(kiln.ones([1, 2])).toArray()).toEqual([[1, 1]]);
  });

  it('hooks are not state: parameters, children and stateDict are unchanged', () => {
    const model = new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU());
    const before = model.namedParameters().map(([n]) => n);
    const h = model.at(0).registerForwardHook(() => undefined);
    expect(model.namedParameters().map(([n]) => n)).toEqual(before);
    expect([...model.at(0).namedChildren()]).toEqual([]);
    expect([...model.stateDict().keys()]).toEqual(['0.weight', '0.bias']);
    h.remove();
  });

  it('a forward hook runs while kiln.compile traces, and not on compiled runs', () => {
    const model = new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU()).eval();
    let calls = 0;
    const h = model.at(0).registerForwardHook(() => void calls++);
    const fast = kiln.compile(model, { inputs: [kiln.spec([2, 4])] });
    const x = kiln.randn([2, 4], { seed: 3 });
    const first = fast.run(x) as kiln.Tensor;
    const traced = calls;
    expect(traced).toBeGreaterThanOrEqual(1);
    const again = fast.run(x) as kiln.Tensor;
    expect(calls).toBe(traced); // the compiled graph calls no JavaScript hook
    close(again, first);
    h.remove();
  });

  it('tracing with gradients on (mode training) raises for a backward hook; inference compiles (no backward to hook)', () => {
    const model = new nn.Linear(4, 3);
    let calls = 0;
    const h = model.registerFullBackwardHook(() => void calls++);
    const training = kiln.compile(model, { inputs: [kiln.spec([2, 4])], mode: 'training' });
    expect(() => training.run(kiln.randn([2, 4]))).toThrow(/backward hook.*Remove it/);
    const inference = kiln.compile(model, { inputs: [kiln.spec([2, 4])] });
    expect((inference.run(kiln.randn([2, 4])) as kiln.Tensor).shape).toEqual([2, 3]);
    h.remove();
    const y = kiln.compile(model, { inputs: [kiln.spec([2, 4])], mode: 'training' }).run(kiln.randn([2, 4])) as kiln.Tensor;
    y.sum().backward();
    expect(model.weight.grad!.shape).toEqual([3, 4]);
    expect(calls).toBe(0);
  });
});

describe('full backward hooks', () => {
  it('receive the gradients autograd computes, w.r.t. the inputs and the outputs', () => {
    const fc = new nn.Linear(3, 2);
    const x = kiln.randn([4, 3], { seed: 5, requiresGrad: true });
    let got: { gi: readonly (kiln.Tensor | null)[]; go: readonly (kiln.Tensor | null)[] } | null = null;
    let count = 0;
    const h = fc.registerFullBackwardHook((m, gi, go) => {
      expect(m).toBe(fc);
      count++;
      got = { gi: gi.map((g) => g && g.clone().keep()), go: go.map((g) => g && g.clone().keep()) };
    });
    const y = fc.forward(x);
    const loss = y.square().sum(); // dL/dy = 2y; dL/dx = 2y·W
    loss.backward();
    expect(count).toBe(1);
    const gy = y.detach().mul(2);
    close(got!.go[0], gy);
    close(got!.gi[0], gy.matmul(fc.weight.detach()));
    close(got!.gi[0], x.grad!); // the same tensor autograd accumulated into x.grad
    // Parameter gradients are untouched by the identities on the way.
    close(fc.weight.grad!, gy.transpose().matmul(x.detach()));
    h.remove();
  });

  it('fire from the last layer to the first; the first layer (input without grad) gets gradInputs [null]', () => {
    const model = new nn.Sequential(new nn.Linear(3, 4), new nn.Tanh(), new nn.Linear(4, 1));
    const order: string[] = [];
    const outGrads = new Map<string, kiln.Tensor>();
    const inGrads = new Map<string, kiln.Tensor | null>();
    const handles = [0, 1, 2].map((i) => model.at(i).registerFullBackwardHook((_m, gi, go) => {
      order.push(String(i));
      outGrads.set(String(i), go[0]!.clone().keep());
      inGrads.set(String(i), gi[0] ? gi[0].clone().keep() : null);
    }));
    const x = kiln.randn([5, 3], { seed: 6 }); // data: no grad
    model.forward(x).sum().backward();
    expect(order).toEqual(['2', '1', '0']);
    expect(inGrads.get('0')).toBeNull();
    // Chain: what flows into a layer's input is what the previous layer's output receives.
    close(inGrads.get('2')!, outGrads.get('1')!);
    close(inGrads.get('1')!, outGrads.get('0')!);
    // Tanh's gradient rule: go·(1 − tanh²).
    const h1 = kiln.noGrad(() => nn.callForward(model.at(1), nn.callForward(model.at(0), x) as kiln.Tensor) as kiln.Tensor);
    close(inGrads.get('1')!, outGrads.get('1')!.mul(kiln.ones(h1.shape).sub(h1.square())));
    for (const h of handles) h.remove();
  });

  it('see every output of a recurrent layer (nested results) and fire once per backward, also with a retained graph', () => {
    const lstm = new nn.LSTM(2, 3, { batchFirst: true });
    let calls = 0;
    let nOut = -1;
    const h = lstm.registerFullBackwardHook((_m, gi, go) => {
      calls++;
      nOut = go.length;
      expect(gi[0]!.shape).toEqual([2, 4, 2]);
      expect(go[0]!.shape).toEqual([2, 4, 3]);
    });
    const x = kiln.randn([2, 4, 2], { seed: 7, requiresGrad: true });
    const [out] = lstm.forward(x);
    const loss = out.sum();
    loss.backward(undefined, { retainGraph: true });
    expect(calls).toBe(1);
    expect(nOut).toBe(3); // output, h, c
    loss.backward();
    expect(calls).toBe(2);
    h.remove();
  });

  it('nothing is recorded under noGrad, and removing the hook restores the plain tape', () => {
    const fc = new nn.Linear(2, 2);
    let calls = 0;
    const h = fc.registerFullBackwardHook(() => void calls++);
    const y = kiln.noGrad(() => fc.forward(kiln.randn([1, 2], { requiresGrad: true })));
    expect(y.requiresGrad).toBe(false);
    h.remove();
    fc.forward(kiln.randn([1, 2], { requiresGrad: true })).sum().backward();
    expect(calls).toBe(0);
  });

  it('self-attention keeps query === key === value (one tensor, one identity)', () => {
    const mha = new nn.MultiheadAttention(4, 2, { batchFirst: true });
    const x = kiln.randn([1, 3, 4], { seed: 8, requiresGrad: true });
    const [plain] = mha.forward(x, x, x);
    let gi: readonly (kiln.Tensor | null)[] = [];
    const h = mha.registerFullBackwardHook((_m, g) => { gi = g.map((t) => t && t.clone().keep()); });
    const [hooked] = mha.forward(x, x, x);
    close(hooked, plain);
    hooked.sum().backward();
    expect(gi.length).toBe(3);
    close(gi[0], x.grad!);
    expect(gi[1]).toBeTruthy();
    h.remove();
  });
});
