r"""``Norm``: the Euclidean norm of every irrep copy of a feature, as e3nn's ``o3.Norm``.

For irreps :math:`\bigoplus_i m_i \times \rho_i` the output has one scalar per copy,
:math:`\|x_{i,u}\| = (\sum_k x_{i,u,k}^2)^{1/2}` (or its square), invariant under O(3).
"""

from __future__ import annotations

import torch
from torch import nn

from ._empty import connected_zeros
from ._irreps import Irreps

__all__ = ["Norm"]


class Norm(nn.Module):
    r"""Norm of each irrep copy: ``[..., irreps_in.dim]`` -> ``[..., irreps_in.num_irreps]``.

    Args:
        irreps_in: irreps of the input (simplified, as e3nn).
        squared: return :math:`\|x\|^2` instead of :math:`\|x\|`.

    ``irreps_out`` is ``num_irreps x 0e``. The norm's gradient at a zero copy is 0 (not NaN), and
    double backward works.

    >>> norm = Norm("2x0e + 1o")
    >>> norm(torch.tensor([3.0, -4.0, 0.0, 3.0, 4.0])), norm.irreps_out
    (tensor([3., 4., 5.]), 3x0e)
    """

    def __init__(self, irreps_in: object, squared: bool = False) -> None:
        super().__init__()
        self.irreps_in = Irreps(irreps_in).simplify()
        self.irreps_out = Irreps([(mul, "0e") for mul, _ in self.irreps_in]).simplify()
        self.squared = bool(squared)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Norms ``[..., irreps_out.dim]`` of ``features`` ``[..., irreps_in.dim]``."""
        if not isinstance(features, torch.Tensor) or features.dim() == 0 or features.shape[-1] != self.irreps_in.dim:
            got = list(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(f"Norm expected features of irreps {self.irreps_in} (last dim {self.irreps_in.dim}), "
                             f"got {got}")
        batch = features.shape[:-1]
        parts, i = [], 0
        for mul, ir in self.irreps_in:
            block = features[..., i:i + mul * ir.dim].reshape(*batch, mul, ir.dim)
            parts.append((block * block).sum(-1))
            i += mul * ir.dim
        sq = torch.cat(parts, -1) if parts else features.new_zeros(*batch, 0) + connected_zeros(features)
        if self.squared:
            return sq
        positive = sq > 0
        return torch.where(positive, torch.where(positive, sq, 1.0).sqrt(), 0.0)

    def extra_repr(self) -> str:
        return f"{self.irreps_in}, squared={self.squared}"
