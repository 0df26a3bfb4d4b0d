"""Low-level numerical utilities: radial bases, smooth cutoffs, activation normalisation, and e3nn's small
linear-algebra and permutation helpers (``direct_sum``, ``orthonormalize``, ``complete_basis``, ``perm``).

>>> import torch
>>> from steertorch.math import soft_one_hot_linspace
>>> soft_one_hot_linspace(torch.tensor([0.5]), 0.0, 1.0, 3, basis="gaussian", cutoff=False).shape
torch.Size([1, 3])
"""

from . import perm
from ._bessel import bessel
from ._linalg import complete_basis, direct_sum, orthonormalize
from ._normalize_activation import e3nn_compatible_constants, moment, normalize2mom
from ._radial import cosine_cutoff, polynomial_cutoff, soft_one_hot_linspace, soft_unit_step
from ._reduce import germinate_formulas, reduce_permutation

__all__ = [
    "soft_one_hot_linspace",
    "soft_unit_step",
    "polynomial_cutoff",
    "cosine_cutoff",
    "moment",
    "normalize2mom",
    "e3nn_compatible_constants",
    "bessel",
    "direct_sum",
    "orthonormalize",
    "complete_basis",
    "perm",
    "germinate_formulas",
    "reduce_permutation",
]
