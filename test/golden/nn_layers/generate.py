#!/usr/bin/python3
"""Golden values for Kiln's nn layers, computed by PyTorch in float64.

Run with Debian's torch:  /usr/bin/python3 test/golden/nn_layers/generate.py
Writes test/golden/nn_layers/layers.json (committed; CI never runs Python), read by
test/nn.layers.golden.test.ts.

A case names the Kiln layer to build (`kiln`: {"layer", "args"}; an argument that is
itself {"layer", "args"} is a nested module, for Sequential), the PyTorch module doing
the same thing, its state (parameters and buffers, float32-representable, names in
Kiln's camelCase) that the test loads with `loadStateDict`, and a list of steps. Each
step runs the layer in train or eval mode on a fresh input, records the output, and
backpropagates the scalar loss sum(output * w): the gradient w.r.t. the input and every
parameter, then the state after the step (BatchNorm's running statistics).

Tolerances (test side): forward ≤ 1e-5·√k·max(1, |ref|), gradients ≤ 1e-4·√kGrad·max(1, |ref|),
with k (kGrad) the number of elements summed per output (per gradient element).
"""
import json
import math
import os
import re

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


def f32(t):
    """float64 holding float32-representable values (both sides then see the same numbers)."""
    return t.float().double()


def camel(name):
    return ".".join(re.sub(r"_([a-z])", lambda m: m.group(1).upper(), part) for part in name.split("."))


def enc(t):
    t = t.detach()
    if t.dtype in (torch.int64, torch.int32):
        return {"shape": list(t.shape), "dtype": "int32", "data": [int(v) for v in t.reshape(-1).tolist()]}
    # 9 significant digits: exact for float32 inputs, far below the tolerances for outputs.
    return {"shape": list(t.shape), "dtype": "float32", "data": [float(f"{v:.9g}") for v in t.double().reshape(-1).tolist()]}


def L(layer, *args):
    return {"layer": layer, "args": list(args)}


def randn(*shape):
    return f32(torch.randn(*shape, dtype=torch.float64))


def run(name, kiln, module, inputs, modes=None, k=1, k_grad=None, perturb=None):
    """`inputs`: one tensor per step (float: differentiable input; int: indices)."""
    modes = modes or ["train"] * len(inputs)
    module = module.double()
    with torch.no_grad():
        if perturb:
            perturb(module)
        for _, p in module.named_parameters():
            p.copy_(f32(p))
    state = {camel(n): enc(t) for n, t in module.state_dict().items()}
    steps = []
    for x, mode in zip(inputs, modes):
        module.train(mode == "train")
        module.zero_grad()
        x = x.clone()
        differentiable = x.is_floating_point()
        if differentiable:
            x.requires_grad_(True)
        out = module(x)
        w = randn(*out.shape)
        (out * w).sum().backward()
        steps.append({
            "mode": mode,
            "input": enc(x),
            "output": enc(out),
            "w": enc(w),
            "inputGrad": enc(x.grad) if differentiable else None,
            "paramGrads": {camel(n): enc(p.grad) for n, p in module.named_parameters() if p.grad is not None},
            "stateAfter": {camel(n): enc(t) for n, t in module.state_dict().items()},
        })
    return {"name": name, "kiln": kiln, "k": k, "kGrad": k_grad if k_grad is not None else k, "state": state, "steps": steps}


def randomize_affine(m):
    for name, p in m.named_parameters():
        p.copy_(torch.rand_like(p) + 0.5 if name.endswith("weight") else torch.randn_like(p) * 0.5)


def cases():
    out = []
    # ---- Linear ----------------------------------------------------------------------
    out.append(run("Linear 5→3", L("Linear", 5, 3), nn.Linear(5, 3), [randn(4, 5)], k=5, k_grad=5))
    out.append(run("Linear no bias, 3-D input", L("Linear", 5, 3, {"bias": False}), nn.Linear(5, 3, bias=False), [randn(2, 3, 5)], k=5, k_grad=6))
    # ---- Conv2d ----------------------------------------------------------------------
    out.append(run("Conv2d 3→4 k3", L("Conv2d", 3, 4, 3), nn.Conv2d(3, 4, 3), [randn(2, 3, 7, 6)], k=27, k_grad=2 * 5 * 4))
    out.append(run("Conv2d stride 2 padding 1 kernel [3, 2]", L("Conv2d", 3, 4, [3, 2], {"stride": 2, "padding": 1}),
                   nn.Conv2d(3, 4, (3, 2), stride=2, padding=1), [randn(2, 3, 7, 6)], k=18, k_grad=2 * 4 * 4))
    out.append(run("Conv2d padding same dilation 2", L("Conv2d", 2, 3, 3, {"padding": "same", "dilation": 2}),
                   nn.Conv2d(2, 3, 3, padding="same", dilation=2), [randn(2, 2, 6, 7)], k=18, k_grad=2 * 6 * 7))
    out.append(run("Conv2d groups 2 no bias", L("Conv2d", 4, 6, 3, {"groups": 2, "bias": False, "padding": [1, 0]}),
                   nn.Conv2d(4, 6, 3, groups=2, bias=False, padding=(1, 0)), [randn(2, 4, 5, 5)], k=18, k_grad=2 * 5 * 3))
    # ---- ConvTranspose2d -------------------------------------------------------------
    out.append(run("ConvTranspose2d 4→3 k3", L("ConvTranspose2d", 4, 3, 3), nn.ConvTranspose2d(4, 3, 3), [randn(2, 4, 4, 5)], k=36, k_grad=2 * 6 * 7))
    out.append(run("ConvTranspose2d stride 2 padding 1 outputPadding 1",
                   L("ConvTranspose2d", 4, 6, 3, {"stride": 2, "padding": 1, "outputPadding": 1}),
                   nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1), [randn(2, 4, 5, 5)], k=36, k_grad=2 * 10 * 10))
    out.append(run("ConvTranspose2d groups 2 dilation 2 no bias",
                   L("ConvTranspose2d", 4, 6, [3, 2], {"groups": 2, "dilation": 2, "bias": False, "stride": [1, 2]}),
                   nn.ConvTranspose2d(4, 6, (3, 2), groups=2, dilation=2, bias=False, stride=(1, 2)), [randn(2, 4, 4, 3)], k=12, k_grad=2 * 8 * 8))
    # ---- pooling ---------------------------------------------------------------------
    out.append(run("MaxPool2d 2", L("MaxPool2d", 2), nn.MaxPool2d(2), [randn(2, 3, 6, 7)]))
    out.append(run("MaxPool2d 3 stride 2 padding 1", L("MaxPool2d", 3, {"stride": 2, "padding": 1}), nn.MaxPool2d(3, stride=2, padding=1), [randn(2, 2, 7, 6)], k_grad=4))
    out.append(run("AvgPool2d 2", L("AvgPool2d", 2), nn.AvgPool2d(2), [randn(2, 3, 6, 7)], k=4))
    out.append(run("AvgPool2d 3 stride 2 padding 1 countIncludePad", L("AvgPool2d", 3, {"stride": 2, "padding": 1}),
                   nn.AvgPool2d(3, stride=2, padding=1), [randn(2, 2, 7, 6)], k=9, k_grad=4))
    out.append(run("AvgPool2d 3 stride 2 padding 1 no countIncludePad", L("AvgPool2d", 3, {"stride": 2, "padding": 1, "countIncludePad": False}),
                   nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), [randn(2, 2, 7, 6)], k=9, k_grad=4))
    out.append(run("AvgPool2d CHW input", L("AvgPool2d", 2), nn.AvgPool2d(2), [randn(3, 4, 4)], k=4))
    # ---- AdaptiveAvgPool2d -----------------------------------------------------------
    out.append(run("AdaptiveAvgPool2d 1 (global)", L("AdaptiveAvgPool2d", 1), nn.AdaptiveAvgPool2d(1), [randn(2, 3, 5, 4)], k=20))
    out.append(run("AdaptiveAvgPool2d 3 on 7×5 (non-divisible)", L("AdaptiveAvgPool2d", 3), nn.AdaptiveAvgPool2d(3), [randn(2, 3, 7, 5)], k=6, k_grad=4))
    out.append(run("AdaptiveAvgPool2d [4, 3] on 10×9 (rows non-divisible)", L("AdaptiveAvgPool2d", [4, 3]), nn.AdaptiveAvgPool2d((4, 3)), [randn(1, 2, 10, 9)], k=12, k_grad=4))
    out.append(run("AdaptiveAvgPool2d [2, null] on 6×5", L("AdaptiveAvgPool2d", [2, None]), nn.AdaptiveAvgPool2d((2, None)), [randn(2, 2, 6, 5)], k=3))
    out.append(run("AdaptiveAvgPool2d [2, 3] on 6×9 (divisible)", L("AdaptiveAvgPool2d", [2, 3]), nn.AdaptiveAvgPool2d((2, 3)), [randn(2, 2, 6, 9)], k=9))
    out.append(run("AdaptiveAvgPool2d 4 on CHW 7×7", L("AdaptiveAvgPool2d", 4), nn.AdaptiveAvgPool2d(4), [randn(3, 7, 7)], k=9, k_grad=4))
    out.append(run("AdaptiveAvgPool2d 5 on 3×4 (upsampling bins)", L("AdaptiveAvgPool2d", 5), nn.AdaptiveAvgPool2d(5), [randn(1, 2, 3, 4)], k=2, k_grad=4))
    # ---- Flatten, Dropout (eval and p = 0 are deterministic), Identity --------------
    out.append(run("Flatten", L("Flatten"), nn.Flatten(), [randn(2, 3, 2, 2)]))
    out.append(run("Flatten 1..2", L("Flatten", 1, 2), nn.Flatten(1, 2), [randn(2, 3, 2, 2)]))
    out.append(run("Dropout eval is identity", L("Dropout", 0.5), nn.Dropout(0.5), [randn(3, 4)], modes=["eval"]))
    out.append(run("Dropout p = 0 in training", L("Dropout", 0), nn.Dropout(0), [randn(3, 4)]))
    out.append(run("Identity", L("Identity"), nn.Identity(), [randn(3, 4)]))
    # ---- BatchNorm: 3 training steps (batch statistics, running stats), then eval ---
    bn_modes = ["train", "train", "train", "eval"]
    out.append(run("BatchNorm1d [N, C]", L("BatchNorm1d", 4), nn.BatchNorm1d(4), [randn(8, 4) * 2 + 1 for _ in range(4)],
                   modes=bn_modes, k=8, perturb=randomize_affine))
    out.append(run("BatchNorm1d [N, C, L]", L("BatchNorm1d", 3), nn.BatchNorm1d(3), [randn(5, 3, 6) - 0.5 for _ in range(4)],
                   modes=bn_modes, k=30, perturb=randomize_affine))
    out.append(run("BatchNorm2d", L("BatchNorm2d", 3), nn.BatchNorm2d(3), [randn(4, 3, 5, 5) * 3 for _ in range(4)],
                   modes=bn_modes, k=100, perturb=randomize_affine))
    out.append(run("BatchNorm2d momentum null (cumulative)", L("BatchNorm2d", 2, {"momentum": None}), nn.BatchNorm2d(2, momentum=None),
                   [randn(3, 2, 4, 4) + 2 for _ in range(4)], modes=bn_modes, k=48, perturb=randomize_affine))
    out.append(run("BatchNorm1d momentum 0.3 eps 1e-3 no affine", L("BatchNorm1d", 4, {"momentum": 0.3, "eps": 1e-3, "affine": False}),
                   nn.BatchNorm1d(4, momentum=0.3, eps=1e-3, affine=False), [randn(6, 4) for _ in range(4)], modes=bn_modes, k=6))
    out.append(run("BatchNorm2d without running stats (eval uses batch stats)", L("BatchNorm2d", 3, {"trackRunningStats": False}),
                   nn.BatchNorm2d(3, track_running_stats=False), [randn(2, 3, 3, 3) for _ in range(2)], modes=["train", "eval"], k=18,
                   perturb=randomize_affine))
    # ---- LayerNorm -------------------------------------------------------------------
    out.append(run("LayerNorm 6", L("LayerNorm", 6), nn.LayerNorm(6), [randn(3, 4, 6) * 2 + 1], k=6, k_grad=12, perturb=randomize_affine))
    out.append(run("LayerNorm [4, 6]", L("LayerNorm", [4, 6]), nn.LayerNorm([4, 6]), [randn(3, 4, 6)], k=24, k_grad=24, perturb=randomize_affine))
    out.append(run("LayerNorm no affine eps 1e-3", L("LayerNorm", 5, {"elementwiseAffine": False, "eps": 1e-3}),
                   nn.LayerNorm(5, elementwise_affine=False, eps=1e-3), [randn(4, 5)], k=5))
    # ---- Embedding -------------------------------------------------------------------
    out.append(run("Embedding repeated indices", L("Embedding", 10, 4), nn.Embedding(10, 4),
                   [torch.tensor([[1, 2, 1], [3, 1, 9]])], k=1, k_grad=3))
    out.append(run("Embedding paddingIdx 0", L("Embedding", 6, 3, {"paddingIdx": 0}), nn.Embedding(6, 3, padding_idx=0),
                   [torch.tensor([0, 2, 0, 5, 2])], k=1, k_grad=2))
    out.append(run("Embedding negative paddingIdx", L("Embedding", 6, 3, {"paddingIdx": -1}), nn.Embedding(6, 3, padding_idx=-1),
                   [torch.tensor([[5, 1], [5, 5]])], k=1, k_grad=3))
    # ---- activations -----------------------------------------------------------------
    x = lambda: randn(4, 3, 5)  # noqa: E731
    out.append(run("ReLU", L("ReLU"), nn.ReLU(), [x()]))
    out.append(run("LeakyReLU default 0.01", L("LeakyReLU"), nn.LeakyReLU(), [x()]))
    out.append(run("LeakyReLU 0.1", L("LeakyReLU", 0.1), nn.LeakyReLU(0.1), [x()]))
    out.append(run("PReLU shared slope", L("PReLU"), nn.PReLU(), [x()], k_grad=60))
    out.append(run("PReLU per channel, 3-D", L("PReLU", 3), nn.PReLU(3), [x()], k_grad=20, perturb=lambda m: m.weight.copy_(torch.tensor([0.1, -0.2, 0.3]))))
    out.append(run("PReLU per channel, NCHW, init 0.1", L("PReLU", 2, {"init": 0.1}), nn.PReLU(2, init=0.1), [randn(3, 2, 2, 3)], k_grad=18))
    out.append(run("PReLU per channel, [N, C]", L("PReLU", 3), nn.PReLU(3), [randn(5, 3)], k_grad=5))
    out.append(run("ELU 0.7", L("ELU", 0.7), nn.ELU(0.7), [x()]))
    out.append(run("Sigmoid", L("Sigmoid"), nn.Sigmoid(), [x()]))
    out.append(run("Tanh", L("Tanh"), nn.Tanh(), [x()]))
    out.append(run("Softmax dim 1", L("Softmax", 1), nn.Softmax(1), [x()], k=3))
    out.append(run("Softmax last dim (default)", L("Softmax"), nn.Softmax(-1), [x()], k=5))
    out.append(run("LogSoftmax last dim", L("LogSoftmax", -1), nn.LogSoftmax(-1), [x()], k=5))
    # ---- containers ------------------------------------------------------------------
    out.append(run("Sequential MLP", L("Sequential", L("Linear", 4, 8), L("ReLU"), L("Linear", 8, 3)),
                   nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)), [randn(5, 4)], k=12, k_grad=16))
    out.append(run("Sequential CNN with BatchNorm (train, train, eval)",
                   L("Sequential", L("Conv2d", 1, 4, 3, {"padding": 1}), L("BatchNorm2d", 4), L("ReLU"), L("MaxPool2d", 2),
                     L("Flatten"), L("Linear", 16, 3)),
                   nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 3)),
                   [randn(3, 1, 4, 4) for _ in range(3)], modes=["train", "train", "eval"], k=64, k_grad=64))
    return out


def main():
    torch.manual_seed(0)
    data = cases()
    path = os.path.join(HERE, "layers.json")
    with open(path, "w") as f:
        json.dump({"generator": "test/golden/nn_layers/generate.py", "torch": torch.__version__, "cases": data}, f, separators=(",", ":"))
    print(f"{path}: {len(data)} cases")


if __name__ == "__main__":
    main()
