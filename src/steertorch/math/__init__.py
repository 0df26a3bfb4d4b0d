"""Low-level numerical utilities: radial bases, smooth cutoffs, activation normalisation.

>>> import torch
>>> from steertorch.math import soft_one_hot_linspace
>>> soft_one_hot_linspace(torch.tensor([0.5]), 0.0, 1.0, 3, basis="gaussian", cutoff=False).shape
torch.Size([1, 3])
"""

from ._normalize_activation import moment, normalize2mom
from ._radial import cosine_cutoff, polynomial_cutoff, soft_one_hot_linspace, soft_unit_step

__all__ = [
    "soft_one_hot_linspace",
    "soft_unit_step",
    "polynomial_cutoff",
    "cosine_cutoff",
    "moment",
    "normalize2mom",
]
