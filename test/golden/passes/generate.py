#!/usr/bin/python3
"""Golden values for BN folding: eval-mode Conv2d→BatchNorm2d, ConvTranspose2d→BatchNorm2d
and Linear→BatchNorm1d computed by PyTorch, unfused, in float64 (so the reference
carries no float32 rounding of its own).

Run with Debian's torch:  /usr/bin/python3 test/golden/passes/generate.py
Writes test/golden/passes/bn_folding.json. CI never runs this: the JSON is committed.
Parameters and inputs are float32-representable (drawn in float32, then widened), so
Kiln's float32 model holds exactly the same numbers.
"""
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
gen = torch.Generator().manual_seed(2024)


def randn(*shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float32).double()


def stats(bn, c, gamma=None):
    with torch.no_grad():
        bn.running_mean.copy_(randn(c))
        bn.running_var.copy_((torch.rand(c, generator=gen, dtype=torch.float32) + 0.05).double())
        if bn.affine:
            bn.weight.copy_(torch.tensor(gamma, dtype=torch.float64) if gamma is not None else randn(c))
            bn.bias.copy_(randn(c))


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def params(model):
    return {name: {"shape": list(p.shape), "data": flat(p)} for name, p in model.state_dict().items() if p.dtype.is_floating_point}


def case(name, model, x):
    model = model.double().eval()
    with torch.no_grad():
        y = model(x)
    return {"name": name, "state": params(model), "input": {"shape": list(x.shape), "data": flat(x)}, "output": {"shape": list(y.shape), "data": flat(y)}}


def main():
    cases = []
    # Conv with bias, γ with a negative and a zero entry, default eps.
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4))
    with torch.no_grad():
        for p in m[0].parameters():
            p.copy_(randn(*p.shape))
    stats(m[1], 4, [1.5, -0.75, 0.0, 2.0])
    cases.append(case("conv2d+bn2d", m, randn(2, 3, 5, 5)))
    # Conv without bias, eps 1e-3, strided.
    m = torch.nn.Sequential(torch.nn.Conv2d(2, 5, 3, stride=2, bias=False), torch.nn.BatchNorm2d(5, eps=1e-3))
    with torch.no_grad():
        m[0].weight.copy_(randn(*m[0].weight.shape))
    stats(m[1], 5)
    cases.append(case("conv2d(no bias, stride 2)+bn2d(eps 1e-3)", m, randn(3, 2, 7, 7)))
    # Transposed conv.
    m = torch.nn.Sequential(torch.nn.ConvTranspose2d(3, 2, 3, stride=2), torch.nn.BatchNorm2d(2, eps=0.1))
    with torch.no_grad():
        for p in m[0].parameters():
            p.copy_(randn(*p.shape))
    stats(m[1], 2, [-1.0, 0.5])
    cases.append(case("convTranspose2d+bn2d(eps 0.1)", m, randn(2, 3, 4, 4)))
    # Linear → BatchNorm1d, with and without affine.
    m = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.BatchNorm1d(4))
    with torch.no_grad():
        for p in m[0].parameters():
            p.copy_(randn(*p.shape))
    stats(m[1], 4, [0.0, -2.0, 1.0, 0.25])
    cases.append(case("linear+bn1d", m, randn(5, 6)))
    m = torch.nn.Sequential(torch.nn.Linear(6, 3, bias=False), torch.nn.BatchNorm1d(3, affine=False))
    with torch.no_grad():
        m[0].weight.copy_(randn(*m[0].weight.shape))
    stats(m[1], 3)
    cases.append(case("linear(no bias)+bn1d(no affine)", m, randn(4, 6)))
    with open(os.path.join(HERE, "bn_folding.json"), "w") as f:
        json.dump({"generator": "test/golden/passes/generate.py", "torch": torch.__version__, "cases": cases}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
