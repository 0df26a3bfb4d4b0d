r"""Equivariant dropout of whole irrep copies (e3nn's ``nn.Dropout``).

For input :math:`A_{z a i k}` (z the batch, a any middle dimensions, i the irrep copy, k its
2l+1 components):

.. math::

    B_{z a i k} = \frac{\xi_{z i}}{1 - p}\, A_{z a i k}, \qquad \xi_{z i} \sim \mathrm{Bernoulli}(1 - p),

one mask value per sample and copy, shared by the components of the copy (a rotation mixes
them, so they must be kept or dropped together) and, as e3nn, by the middle dimensions.
:math:`\mathbb{E}[B] = A`; identity in eval mode.
"""

from __future__ import annotations

import torch
from torch import nn

from ..._dtype import check_input_dtype, module_dtype
from ...o3 import Irreps

__all__ = ["Dropout"]


class Dropout(nn.Module):
    r"""Drop irrep copies of ``irreps`` with probability ``p`` in training; features ``[batch, ..., irreps.dim]``.

    >>> drop = Dropout("2x0e + 1x1o", p=0.5)
    >>> y = drop(torch.ones(4, 5))
    >>> bool(((y == 0) | (y == 2)).all()), bool((y[:, 2:] == y[:, 2:3]).all())
    (True, True)
    >>> torch.equal(drop.eval()(torch.ones(4, 5)), torch.ones(4, 5))
    True
    """

    def __init__(self, irreps: object, p: float) -> None:
        super().__init__()
        self.irreps = Irreps(irreps)
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability p must be in [0, 1], got {p!r}")
        self.p = float(p)
        copy_of_component = [c for c, d in enumerate(d for mul, ir in self.irreps for d in [ir.dim] * mul)
                             for _ in range(d)]
        self.register_buffer("_copy_index", torch.tensor(copy_of_component, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[batch, ..., irreps.dim]`` -> same shape."""
        if x.dim() < 1 or x.shape[-1] != self.irreps.dim:
            raise ValueError(f"Dropout: expected features [batch, ..., {self.irreps.dim}] of irreps {self.irreps}, "
                             f"got shape {list(x.shape)}")
        check_input_dtype("Dropout", "input x", x, module_dtype(self))
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * 0
        batch = x.shape[0] if x.dim() > 1 else 1
        keep = x.new_empty(batch, self.irreps.num_irreps).bernoulli_(1 - self.p).div_(1 - self.p)
        noise = keep.index_select(1, self._copy_index)  # [batch, dim]
        if x.dim() == 1:
            return x * noise[0]
        return x * noise.reshape(batch, *([1] * (x.dim() - 2)), self.irreps.dim)

    def extra_repr(self) -> str:
        return f"{self.irreps}, p={self.p}"
