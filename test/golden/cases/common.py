"""Helpers for golden cases. Inputs are float64 unless a dtype is given."""
import math

import torch

_gen = torch.Generator().manual_seed(1234)


def randn(*shape, scale=1.0, shift=0.0):
    return torch.randn(*shape, generator=_gen, dtype=torch.float64) * scale + shift


def rand(*shape, low=0.0, high=1.0):
    return torch.rand(*shape, generator=_gen, dtype=torch.float64) * (high - low) + low


def randint(low, high, *shape):
    return torch.randint(low, high, shape, generator=_gen, dtype=torch.int64)


def away_from(x, points, margin=0.05):
    """Moves elements within `margin` of any of `points` (kinks) away from them."""
    x = x.clone()
    for p in points:
        near = (x - p).abs() < margin
        x[near] = p + margin * torch.sign(x[near] - p + 1e-12) * 2
    return x


def T(i):
    """Placeholder for input tensor i in an argument list."""
    return {"$t": i}


def case(name, op, inputs, fn, args=None, grad=None, method=False, k=1):
    """A golden case.

    name:   unique case name (also the test name)
    op:     the Kiln function called (kiln[op](...args)); `method=True` calls args[0][op](...rest)
    inputs: list of torch tensors; float ones are differentiable unless `grad` says otherwise
    fn:     torch function of the inputs giving a tensor or a list of tensors
    args:   Kiln argument list, tensors as T(i); default: all inputs in order
    grad:   list of booleans, which inputs get gradients (default: float inputs)
    k:      elements summed per output (reductions, matmul): widens the forward tolerance by sqrt(k)
    """
    if args is None:
        args = [T(i) for i in range(len(inputs))]
    if grad is None:
        grad = [x.is_floating_point() for x in inputs]
    return {"name": name, "op": op, "inputs": inputs, "fn": fn, "args": args, "grad": grad, "method": method, "k": k}


def _dtype(t):
    if t.dtype == torch.bool:
        return "bool"
    if t.is_floating_point():
        return "float32"
    return "int32"


def _enc(t):
    t = t.detach()
    flat = t.reshape(-1)
    if t.dtype == torch.bool:
        data = [1 if v else 0 for v in flat.tolist()]
    else:
        data = [float(v) if t.is_floating_point() else int(v) for v in flat.tolist()]
        data = [None if isinstance(v, float) and not math.isfinite(v) else v for v in data]
    return {"shape": list(t.shape), "dtype": _dtype(t), "data": data}


def run_case(c):
    # Round float inputs to float32 first: Kiln runs on exactly these values.
    inputs = [(x.float().double() if x.is_floating_point() else x).detach().clone().requires_grad_(g) for x, g in zip(c["inputs"], c["grad"])]
    out = c["fn"](*inputs)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    rec = {
        "name": c["name"],
        "op": c["op"],
        "method": c["method"],
        "k": c["k"],
        "args": c["args"],
        "inputs": [dict(_enc(x), grad=g) for x, g in zip(inputs, c["grad"])],
        "outputs": [_enc(o) for o in outs],
    }
    diff = [o for o in outs if o.is_floating_point() and o.requires_grad]
    if not diff:
        for i in rec["inputs"]:
            i["grad"] = False
    else:
        ws = [torch.randn(o.shape, generator=_gen, dtype=torch.float64) for o in diff]
        loss = sum((o * w).sum() for o, w in zip(diff, ws))
        xs = [x for x, g in zip(inputs, c["grad"]) if g]
        gs = torch.autograd.grad(loss, xs, allow_unused=True)
        rec["w"] = [_enc(w) for w in ws]
        rec["grads"] = [_enc(g if g is not None else torch.zeros_like(x)) for g, x in zip(gs, xs)]
    return rec
