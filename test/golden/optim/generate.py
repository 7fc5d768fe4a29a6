"""Golden values for test/optim*.test.ts, from PyTorch 1.13 (Debian python3-torch).

Run: /usr/bin/python3 test/golden/optim/generate.py   (writes the JSON files next to it)

- optimizers.json: 8-step trajectories of every optimizer/option combination on a
  fixed problem: params W [3, 4] and b [4],
      loss = sum(C * (W*A + b)^2) + 0.3*sum(tanh(W)) + sum(D*b) + 0.05*sum(W^4)
  (Kiln computes its own gradients of the same function with autograd.)
- schedules.json: lr sequences of every scheduler (two param groups) over 30 steps.
- clipping.json: clip_grad_norm_ / clip_grad_value_ / torch.renorm cases.
"""
import json
import math
import os

import torch

torch.set_default_dtype(torch.float32)
HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 8


def tensor_json(t):
    return {"shape": list(t.shape), "data": t.detach().reshape(-1).tolist()}


def write(name, obj):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


# ---- optimizers ---------------------------------------------------------------------

gen = torch.Generator().manual_seed(1234)
W0 = torch.randn(3, 4, generator=gen)
b0 = torch.randn(4, generator=gen)
A = torch.randn(3, 4, generator=gen)
C = torch.rand(3, 4, generator=gen) + 0.5
D = torch.randn(4, generator=gen)


def loss_fn(W, b):
    z = W * A + b
    return (C * z.square()).sum() + 0.3 * torch.tanh(W).sum() + (D * b).sum() + 0.05 * W.square().square().sum()


SNAKE = {
    "lr": "lr", "momentum": "momentum", "dampening": "dampening", "weightDecay": "weight_decay",
    "nesterov": "nesterov", "maximize": "maximize", "lrDecay": "lr_decay",
    "initialAccumulatorValue": "initial_accumulator_value", "eps": "eps", "rho": "rho",
    "alpha": "alpha", "centered": "centered", "betas": "betas", "amsgrad": "amsgrad",
}


def torch_kwargs(options):
    return {SNAKE[k]: (tuple(v) if k == "betas" else v) for k, v in options.items()}


OPTIMIZERS = {
    "SGD": torch.optim.SGD, "Adagrad": torch.optim.Adagrad, "Adadelta": torch.optim.Adadelta,
    "RMSprop": torch.optim.RMSprop, "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW,
}

# (name, optimizer, defaults, groups or None). A group is {"params": ["W"], ...options}.
CASES = [
    ("sgd", "SGD", {"lr": 0.02}, None),
    ("sgd_momentum", "SGD", {"lr": 0.02, "momentum": 0.9}, None),
    ("sgd_momentum_dampening", "SGD", {"lr": 0.02, "momentum": 0.9, "dampening": 0.3}, None),
    ("sgd_nesterov", "SGD", {"lr": 0.02, "momentum": 0.9, "nesterov": True}, None),
    ("sgd_weight_decay_momentum", "SGD", {"lr": 0.02, "momentum": 0.5, "weightDecay": 0.1}, None),
    ("sgd_maximize", "SGD", {"lr": 0.005, "maximize": True}, None),
    ("sgd_param_groups", "SGD", {"lr": 0.005}, [{"params": ["W"], "lr": 0.02, "momentum": 0.9}, {"params": ["b"]}]),
    ("adagrad_default", "Adagrad", {}, None),
    ("adagrad_lr_decay_wd_init", "Adagrad", {"lr": 0.1, "lrDecay": 0.1, "weightDecay": 0.05, "initialAccumulatorValue": 0.5, "eps": 1e-8}, None),
    ("adadelta_default", "Adadelta", {}, None),
    ("adadelta_options", "Adadelta", {"lr": 0.5, "rho": 0.5, "eps": 1e-4, "weightDecay": 0.1}, None),
    ("rmsprop_default", "RMSprop", {}, None),
    ("rmsprop_centered", "RMSprop", {"lr": 0.01, "centered": True}, None),
    ("rmsprop_momentum", "RMSprop", {"lr": 0.01, "momentum": 0.9}, None),
    ("rmsprop_centered_momentum_wd", "RMSprop", {"lr": 0.01, "alpha": 0.9, "centered": True, "momentum": 0.9, "weightDecay": 0.1}, None),
    ("adam_default", "Adam", {}, None),
    ("adam_lr", "Adam", {"lr": 0.05}, None),
    ("adam_weight_decay", "Adam", {"lr": 0.05, "weightDecay": 0.1}, None),
    ("adam_amsgrad", "Adam", {"lr": 0.05, "betas": [0.9, 0.5], "amsgrad": True}, None),
    ("adam_betas_eps", "Adam", {"lr": 0.05, "betas": [0.8, 0.9], "eps": 1e-3}, None),
    ("adam_maximize", "Adam", {"lr": 0.01, "maximize": True}, None),
    ("adam_param_groups", "Adam", {"lr": 0.01}, [{"params": ["W"], "lr": 0.05}, {"params": ["b"], "amsgrad": True, "betas": [0.9, 0.5]}]),
    ("adamw_default", "AdamW", {}, None),
    ("adamw_weight_decay", "AdamW", {"lr": 0.05, "weightDecay": 0.1}, None),
    ("adamw_amsgrad", "AdamW", {"lr": 0.05, "betas": [0.9, 0.5], "amsgrad": True, "weightDecay": 0.05}, None),
]


def run_case(opt_name, defaults, groups):
    W = W0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    named = {"W": W, "b": b}
    if groups is None:
        params = [W, b]
    else:
        params = [dict(torch_kwargs({k: v for k, v in g.items() if k != "params"}), params=[named[n] for n in g["params"]]) for g in groups]
    opt = OPTIMIZERS[opt_name](params, **torch_kwargs(defaults))
    traj = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = loss_fn(W, b)
        loss.backward()
        opt.step()
        traj.append({"loss": loss.item(), "W": tensor_json(W), "b": tensor_json(b)})
    return traj


optim_cases = []
for name, opt_name, defaults, groups in CASES:
    optim_cases.append({"name": name, "optimizer": opt_name, "options": defaults, "groups": groups, "steps": run_case(opt_name, defaults, groups)})

# The problem must exercise every branch: amsgrad's maximum must actually bind.
by_name = {c["name"]: c for c in optim_cases}
plain = run_case("Adam", {"lr": 0.05, "betas": [0.9, 0.5]}, None)
assert plain[-1]["W"]["data"] != by_name["adam_amsgrad"]["steps"][-1]["W"]["data"], "amsgrad made no difference"

with torch.no_grad():
    W = W0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
with torch.enable_grad():
    loss_fn(W, b).backward()
assert W.grad.abs().min() > 1e-2 and b.grad.abs().min() > 1e-2, "gradients too close to zero for Adam-like steps"

write("optimizers.json", {
    "problem": {"W": tensor_json(W0), "b": tensor_json(b0), "A": tensor_json(A), "C": tensor_json(C), "D": tensor_json(D)},
    "cases": optim_cases,
})

# ---- schedules ----------------------------------------------------------------------

N_SCHED = 30
BASE_LRS = [0.1, 0.03]
S = torch.optim.lr_scheduler


def make_opt():
    return torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": BASE_LRS[0]},
                            {"params": [torch.zeros(1, requires_grad=True)], "lr": BASE_LRS[1]}], lr=BASE_LRS[0])


TORCH_SCHED = {
    "StepLR": lambda o, a: S.StepLR(o, step_size=a["stepSize"], gamma=a.get("gamma", 0.1)),
    "ExponentialLR": lambda o, a: S.ExponentialLR(o, gamma=a["gamma"]),
    "CosineAnnealingLR": lambda o, a: S.CosineAnnealingLR(o, T_max=a["tMax"], eta_min=a.get("etaMin", 0)),
    "LinearLR": lambda o, a: S.LinearLR(o, **{k2: a[k] for k, k2 in [("startFactor", "start_factor"), ("endFactor", "end_factor"), ("totalIters", "total_iters")] if k in a}),
    "LinearWarmup": lambda o, a: S.LinearLR(o, start_factor=a.get("startFactor", 1 / 3), end_factor=1.0, total_iters=a["warmupSteps"]),
}

# Each case: a list of schedulers stepped together every epoch (more than one = chained).
SCHED_CASES = [
    ("step_lr", [("StepLR", {"stepSize": 3, "gamma": 0.5})]),
    ("step_lr_default_gamma", [("StepLR", {"stepSize": 7})]),
    ("exponential_lr", [("ExponentialLR", {"gamma": 0.9})]),
    ("cosine_annealing", [("CosineAnnealingLR", {"tMax": 10, "etaMin": 0.001})]),
    ("cosine_annealing_no_min", [("CosineAnnealingLR", {"tMax": 7})]),
    ("linear_lr_default", [("LinearLR", {})]),
    ("linear_lr_warmup", [("LinearLR", {"startFactor": 0.1, "totalIters": 10})]),
    ("linear_lr_decay", [("LinearLR", {"startFactor": 1.0, "endFactor": 0.2, "totalIters": 8})]),
    ("linear_warmup", [("LinearWarmup", {"warmupSteps": 10, "startFactor": 0.1})]),
    ("linear_warmup_default", [("LinearWarmup", {"warmupSteps": 4})]),
    ("chained_warmup_exponential", [("LinearLR", {"startFactor": 0.1, "totalIters": 5}), ("ExponentialLR", {"gamma": 0.9})]),
    ("chained_warmup_cosine", [("LinearWarmup", {"warmupSteps": 5, "startFactor": 0.2}), ("CosineAnnealingLR", {"tMax": 12, "etaMin": 0.002})]),
]

sched_cases = []
for name, specs in SCHED_CASES:
    opt = make_opt()
    scheds = [TORCH_SCHED[kind](opt, args) for kind, args in specs]
    lrs = [[g["lr"] for g in opt.param_groups]]
    for _ in range(N_SCHED):
        opt.step()
        for s in scheds:
            s.step()
        lrs.append([g["lr"] for g in opt.param_groups])
    sched_cases.append({"name": name, "schedulers": [{"kind": k, "options": a} for k, a in specs], "lrs": lrs})

METRICS = [1.0, 0.8, 0.7, 0.69995, 0.7, 0.71, 0.65, 0.66, 0.66, 0.67, 0.64, 0.64, 0.64, 0.64, 0.63999,
           0.5, 0.5, 0.51, 0.52, 0.53, 0.49, 0.49, 0.49, 0.49, 0.49, 0.48, 0.47, 0.47, 0.47, 0.47]
MAX_METRICS = [0.5, 0.6, 0.605, 0.61, 0.7, 0.7, 0.7, 0.71, 0.72, 0.8, 0.8, 0.79, 0.8, 0.805, 0.8,
               0.85, 0.85, 0.85, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.95, 0.95, 0.95]
PLATEAU_CASES = [
    ("plateau_halve", {"factor": 0.5, "patience": 2}, METRICS),
    ("plateau_default", {}, [1.0, 0.9] + [0.9] * 12 + [0.8] * 16),
    ("plateau_max_abs_cooldown_minlr", {"mode": "max", "factor": 0.1, "patience": 1, "threshold": 0.01, "thresholdMode": "abs", "cooldown": 2, "minLr": [0.001, 0.0005]}, MAX_METRICS),
    ("plateau_rel_threshold_zero_patience", {"factor": 0.7, "patience": 0, "threshold": 0.05, "minLr": 0.01}, METRICS),
]
plateau_cases = []
for name, args, metrics in PLATEAU_CASES:
    opt = make_opt()
    kw = {k2: args[k] for k, k2 in [("mode", "mode"), ("factor", "factor"), ("patience", "patience"), ("threshold", "threshold"),
                                     ("thresholdMode", "threshold_mode"), ("cooldown", "cooldown"), ("minLr", "min_lr")] if k in args}
    s = S.ReduceLROnPlateau(opt, **kw)
    lrs = []
    for m in metrics:
        s.step(m)
        lrs.append(s._last_lr)
    plateau_cases.append({"name": name, "options": args, "metrics": metrics, "lrs": lrs})

write("schedules.json", {"baseLrs": BASE_LRS, "cases": sched_cases, "plateau": plateau_cases})

# ---- clipping and max-norm ----------------------------------------------------------

gen = torch.Generator().manual_seed(99)
G = [torch.randn(3, 4, generator=gen) * 0.7, torch.randn(4, generator=gen) * 2.0, torch.randn(2, 2, generator=gen) * 0.1]

norm_cases = []
for name, max_norm, norm_type, has_grad in [
    ("l2_clips", 1.0, 2.0, [True, True, True]),
    ("l2_no_clip", 100.0, 2.0, [True, True, True]),
    ("inf_norm", 0.5, math.inf, [True, True, True]),
    ("l1_norm", 1.0, 1.0, [True, True, True]),
    ("l3_norm", 2.0, 3.0, [True, True, True]),
    ("skips_missing_grad", 0.5, 2.0, [True, False, True]),
]:
    params = [torch.zeros_like(g, requires_grad=True) for g in G]
    for p, g, h in zip(params, G, has_grad):
        if h:
            p.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    norm_cases.append({"name": name, "maxNorm": max_norm, "normType": "inf" if math.isinf(norm_type) else norm_type,
                       "hasGrad": has_grad, "total": total.item(),
                       "clipped": [tensor_json(p.grad) if p.grad is not None else None for p in params]})

value_cases = []
for clip_value in [0.3, 1.5]:
    params = [torch.zeros_like(g, requires_grad=True) for g in G]
    for p, g in zip(params, G):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_value_(params, clip_value)
    value_cases.append({"clipValue": clip_value, "clipped": [tensor_json(p.grad) for p in params]})

gen = torch.Generator().manual_seed(7)
W5 = torch.randn(5, 4, generator=gen) * torch.tensor([[0.2], [1.0], [0.4], [2.0], [0.1]])
K = torch.randn(3, 2, 2, 2, generator=gen)
renorm_cases = []
for name, w, axis, max_norm in [("rows", W5, 0, 1.0), ("columns", W5, 1, 1.2), ("conv_filters", K, 0, 1.5), ("last_axis", K, -1, 0.8), ("vector", torch.tensor([3.0, -0.5, 0.2]), 0, 1.0)]:
    # renorm needs 2-D+: a vector's sub-tensors along axis 0 are its elements.
    result = torch.renorm(w.unsqueeze(1), 2, 0, max_norm).squeeze(1) if w.dim() == 1 else torch.renorm(w, 2, axis % w.dim(), max_norm)
    renorm_cases.append({"name": name, "axis": axis, "maxNorm": max_norm, "weight": tensor_json(w), "result": tensor_json(result)})

write("clipping.json", {"grads": [tensor_json(g) for g in G], "clipGradNorm": norm_cases, "clipGradValue": value_cases, "renorm": renorm_cases})
print("wrote optimizers.json, schedules.json, clipping.json")
