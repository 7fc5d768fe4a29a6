#!/usr/bin/python3
"""Golden values for Kiln's ops, computed by PyTorch in float64.

Run with Debian's torch:  /usr/bin/python3 test/golden/generate.py
Writes test/golden/<family>.json for every module in test/golden/cases/. CI never
runs this: the JSON is committed.

A case (see `case()` in cases/common.py) names the Kiln function (`op`), its argument
list (`args`: tensors are written {"$t": i}, meaning input i), the inputs, and a torch
function computing the same thing. The JSON holds inputs, outputs and, when any input
is differentiable, the weights `w` of the scalar loss sum(out * w) and the gradient of
that loss w.r.t. each differentiable input.
"""
import importlib
import json
import os
import pkgutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cases  # noqa: E402
from cases import common  # noqa: E402
from cases.common import run_case  # noqa: E402


def main():
    only = set(sys.argv[1:])
    for mod in pkgutil.iter_modules(cases.__path__):
        if mod.name == "common" or (only and mod.name not in only):
            continue
        # Every family starts from the same generator state, so a full run writes what
        # `generate.py <family>` writes (and adding cases to one file changes no other).
        common._gen.manual_seed(1234)
        module = importlib.import_module(f"cases.{mod.name}")
        torch.manual_seed(0)
        out = [run_case(c) for c in module.CASES]
        path = os.path.join(HERE, f"{mod.name}.json")
        with open(path, "w") as f:
            json.dump({"generator": "test/golden/generate.py", "torch": torch.__version__, "cases": out}, f, separators=(",", ":"))
        print(f"{path}: {len(out)} cases")


if __name__ == "__main__":
    main()
