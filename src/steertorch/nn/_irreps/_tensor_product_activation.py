r"""Tensor-product (quadratic, Clebsch-Gordan) nonlinearity.

The nonlinearity of Clebsch-Gordan nets (Kondor, Lin, Trivedi, "Clebsch-Gordan Nets: a Fully
Fourier Space Spherical Convolutional Neural Network", NeurIPS 2018): the tensor square of the
feature, reduced to irreps by Clebsch-Gordan coefficients, then mixed linearly,

.. math::

    y = W \big( x \otimes x \big), \qquad
    y_w^{(L)} = \sum_{l_1 \le l_2 \to L} \sum_{u \le v} W_{uv,w}\, C^{L}_{l_1 l_2}(x_u^{(l_1)}, x_v^{(l_2)}),

with :class:`~steertorch.o3.TensorSquare` (every pair of copies once) and :class:`~steertorch.o3.Linear`.
It is a polynomial map, so it is exactly O(3)-equivariant (parity included, as the square of
:math:`x \mapsto -x` is even), needs no grid, and its gradients are defined everywhere.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..._dtype import check_input_dtype, module_dtype
from ...o3 import Irreps, Linear, TensorSquare

__all__ = ["TensorProductActivation"]


class TensorProductActivation(nn.Module):
    r"""Quadratic equivariant nonlinearity :math:`x \mapsto \mathrm{Linear}(x \otimes x)` (Clebsch-Gordan nets).

    Args:
        irreps_in: irreps of the input.
        irreps_out: irreps of the output (default ``irreps_in``); every output irrep must occur in
            :math:`x \otimes x` (``ValueError`` otherwise: it would be zero forever).
        residual: return :math:`(x + \mathrm{Linear}(x \otimes x)) / \sqrt{2}` (needs ``irreps_out == irreps_in``).

    Initialisation: each block of the square has unit second moment for a standard normal input
    (:class:`~steertorch.o3.TensorSquare`'s normalisation) and :class:`~steertorch.o3.Linear` keeps it,
    so the output has unit second moment at init (with or without the residual, whose two terms are
    uncorrelated over the random weights). Parameters: those of ``linear`` (e3nn's layout).

    >>> act = TensorProductActivation("4x0e + 2x1o", "4x0e + 2x1o + 1x1e")
    >>> act.square.irreps_out
    6x0e+4x0e+1x0e+2x0e+8x1o+1x1e
    >>> act(torch.randn(3, 10)).shape
    torch.Size([3, 13])
    """

    def __init__(self, irreps_in: object, irreps_out: object = None, residual: bool = False) -> None:
        super().__init__()
        self.residual = bool(residual)
        self.irreps_in = Irreps(irreps_in)
        self.irreps_out = self.irreps_in if irreps_out is None else Irreps(irreps_out)
        if self.irreps_in.dim == 0:
            raise ValueError(f"TensorProductActivation needs a non-empty input, got irreps_in={self.irreps_in}")
        wanted = [ir for mul, ir in self.irreps_out if mul > 0]
        self.square = TensorSquare(self.irreps_in, filter_ir_out=sorted(set(wanted)) or None)
        missing = sorted({ir for ir in wanted if ir not in self.square.irreps_out})
        if missing or not wanted:
            produced = sorted({ir for _, ir in TensorSquare(self.irreps_in).irreps_out})
            raise ValueError(f"TensorProductActivation: irreps_out {self.irreps_out} asks for "
                             f"{'+'.join(map(str, missing)) or 'nothing'}, which x (x) x does not contain for "
                             f"irreps_in {self.irreps_in} (it contains {'+'.join(map(str, produced))})")
        if self.residual and self.irreps_in != self.irreps_out:
            raise ValueError(f"TensorProductActivation: residual=True needs irreps_out == irreps_in, got "
                             f"{self.irreps_in} -> {self.irreps_out}")
        self.linear = Linear(self.square.irreps_out.simplify(), self.irreps_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[..., irreps_in.dim]`` -> ``[..., irreps_out.dim]``."""
        if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[-1] != self.irreps_in.dim:
            shape = list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"TensorProductActivation: expected features of irreps {self.irreps_in} (last dim "
                             f"{self.irreps_in.dim}), got shape {shape}")
        check_input_dtype("TensorProductActivation", "input x", x, module_dtype(self))
        y = self.linear(self.square(x))
        if self.residual:
            y = (x + y) * (1 / math.sqrt(2))
        return y

    def extra_repr(self) -> str:
        return f"{self.irreps_in} -> {self.irreps_out}{', residual' if self.residual else ''}"
