r"""Norm-based nonlinearity (e3nn's ``nn.NormActivation``).

Each irrep copy :math:`v \in \mathbb{R}^{2l+1}` is rescaled by a function of its norm, which is
invariant under O(3), so the output transforms like :math:`v`:

.. math::

    v \mapsto \frac{v}{\|v\|_\epsilon}\, f(\|v\|_\epsilon + b) \quad (\texttt{normalize=True}), \qquad
    v \mapsto v\, f(\|v\|_\epsilon + b) \quad (\texttt{normalize=False}),

with :math:`\|v\|_\epsilon = \max(\|v\|, \epsilon)` and :math:`b` an optional learned bias per
copy (zero at init). The clamp makes :math:`v = 0` safe: the output is 0 and every gradient is
finite (e3nn clamps only when ``normalize``; here always, so ``normalize=False`` is safe too).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ..._dtype import check_input_dtype, module_dtype
from ...o3 import Irreps
from ...o3._empty import register_weight

__all__ = ["NormActivation"]


def _chi_second_moment(f: Callable[[torch.Tensor], torch.Tensor], d: int, normalize: bool) -> float:
    r""":math:`\mathbb{E}\,\|y\|^2` for :math:`v \sim \mathcal{N}(0, I_d)` and y the output above (b = 0), by Simpson's
    rule on the chi-distributed radius (density :math:`\propto r^{d-1} e^{-r^2/2}`, self-normalised)."""
    n = 8001
    r = torch.linspace(0.0, math.sqrt(d) + 14.0, n, dtype=torch.float64)
    simpson = torch.ones(n, dtype=torch.float64)
    simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
    density = simpson * r.pow(d - 1) * torch.exp(-r * r / 2)
    with torch.no_grad():
        fr = f(r.clamp(min=1e-300)).to(torch.float64)
    g = fr * fr if normalize else fr * fr * r * r
    return float((density * g).sum() / density.sum())


class NormActivation(nn.Module):
    r"""Norm nonlinearity on every irrep copy of ``irreps_in`` (``irreps_out == irreps_in``).

    Args:
        irreps_in: irreps of the input (and output).
        scalar_nonlinearity: :math:`f`, acting elementwise on the norms (e.g. ``torch.sigmoid``).
        normalize: divide :math:`v` by its norm before scaling (default True, as e3nn).
        epsilon: the norm is clamped to at least ``epsilon`` (default 1e-8, > 0).
        bias: learn an additive bias per copy (parameter ``biases`` ``[num_irreps]``, zeros at init).
        normalize_moment: also scale each block by the constant that makes the output's
            component second moment 1 for standard normal inputs (default False: e3nn's values).

    >>> n = NormActivation("2x1e", torch.sigmoid)
    >>> y = n(torch.ones(1, 6))
    >>> y.reshape(2, 3).norm(dim=-1)
    tensor([0.8497, 0.8497])
    >>> NormActivation("1o", torch.sigmoid)(torch.zeros(3))
    tensor([0., 0., 0.])
    """

    def __init__(self, irreps_in: object, scalar_nonlinearity: Callable[[torch.Tensor], torch.Tensor],
                 normalize: bool = True, epsilon: float = 1e-8, bias: bool = False,
                 normalize_moment: bool = False) -> None:
        super().__init__()
        self.irreps_in = Irreps(irreps_in)
        self.irreps_out = self.irreps_in
        if not callable(scalar_nonlinearity):
            raise ValueError(f"scalar_nonlinearity must be callable, got {scalar_nonlinearity!r}")
        if epsilon is None or not epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
        self.scalar_nonlinearity = scalar_nonlinearity
        self.normalize = normalize
        self.epsilon = float(epsilon)
        self.bias = bias
        if bias:
            register_weight(self, "biases", torch.zeros(self.irreps_in.num_irreps))  # a buffer if empty
        consts = {}
        if normalize_moment:
            for _, ir in self.irreps_in:
                if ir.dim not in consts:
                    m2 = _chi_second_moment(scalar_nonlinearity, ir.dim, normalize)
                    if not (math.isfinite(m2) and m2 > 0):
                        raise ValueError(f"cannot normalise {scalar_nonlinearity!r}: output second moment {m2}")
                    consts[ir.dim] = math.sqrt(ir.dim / m2)
        self.normalize_moment = normalize_moment
        self._blocks = []
        start, copy = 0, 0
        for mul, ir in self.irreps_in:
            self._blocks.append((start, copy, mul, ir.dim, consts.get(ir.dim, 1.0)))
            start += mul * ir.dim
            copy += mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[..., irreps_in.dim]`` -> ``[..., irreps_in.dim]``."""
        if x.shape[-1] != self.irreps_in.dim:
            raise ValueError(f"NormActivation: expected features of irreps {self.irreps_in} (last dim "
                             f"{self.irreps_in.dim}), got shape {list(x.shape)}")
        check_input_dtype("NormActivation", "input x", x, module_dtype(self))
        batch = x.shape[:-1]
        eps2 = self.epsilon * self.epsilon
        out = []
        for start, copy, mul, d, cst in self._blocks:
            v = x.narrow(-1, start, mul * d).reshape(*batch, mul, d)
            norm = v.pow(2).sum(-1).clamp(min=eps2).sqrt()  # [..., mul]; clamp: zero gradient below eps
            arg = norm + self.biases.narrow(0, copy, mul) if self.bias else norm
            scale = self.scalar_nonlinearity(arg)
            if cst != 1.0:
                scale = scale * cst
            if self.normalize:
                scale = scale / norm
            out.append((v * scale.unsqueeze(-1)).reshape(*batch, mul * d))
        if not out:
            return x
        return torch.cat(out, dim=-1) if len(out) > 1 else out[0]

    def extra_repr(self) -> str:
        name = getattr(self.scalar_nonlinearity, "__name__", type(self.scalar_nonlinearity).__name__)
        return f"{self.irreps_in}, {name}, normalize={self.normalize}, bias={self.bias}"
