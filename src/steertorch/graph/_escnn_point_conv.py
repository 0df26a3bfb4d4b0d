r"""escnn's point convolutions, ``R2PointConv`` / ``R3PointConv``: :class:`FieldPointConv` with escnn's signature,
kernel basis and aggregation.

For a target node i with neighbours j (edges ``j -> i``), :math:`\delta_{ij} = p_j - p_i`,

.. math::  y_i = \frac{1}{|N(i)|} \sum_{j \in N(i)} k(\delta_{ij})\, f_j + b,

with k a learned combination of the analytic steerable basis (:func:`~steertorch.kernels.kernel_basis`) on
Gaussian rings at ``rings`` (default ``linspace(0, width, n_rings)``) of widths ``sigma`` (default 0.6, the last
ring 0.4, a ring at 0 0.005), band-limited per ring to frequencies :math:`|J| \le` ``frequencies_cutoff`` times
the radius (default 3), as escnn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..nn import BasisKernel, FieldType, GeometricTensor
from ._field_point_conv import FieldPointConv

__all__ = ["R2PointConv", "R3PointConv"]


def point_conv_basis_params(width: float | None, n_rings: int | None, rings: Sequence[float] | None,
                            sigma: float | Sequence[float] | None, who: str) -> tuple[list[float], list[float]]:
    """escnn's default rings and widths of the point convolutions (see the module docstring)."""
    if (rings is None) == (width is None or n_rings is None):
        raise ValueError(f"{who}: give either rings, or width and n_rings (got rings={rings!r}, width={width!r}, "
                         f"n_rings={n_rings!r})")
    if rings is None:
        if not width > 0 or isinstance(n_rings, bool) or not isinstance(n_rings, int) or n_rings < 1:
            raise ValueError(f"{who}: width must be > 0 and n_rings an int >= 1, got {width!r}, {n_rings!r}")
        rings = torch.linspace(0, float(width), n_rings, dtype=torch.float64).tolist()
    rings = [float(r) for r in rings]
    if not rings or any(not r >= 0 for r in rings):
        raise ValueError(f"{who}: rings must be radii >= 0, got {rings!r}")
    if sigma is None:
        sigma = [0.6] * (len(rings) - 1) + [0.4]
        sigma = [0.005 if r == 0.0 else s for r, s in zip(rings, sigma)]
    elif isinstance(sigma, (int, float)):
        sigma = [float(sigma)] * len(rings)
    else:
        sigma = [float(s) for s in sigma]
        if len(sigma) != len(rings):
            raise ValueError(f"{who}: sigma needs one width per ring ({len(rings)}), got {len(sigma)}")
    return rings, sigma


class _RdPointConv(FieldPointConv):
    _d = 2

    def __init__(self, in_type: FieldType, out_type: FieldType, groups: int = 1, bias: bool = True,
                 sigma: float | Sequence[float] | None = None, width: float | None = None,
                 n_rings: int | None = None, frequencies_cutoff: float | Callable[[float], int] | None = None,
                 rings: Sequence[float] | None = None, basis_filter: Callable[[dict], bool] | None = None,
                 recompute: bool = False, initialize: bool = True) -> None:
        who = type(self).__name__
        for what, t in (("in_type", in_type), ("out_type", out_type)):
            if not isinstance(t, FieldType) or t.gspace.dimensionality != self._d:
                raise ValueError(f"{who}: {what} must be a FieldType over a G-space on R^{self._d}, got {t!r}")
        if groups != 1:
            raise ValueError(f"{who}: groups != 1 is not supported (escnn raises NotImplementedError too)")
        if basis_filter is not None:
            raise ValueError(f"{who}: basis_filter is not supported (use rings, sigma and frequencies_cutoff)")
        rings, sigma = point_conv_basis_params(width, n_rings, rings, sigma, who)
        fco = 3.0 if frequencies_cutoff is None else frequencies_cutoff
        if isinstance(fco, int) and not isinstance(fco, bool):
            fco = float(fco)
        if not (callable(fco) or isinstance(fco, float)):
            raise ValueError(f"{who}: frequencies_cutoff must be a number or a callable r -> J_max, got {fco!r}")
        kernel = BasisKernel(in_type, out_type, radii=rings, sigma=tuple(sigma), r_max=max(max(rings), 1e-6),
                             cutoff=False, frequency_cutoff=fco)
        if sum(p.numel() for p in kernel.parameters() if p.dim() == 3) == 0:
            raise ValueError(f"{who}: the steerable kernel basis from {in_type!r} to {out_type!r} is empty; tune "
                             "rings, sigma or frequencies_cutoff")
        super().__init__(in_type, out_type, kernel=kernel, normalization="degree", bias=bias)
        self.rings, self.sigma, self.frequencies_cutoff = rings, sigma, fco

    def __call__(self, x, *args, **kwargs):
        if isinstance(x, GeometricTensor):
            if x.type != self.in_type:
                raise ValueError(f"{type(self).__name__}: the input GeometricTensor has type {x.type!r}, but the "
                                 f"module's in_type is {self.in_type!r}")
            return GeometricTensor(super().__call__(x.tensor, *args, coords=x.coords, **kwargs), self.out_type,
                                   x.coords)
        return super().__call__(x, *args, **kwargs)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_delta: torch.Tensor | None = None,
                coords: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``[N, in_type.size]`` (or a ``GeometricTensor`` with ``coords``), ``edge_index`` ``[2, E]``
        (sources, targets), ``edge_delta`` ``[E, d]`` (default ``coords[source] - coords[target]``)."""
        if edge_delta is None and coords is None:
            raise ValueError(f"{type(self).__name__}: needs the points' coords (a GeometricTensor with coords) or "
                             "edge_delta")
        if coords is None:
            coords = torch.zeros(x.shape[0] if isinstance(x, torch.Tensor) else 0, self._d,
                                 dtype=edge_delta.dtype, device=edge_delta.device)
        return super().forward(x, coords, edge_index, edge_vec=edge_delta)


class R2PointConv(_RdPointConv):
    r"""escnn's ``R2PointConv``: the steerable point convolution on graphs of points of the plane (see the module
    docstring), mapping ``in_type`` to ``out_type`` fields of one G-space on :math:`\mathbb{R}^2`.

    Call it as escnn's: ``conv(x, edge_index)`` with ``x`` a ``GeometricTensor`` ``[N, C]`` carrying ``coords``
    ``[N, 2]`` (returns one with the same coords), or ``conv(tensor, edge_index, edge_delta)``. ``groups`` must
    be 1 and ``basis_filter`` None (escnn's filter on basis attributes has no counterpart here); ``recompute``
    and ``initialize`` are accepted (the kernel is always expanded on the fly and initialised normalised).

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(8)
    >>> t_in, t_out = FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.regular_repr])
    >>> conv = R2PointConv(t_in, t_out, width=2.0, n_rings=3)
    >>> x = GeometricTensor(torch.randn(4, 1), t_in, torch.randn(4, 2))
    >>> conv(x, torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])).tensor.shape
    torch.Size([4, 8])
    """

    _d = 2


class R3PointConv(_RdPointConv):
    r"""escnn's ``R3PointConv``: :class:`R2PointConv` for points of space (``coords`` ``[N, 3]``, a G-space on
    :math:`\mathbb{R}^3`).

    >>> import torch
    >>> from steertorch.gspaces import rot3dOnR3
    >>> gs = rot3dOnR3()
    >>> t = FieldType(gs, [gs.irrep(0), gs.irrep(1)])
    >>> conv = R3PointConv(t, t, width=2.0, n_rings=3)
    >>> x = GeometricTensor(torch.randn(5, 4), t, torch.randn(5, 3))
    >>> conv(x, torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]])).tensor.shape
    torch.Size([5, 4])
    """

    _d = 3
