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

Layers with several inputs, options or tuple outputs (MultiheadAttention,
TransformerEncoderLayer) use `run_multi`: a step then holds `args` (positional tensors;
{"ref": i} repeats argument i, so self-attention gets the same tensor three times),
`options` (the Kiln forward options, camelCase; tensors are masks), one entry per output
in `outputs`/`ws` (null for a None output), the loss sum_i(sum(output_i * w_i)) and
`argGrads` (null for a repeat or a non-float argument).

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
    if t.dtype == torch.bool:
        return {"shape": list(t.shape), "dtype": "bool", "data": [int(v) for v in t.reshape(-1).tolist()]}
    if t.dtype in (torch.int64, torch.int32):
        return {"shape": list(t.shape), "dtype": "int32", "data": [int(v) for v in t.reshape(-1).tolist()]}
    # 9 significant digits: exact for float32 inputs, far below the tolerances for outputs.
    # ±inf and NaN (masks) as the strings JSON lacks: "Infinity", "-Infinity", "NaN".
    return {"shape": list(t.shape), "dtype": "float32",
            "data": [float(f"{v:.9g}") if math.isfinite(v) else str(v).replace("inf", "Infinity").replace("nan", "NaN")
                     for v in t.double().reshape(-1).tolist()]}


def L(layer, *args):
    return {"layer": layer, "args": list(args)}


def randn(*shape):
    return f32(torch.randn(*shape, dtype=torch.float64))


def prepare(module, perturb):
    """The module in float64 with float32-representable parameters, and its state as Kiln names it."""
    module = module.double()
    with torch.no_grad():
        if perturb:
            perturb(module)
        for _, p in module.named_parameters():
            p.copy_(f32(p))
    return module, {camel(n): enc(t) for n, t in module.state_dict().items()}


def run(name, kiln, module, inputs, modes=None, k=1, k_grad=None, perturb=None):
    """`inputs`: one tensor per step (float: differentiable input; int: indices)."""
    modes = modes or ["train"] * len(inputs)
    module, state = prepare(module, perturb)
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


def run_multi(name, kiln, module, steps, call, k=1, k_grad=None, perturb=None):
    """`steps`: (mode, args, options) triples; `call(module, args, options)` runs PyTorch."""
    module, state = prepare(module, perturb)
    out_steps = []
    for mode, args, options in steps:
        module.train(mode == "train")
        module.zero_grad()
        leaves, encoded = [], []
        for a in args:
            same = next((i for i, b in enumerate(args[:len(encoded)]) if b is a), None)
            if same is not None:
                leaves.append(leaves[same])
                encoded.append({"ref": same})
                continue
            leaf = a.clone()
            if leaf.is_floating_point():
                leaf.requires_grad_(True)
            leaves.append(leaf)
            encoded.append(enc(leaf))
        outs = call(module, leaves, options)
        outs = list(outs) if isinstance(outs, tuple) else [outs]
        ws = [randn(*o.shape) if o is not None else None for o in outs]
        sum((o * w).sum() for o, w in zip(outs, ws) if o is not None).backward()
        out_steps.append({
            "mode": mode,
            "args": encoded,
            "options": {n: enc(v) if torch.is_tensor(v) else v for n, v in options.items()},
            "outputs": [enc(o) if o is not None else None for o in outs],
            "ws": [enc(w) if w is not None else None for w in ws],
            "argGrads": [None if "ref" in e or leaf.grad is None else enc(leaf.grad) for e, leaf in zip(encoded, leaves)],
            "paramGrads": {camel(n): enc(p.grad) for n, p in module.named_parameters() if p.grad is not None},
            "stateAfter": {camel(n): enc(t) for n, t in module.state_dict().items()},
        })
    return {"name": name, "kiln": kiln, "k": k, "kGrad": k_grad if k_grad is not None else k, "state": state, "steps": out_steps}


def mha_call(m, args, o):
    return m(*args, key_padding_mask=o.get("keyPaddingMask"), attn_mask=o.get("attnMask"),
             need_weights=o.get("needWeights", True), average_attn_weights=o.get("averageAttnWeights", True))


def tel_call(m, args, o):
    return m(args[0], src_mask=o.get("srcMask"), src_key_padding_mask=o.get("srcKeyPaddingMask"))


def randomize_all(m):
    """Every parameter random (biases that PyTorch initializes to 0 included), norm weights around 1."""
    for name, p in m.named_parameters():
        if "norm" in name and name.endswith("weight"):
            p.copy_(torch.rand_like(p) + 0.5)
        else:
            p.copy_(torch.randn_like(p) * 0.3)


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
    # ---- new layers (appended last: earlier cases keep their random draws) ---------
    # Conv1d
    out.append(run("Conv1d 3→4 k3", L("Conv1d", 3, 4, 3), nn.Conv1d(3, 4, 3), [randn(2, 3, 10)], k=9, k_grad=2 * 8 * 4))
    out.append(run("Conv1d stride 2 padding 2 dilation 2", L("Conv1d", 3, 4, 3, {"stride": 2, "padding": 2, "dilation": 2}),
                   nn.Conv1d(3, 4, 3, stride=2, padding=2, dilation=2), [randn(2, 3, 11)], k=9, k_grad=2 * 6 * 4))
    out.append(run("Conv1d padding same, even kernel, groups 2, no bias", L("Conv1d", 4, 6, 4, {"padding": "same", "groups": 2, "bias": False}),
                   nn.Conv1d(4, 6, 4, padding="same", groups=2, bias=False), [randn(2, 4, 9)], k=8, k_grad=2 * 9 * 3))
    out.append(run("Conv1d unbatched [C, L]", L("Conv1d", 2, 3, 2), nn.Conv1d(2, 3, 2), [randn(2, 6)], k=4, k_grad=15))
    # Dropout2d (random in training: eval and p = 0 are deterministic)
    out.append(run("Dropout2d eval is identity", L("Dropout2d", 0.5), nn.Dropout2d(0.5), [randn(2, 3, 2, 2)], modes=["eval"]))
    out.append(run("Dropout2d p = 0 in training", L("Dropout2d", 0), nn.Dropout2d(0), [randn(2, 3, 2, 2)]))
    # GroupNorm (no running statistics: train and eval compute the same)
    out.append(run("GroupNorm 2 groups of 3 channels, NCHW", L("GroupNorm", 2, 6), nn.GroupNorm(2, 6),
                   [randn(3, 6, 4, 5) * 2 + 1, randn(3, 6, 4, 5)], modes=["train", "eval"], k=60, k_grad=60, perturb=randomize_affine))
    out.append(run("GroupNorm [N, C, L] no affine eps 1e-3", L("GroupNorm", 3, 6, {"affine": False, "eps": 1e-3}),
                   nn.GroupNorm(3, 6, affine=False, eps=1e-3), [randn(2, 6, 5)], k=10, k_grad=10))
    out.append(run("GroupNorm [N, C], one group", L("GroupNorm", 1, 4), nn.GroupNorm(1, 4), [randn(5, 4) - 0.5], k=4, k_grad=5,
                   perturb=randomize_affine))
    out.append(run("GroupNorm groups = channels (instance norm)", L("GroupNorm", 3, 3), nn.GroupNorm(3, 3), [randn(2, 3, 3, 4) * 3],
                   k=12, k_grad=12, perturb=randomize_affine))
    # Upsample
    out.append(run("Upsample nearest ×2", L("Upsample", {"scaleFactor": 2}), nn.Upsample(scale_factor=2), [randn(2, 3, 3, 4)], k_grad=4))
    out.append(run("Upsample nearest ×[3, 2]", L("Upsample", {"scaleFactor": [3, 2]}), nn.Upsample(scale_factor=(3, 2)), [randn(1, 2, 2, 3)], k_grad=6))
    out.append(run("Upsample nearest size [5, 7] from 3×3", L("Upsample", {"size": [5, 7]}), nn.Upsample(size=(5, 7)), [randn(2, 2, 3, 3)], k_grad=6))
    out.append(run("Upsample nearest ×[1.38, 2.5] (source row ⌊dst/scale⌋, not ⌊dst·in/out⌋)", L("Upsample", {"scaleFactor": [1.38, 2.5]}),
                   nn.Upsample(scale_factor=(1.38, 2.5)), [randn(1, 2, 5, 3)], k_grad=6))
    out.append(run("Upsample nearest size [2, 3] (downsampling)", L("Upsample", {"size": [2, 3]}), nn.Upsample(size=(2, 3)), [randn(1, 2, 5, 7)]))
    out.append(run("Upsample bilinear ×2", L("Upsample", {"scaleFactor": 2, "mode": "bilinear"}),
                   nn.Upsample(scale_factor=2, mode="bilinear"), [randn(2, 2, 3, 4)], k=4, k_grad=16))
    out.append(run("Upsample bilinear ×2 alignCorners", L("Upsample", {"scaleFactor": 2, "mode": "bilinear", "alignCorners": True}),
                   nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), [randn(2, 2, 3, 4)], k=4, k_grad=16))
    out.append(run("Upsample bilinear size [5, 7] from 3×4", L("Upsample", {"size": [5, 7], "mode": "bilinear"}),
                   nn.Upsample(size=(5, 7), mode="bilinear"), [randn(1, 2, 3, 4)], k=4, k_grad=16))
    out.append(run("Upsample bilinear ×1.7", L("Upsample", {"scaleFactor": 1.7, "mode": "bilinear"}),
                   nn.Upsample(scale_factor=1.7, mode="bilinear"), [randn(1, 2, 4, 3)], k=4, k_grad=16))
    out.append(run("Upsample bilinear size [3, 2] from 6×5 alignCorners (downsampling)", L("Upsample", {"size": [3, 2], "mode": "bilinear", "alignCorners": True}),
                   nn.Upsample(size=(3, 2), mode="bilinear", align_corners=True), [randn(1, 2, 6, 5)], k=4, k_grad=4))
    out.append(run("Upsample bilinear size 1 alignCorners", L("Upsample", {"size": 1, "mode": "bilinear", "alignCorners": True}),
                   nn.Upsample(size=1, mode="bilinear", align_corners=True), [randn(1, 2, 3, 4)]))
    # MaxPool2d ceilMode and dilation (integer-valued inputs make ties: the gradient goes to the first maximum)
    ties = lambda *shape: torch.randint(0, 3, shape, dtype=torch.float64)  # noqa: E731
    out.append(run("MaxPool2d 3 stride 2 ceilMode", L("MaxPool2d", 3, {"stride": 2, "ceilMode": True}), nn.MaxPool2d(3, stride=2, ceil_mode=True),
                   [randn(2, 2, 8, 7)], k_grad=4))
    out.append(run("MaxPool2d 2 padding 1 ceilMode (last window dropped: it would start in the right padding)",
                   L("MaxPool2d", 2, {"padding": 1, "ceilMode": True}), nn.MaxPool2d(2, padding=1, ceil_mode=True), [randn(1, 2, 5, 6)]))
    out.append(run("MaxPool2d [3, 2] stride [2, 3] ceilMode, ties", L("MaxPool2d", [3, 2], {"stride": [2, 3], "ceilMode": True}),
                   nn.MaxPool2d((3, 2), stride=(2, 3), ceil_mode=True), [ties(2, 2, 6, 8)], k_grad=4))
    out.append(run("MaxPool2d 3 dilation 2 padding 1 stride 1", L("MaxPool2d", 3, {"stride": 1, "dilation": 2, "padding": 1}),
                   nn.MaxPool2d(3, stride=1, dilation=2, padding=1), [randn(2, 2, 7, 8)], k_grad=9))
    out.append(run("MaxPool2d 2 dilation [2, 3] stride 2 ceilMode, ties", L("MaxPool2d", 2, {"dilation": [2, 3], "ceilMode": True}),
                   nn.MaxPool2d(2, dilation=(2, 3), ceil_mode=True), [ties(2, 3, 7, 9)], k_grad=4))
    out.append(run("MaxPool2d 3 dilation 2 CHW input, ties", L("MaxPool2d", 3, {"stride": 2, "dilation": 2}),
                   nn.MaxPool2d(3, stride=2, dilation=2), [ties(2, 9, 9)], k_grad=4))
    # MultiheadAttention (dropout 0 in training, or eval; masks never block a whole row)
    E, H = 6, 2
    x = randn(4, 2, E)
    out.append(run_multi("MultiheadAttention self-attention [L, N, E], weights averaged", L("MultiheadAttention", E, H), nn.MultiheadAttention(E, H),
                         [("train", [x, x, x], {})], mha_call, k=3 * E, k_grad=3 * E * 4, perturb=randomize_all))
    kpm = torch.tensor([[False, False, False, True, True], [False, False, False, False, False]])
    out.append(run_multi("MultiheadAttention cross-attention batchFirst, 3 heads, per-head weights, bool keyPaddingMask",
                         L("MultiheadAttention", E, 3, {"batchFirst": True}), nn.MultiheadAttention(E, 3, batch_first=True),
                         [("train", [randn(2, 3, E), randn(2, 5, E), randn(2, 5, E)], {"keyPaddingMask": kpm, "averageAttnWeights": False})],
                         mha_call, k=3 * E, k_grad=3 * E * 5, perturb=randomize_all))
    kv = randn(5, 2, E)
    float_mask = f32(torch.randn(3, 5, dtype=torch.float64))
    out.append(run_multi("MultiheadAttention no bias, key is value, float attnMask [L, S] + bool keyPaddingMask",
                         L("MultiheadAttention", E, H, {"bias": False}), nn.MultiheadAttention(E, H, bias=False),
                         [("train", [randn(3, 2, E), kv, kv], {"attnMask": float_mask, "keyPaddingMask": kpm})],
                         mha_call, k=3 * E, k_grad=3 * E * 5, perturb=randomize_all))
    causal = torch.ones(4, 4, dtype=torch.bool).triu(1)
    per_head = torch.stack([causal, causal.t(), causal, torch.zeros(4, 4, dtype=torch.bool)])  # [N·H, L, S], sample-major
    y = randn(2, 4, E)
    out.append(run_multi("MultiheadAttention bool attnMask [N·H, L, S], needWeights false, batchFirst",
                         L("MultiheadAttention", E, H, {"batchFirst": True}), nn.MultiheadAttention(E, H, batch_first=True),
                         [("train", [y, y, y], {"attnMask": per_head, "needWeights": False})], mha_call, k=3 * E, k_grad=3 * E * 4, perturb=randomize_all))
    u = randn(4, E)
    out.append(run_multi("MultiheadAttention unbatched [L, E] with causal mask, eval with dropout 0.3",
                         L("MultiheadAttention", E, H, {"dropout": 0.3}), nn.MultiheadAttention(E, H, dropout=0.3),
                         [("eval", [u, u, u], {"attnMask": causal})], mha_call, k=3 * E, k_grad=3 * E * 4, perturb=randomize_all))
    # TransformerEncoderLayer
    D = 8
    src = randn(5, 2, D)
    out.append(run_multi("TransformerEncoderLayer post-norm relu, keyPaddingMask, dropout 0",
                         L("TransformerEncoderLayer", D, 2, {"dimFeedforward": 16, "dropout": 0}),
                         nn.TransformerEncoderLayer(D, 2, dim_feedforward=16, dropout=0.0),
                         [("train", [src], {"srcKeyPaddingMask": kpm})], tel_call, k=64, k_grad=256, perturb=randomize_all))
    float_causal = torch.zeros(5, 5, dtype=torch.float64).masked_fill(torch.ones(5, 5, dtype=torch.bool).triu(1), float("-inf"))
    out.append(run_multi("TransformerEncoderLayer normFirst gelu batchFirst, float causal srcMask, layerNormEps 1e-3",
                         L("TransformerEncoderLayer", D, 4, {"dimFeedforward": 12, "dropout": 0, "activation": "gelu", "batchFirst": True,
                                                             "normFirst": True, "layerNormEps": 1e-3}),
                         nn.TransformerEncoderLayer(D, 4, dim_feedforward=12, dropout=0.0, activation="gelu", batch_first=True,
                                                    norm_first=True, layer_norm_eps=1e-3),
                         [("train", [randn(2, 5, D)], {"srcMask": float_causal})], tel_call, k=64, k_grad=256, perturb=randomize_all))
    out.append(run_multi("TransformerEncoderLayer default dropout 0.1 in eval (identity)",
                         L("TransformerEncoderLayer", D, 2, {"dimFeedforward": 16}), nn.TransformerEncoderLayer(D, 2, dim_feedforward=16),
                         [("eval", [randn(3, 2, D)], {}), ("eval", [randn(4, 1, D)], {})], tel_call, k=64, k_grad=256, perturb=randomize_all))
    return out


def main():
    torch.manual_seed(0)
    data = cases()
    path = os.path.join(HERE, "layers.json")
    with open(path, "w") as f:
        json.dump({"generator": "test/golden/nn_layers/generate.py", "torch": torch.__version__, "cases": data}, f, separators=(",", ":"), allow_nan=False)
    print(f"{path}: {len(data)} cases")


if __name__ == "__main__":
    main()
