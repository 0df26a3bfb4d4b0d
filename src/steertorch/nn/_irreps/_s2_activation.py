r"""Pointwise nonlinearity on signals on the sphere (e3nn's ``nn.S2Activation``).

A feature with one copy of each degree, :math:`A = (A^0, A^1, \dots, A^L)`, is the signal
:math:`f(x) = \sum_l c_l\, A^l \cdot Y^l(x)` on the sphere. The activation samples f on an
exact quadrature grid (:func:`~steertorch.o3.s2_grid`), applies :math:`\phi` pointwise and
projects back onto the harmonics of degree at most ``lmax_out``:

.. math::

    B^j = d_j \int_{S^2} \phi\Big(\sum_l c_l\, A^l \cdot Y^l(x)\Big)\, Y^j(x)\, dx, \qquad j \le L_\mathrm{out}.

Rotating the sphere commutes with a pointwise map, so the layer is equivariant; on the grid this
holds exactly when the integrand is band-limited: for :math:`\phi` a polynomial of degree k, when
:math:`k L + L_\mathrm{out} \le` ``resolution``. For other :math:`\phi` (relu, tanh) the
equivariance error decreases as the resolution grows.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..._dtype import ExactConstants, check_input_dtype, module_dtype
from ...math import normalize2mom
from ...o3 import Irreps, s2_grid, spherical_harmonics
from ._activation import function_parity

__all__ = ["S2Activation"]

_NORMALIZATIONS = ("component", "norm", "integral")


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _sphere_parities(irreps: Irreps) -> tuple[int, int]:
    r"""``(p_val, p_arg)`` with ``irreps == [(1, (l, p_val * p_arg**l)) for l in 0..L]``, else ``ValueError``.

    The signal then transforms under the inversion as :math:`f(x) \mapsto p_\mathrm{val} f(p_\mathrm{arg} x)`.
    """
    lmax = irreps.lmax if len(irreps) else -1
    if len(irreps) == 0 or any(mul != 1 for mul, _ in irreps) or irreps.ls != list(range(lmax + 1)):
        raise ValueError(f"S2Activation needs one copy of each degree 0, 1, ..., L (e.g. '0e + 1o + 2e' or "
                         f"'0e + 1e + 2e'), got {irreps}")
    p_val = irreps[0].ir.p
    if all(ir.p == p_val for _, ir in irreps):
        return p_val, 1
    if all(ir.p == p_val * (-1) ** ir.l for _, ir in irreps):
        return p_val, -1
    raise ValueError(f"S2Activation: the parities of {irreps} are neither all equal ('0e + 1e + 2e') nor "
                     f"alternating ('0e + 1o + 2e'), so the signal on the sphere has no parity")


class S2Activation(ExactConstants):
    r"""Apply ``act`` pointwise to the signal on the sphere whose harmonic coefficients are the input.

    Args:
        irreps: one copy of each degree 0..L, parities :math:`p_\mathrm{val} p_\mathrm{arg}^l`
            (``Irreps.spherical_harmonics(L, p)`` or its negative).
        act: the scalar function :math:`\phi`, normalised to unit second moment
            (:class:`~steertorch.math.normalize2mom`). If the input is odd (:math:`p_\mathrm{val} = -1`)
            :math:`\phi` must be odd or even (``ValueError`` otherwise), as e3nn.
        resolution: the quadrature (``s2_grid(ceil(resolution / 2))``,
            :math:`(\lceil r/2 \rceil + 1)(2 \lceil r/2 \rceil + 1)` points) integrates exactly every
            function of degree at most ``resolution``. At least ``L + lmax_out``.
        normalization: ``"component"`` (default), ``"norm"`` or ``"integral"``, e3nn's conventions:
            with ``"component"``, :math:`c_l = 1 / \sqrt{(L+1)(2l+1)}` on component-normalised
            harmonics, so coefficients of unit variance give a signal of unit variance.
        lmax_out: the largest output degree (default L).
        random_rot: rotate the grid by a random rotation at each call (as e3nn): the aliasing error of
            non-polynomial activations then has no preferred direction (but the output is random).

    The output has :math:`p_\mathrm{val}' = p_\mathrm{val}` (or the parity of :math:`\phi` when
    :math:`p_\mathrm{val} = -1`) and the same :math:`p_\mathrm{arg}`. Constants are buffers in the default dtype.
    Values equal e3nn's ``S2Activation`` whenever both quadratures are exact (e.g. polynomial :math:`\phi`).

    >>> act = S2Activation("0e + 1o + 2e", torch.tanh, resolution=20)
    >>> act.irreps_out
    1x0e+1x1o+1x2e
    >>> act(torch.randn(4, 9)).shape
    torch.Size([4, 9])
    >>> S2Activation("0o + 1e", torch.abs, resolution=4, lmax_out=2).irreps_out
    1x0e+1x1o+1x2e
    """

    def __init__(self, irreps: object, act: Callable[[torch.Tensor], torch.Tensor], resolution: int,
                 normalization: str = "component", lmax_out: int | None = None, random_rot: bool = False) -> None:
        super().__init__()
        irreps = Irreps(irreps).simplify()
        p_val, p_arg = _sphere_parities(irreps)
        lmax = irreps.lmax
        lmax_out = lmax if lmax_out is None else _check_int("lmax_out", lmax_out, 0)
        resolution = _check_int("resolution", resolution, 0)
        if resolution < lmax + lmax_out:
            raise ValueError(f"S2Activation: resolution must be at least lmax_in + lmax_out = {lmax + lmax_out} "
                             f"(the grid must at least reproduce the identity), got {resolution}")
        if normalization not in _NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
        self.act = normalize2mom(act)
        if p_val == -1:
            p_act = function_parity(self.act)
            if p_act == 0:
                raise ValueError(f"S2Activation: the input {irreps} is odd (0o), so act must be odd or even; "
                                 f"{act!r} is neither")
            p_val = p_act
        self.irreps_in = irreps
        self.irreps_out = Irreps([(1, (l, p_val * p_arg**l)) for l in range(lmax_out + 1)])
        self.lmax_in, self.lmax_out, self.resolution = lmax, lmax_out, resolution
        self.normalization = normalization
        self.random_rot = bool(random_rot)

        points, weights = s2_grid((resolution + 1) // 2)
        self.grid_size = points.shape[0]
        lmax_all = max(lmax, lmax_out)
        Y = spherical_harmonics(list(range(lmax_all + 1)), points, normalization="component")  # [N, (lmax_all+1)^2]
        c_in, c_out = self._constants(lmax, normalization)
        scale_in = torch.cat([torch.full((2 * l + 1,), c_in(l), dtype=torch.float64) for l in range(lmax + 1)])
        scale_out = torch.cat([torch.full((2 * l + 1,), c_out(l), dtype=torch.float64)
                               for l in range(lmax_out + 1)])
        to_grid = Y[:, : (lmax + 1) ** 2].T * scale_in[:, None]  # [D_in, N]
        from_grid = weights[:, None] * Y[:, : (lmax_out + 1) ** 2] * scale_out  # [N, D_out]
        self.register_constant("to_grid", to_grid)  # float64 masters (ExactConstants)
        self.register_constant("from_grid", from_grid)

    @staticmethod
    def _constants(lmax: int, normalization: str) -> tuple[Callable[[int], float], Callable[[int], float]]:
        r"""e3nn's ToS2Grid / FromS2Grid factors on component-normalised harmonics :math:`Y^l`
        (:math:`\int (Y^l_m)^2 = 4\pi`): signal :math:`f = \sum_l c^\mathrm{in}_l A^l \cdot Y^l`,
        coefficients :math:`B^j = c^\mathrm{out}_j \int g\, Y^j`, with
        :math:`c^\mathrm{in}_l c^\mathrm{out}_l 4\pi = 1` so the two are inverse."""
        n = lmax + 1
        if normalization == "component":
            return (lambda l: 1 / math.sqrt(n * (2 * l + 1))), (lambda l: math.sqrt(n * (2 * l + 1)) / (4 * math.pi))
        if normalization == "norm":
            return (lambda l: 1 / math.sqrt(n)), (lambda l: math.sqrt(n) / (4 * math.pi))
        return (lambda l: 1 / math.sqrt(4 * math.pi)), (lambda l: 1 / math.sqrt(4 * math.pi))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features`` ``[..., irreps_in.dim]`` -> ``[..., irreps_out.dim]``."""
        if not isinstance(features, torch.Tensor) or features.dim() == 0 or features.shape[-1] != self.irreps_in.dim:
            shape = list(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(f"S2Activation: expected features of irreps {self.irreps_in} (last dim "
                             f"{self.irreps_in.dim}), got shape {shape}")
        check_input_dtype("S2Activation", "input features", features, module_dtype(self))
        to_grid, from_grid = self.to_grid, self.from_grid
        if self.random_rot:
            from ...o3 import rand_matrix

            R = rand_matrix(dtype=features.dtype, device=features.device)
            # rotating the grid points by R^T: Y(R^T x_i) = D(R)^T Y(x_i)
            to_grid = self.irreps_in.D_from_matrix(R).T @ to_grid
            from_grid = from_grid @ self.irreps_out.D_from_matrix(R)
        return self.act(features @ to_grid) @ from_grid

    def extra_repr(self) -> str:
        return (f"{self.irreps_in} -> {self.irreps_out}, resolution={self.resolution} ({self.grid_size} points), "
                f"normalization={self.normalization!r}")
