r"""Pointwise nonlinearity on signals on the rotation group (e3nn's ``nn.SO3Activation``).

A feature of irreps :math:`\bigoplus_{l \le L} (2l+1) \times l\mathrm{e}` holds, for each degree, a
:math:`(2l+1) \times (2l+1)` matrix :math:`F^l` (copy u = row, component = column, e3nn's layout):
the Fourier coefficients of the function on SO(3)

.. math::

    f(g) = \frac{1}{\sqrt{\dim}} \sum_{l \le L} \sqrt{2l+1}\, \sum_{mn} F^l_{mn}\, D^l_{mn}(g),
    \qquad \dim = \sum_{l \le L} (2l+1)^2,

with :math:`D^l` :func:`~steertorch.o3.wigner_D` (unit variance coefficients give a unit variance
signal). The activation samples f on an exact quadrature of SO(3) (``so3_group().quadrature``),
applies :math:`\phi` pointwise and projects back with the normalised Haar measure:

.. math::

    G^j_{mn} = \sqrt{\dim_\mathrm{out}}\, \sqrt{2j+1} \int_{SO(3)} \phi(f(g))\, D^j_{mn}(g)\, dg.

Right translation :math:`f(g) \mapsto f(g R)` maps :math:`F^l \mapsto F^l D^l(R)^\top`, i.e. every copy
rotates by :math:`D^l(R)`: the action of the irreps above. Left translation :math:`f(g) \mapsto f(R^{-1} g)`
maps :math:`F^l \mapsto D^l(R) F^l` (it mixes the copies). A pointwise :math:`\phi` commutes with both,
and the inversion acts trivially (all irreps are even), so the layer is O(3)-equivariant; on the grid
exactly when :math:`\phi` is a polynomial of degree k with :math:`k L_\mathrm{in} + L_\mathrm{out} \le`
``resolution``, approximately otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..._dtype import ExactConstants, check_input_dtype, module_dtype
from ...math import normalize2mom
from ...o3 import Irreps, wigner_D

__all__ = ["SO3Activation", "so3_irreps"]


def so3_irreps(lmax: int) -> Irreps:
    r"""The irreps :math:`\bigoplus_{l \le L} (2l+1) \times l\mathrm{e}` of the Fourier coefficients of a
    function on SO(3) band-limited to ``lmax``.

    >>> so3_irreps(2)
    1x0e+3x1e+5x2e
    """
    if isinstance(lmax, bool) or not isinstance(lmax, int) or lmax < 0:
        raise ValueError(f"lmax must be an int >= 0, got {lmax!r}")
    return Irreps([(2 * l + 1, (l, 1)) for l in range(lmax + 1)])


def _flat_wigner(lmax: int, R: torch.Tensor) -> torch.Tensor:
    r"""``[..., dim]``: :math:`\sqrt{2l+1}\, D^l(R)` flattened row-major, for l = 0..lmax."""
    return torch.cat([math.sqrt(2 * l + 1) * wigner_D(l, R, check=False).flatten(-2) for l in range(lmax + 1)], -1)


class SO3Activation(ExactConstants):
    r"""Apply ``act`` pointwise to the signal on SO(3) whose Fourier coefficients are the input.

    Args:
        lmax_in: band limit of the input, irreps :func:`so3_irreps` (``lmax_in``).
        lmax_out: band limit of the output, irreps :func:`so3_irreps` (``lmax_out``).
        act: the scalar function :math:`\phi`, normalised to unit second moment
            (:class:`~steertorch.math.normalize2mom`).
        resolution: the quadrature integrates exactly every matrix coefficient of degree at most
            ``resolution``: :math:`(r+1)^2 (\lfloor r/2 \rfloor + 1)` rotations (Euler angles, uniform in the
            two azimuths, Gauss-Legendre in the cosine of the polar one). At least ``lmax_in + lmax_out``.
            With ``grid="e3nn"``: e3nn's meaning (the :class:`~steertorch.o3.SO3Grid` of that resolution).
        normalization, aspect_ratio: e3nn's keywords, for ``grid="e3nn"`` (the exact quadrature has the
            ``"component"`` normalisation and no aspect ratio).
        grid: ``"exact"`` (default: the quadrature above) or ``"e3nn"`` (e3nn's grid, which integrates
            exactly only some degrees: e3nn's outputs bit for bit, for code that must reproduce them).

    Same values as e3nn's ``SO3Activation`` (``normalization="component"``) whenever both grids are exact.
    Constants are buffers in the default dtype.

    >>> act = SO3Activation(1, 2, torch.tanh, resolution=8)
    >>> act.irreps_in, act.irreps_out
    (1x0e+3x1e, 1x0e+3x1e+5x2e)
    >>> act(torch.randn(4, 10)).shape
    torch.Size([4, 35])
    """

    def __init__(self, lmax_in: int, lmax_out: int, act: Callable[[torch.Tensor], torch.Tensor],
                 resolution: int, *, normalization: str = "component", aspect_ratio: int = 2,
                 grid: str = "exact") -> None:
        super().__init__()
        self.irreps_in, self.irreps_out = so3_irreps(lmax_in), so3_irreps(lmax_out)
        if grid not in ("exact", "e3nn"):
            raise ValueError(f"SO3Activation: grid must be 'exact' or 'e3nn', got {grid!r}")
        self.grid = grid
        if grid == "e3nn":
            from ...o3 import SO3Grid

            self.lmax_in, self.lmax_out, self.resolution = lmax_in, lmax_out, resolution
            self.act = normalize2mom(act)
            self.grid_in = SO3Grid(lmax_in, resolution, normalization=normalization, aspect_ratio=aspect_ratio)
            self.grid_out = SO3Grid(lmax_out, resolution, normalization=normalization, aspect_ratio=aspect_ratio)
            self.grid_size = self.grid_in.res_alpha * self.grid_in.res_beta * self.grid_in.res_gamma
            return
        if normalization != "component":
            raise ValueError(f"SO3Activation: the exact grid has the 'component' normalization, got "
                             f"{normalization!r} (pass grid='e3nn' for e3nn's other normalizations)")
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < lmax_in + lmax_out:
            raise ValueError(f"SO3Activation: resolution must be an int >= lmax_in + lmax_out = {lmax_in + lmax_out} "
                             f"(the grid must at least reproduce the identity), got {resolution!r}")
        from ...group import so3_group

        self.lmax_in, self.lmax_out, self.resolution = lmax_in, lmax_out, resolution
        self.act = normalize2mom(act)
        R, w = so3_group().quadrature(resolution)
        self.grid_size = R.shape[0]
        d_in, d_out = self.irreps_in.dim, self.irreps_out.dim
        to_grid = _flat_wigner(lmax_in, R).T / math.sqrt(d_in)  # [d_in, K]
        from_grid = w[:, None] * _flat_wigner(lmax_out, R) * math.sqrt(d_out)  # [K, d_out]
        self.register_constant("to_grid", to_grid)  # float64 masters (ExactConstants)
        self.register_constant("from_grid", from_grid)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features`` ``[..., irreps_in.dim]`` -> ``[..., irreps_out.dim]``."""
        if not isinstance(features, torch.Tensor) or features.dim() == 0 or features.shape[-1] != self.irreps_in.dim:
            shape = list(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(f"SO3Activation: expected features of irreps {self.irreps_in} (last dim "
                             f"{self.irreps_in.dim}), got shape {shape}")
        check_input_dtype("SO3Activation", "input features", features, module_dtype(self))
        if self.grid == "e3nn":
            return self.grid_out.from_grid(self.act(self.grid_in.to_grid(features)))
        signal = features @ self.to_grid
        return self.act(signal) @ self.from_grid

    def extra_repr(self) -> str:
        return (f"{self.irreps_in} -> {self.irreps_out}, resolution={self.resolution} "
                f"({self.grid_size} rotations{'' if self.grid == 'exact' else ', e3nn grid'})")
