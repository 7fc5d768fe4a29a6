"""linalg ops."""
import torch
import torch.nn.functional as F

from cases.common import T, away_from, case, rand, randint, randn

CASES = []
