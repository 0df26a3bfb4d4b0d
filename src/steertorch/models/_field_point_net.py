r"""A message-passing network of :class:`~steertorch.graph.FieldPointConv` layers for any G-space on R^3 (or R^2).

Hidden features are ``hidden`` scalar fields and ``hidden`` vector fields (the G-space's action on R^d,
``basespace_repr``: for a subgroup of O(3) the vector is reducible, e.g. xy-rotation plus an invariant z under
SO(2) about z, so the same network is as expressive as the group allows). One layer is

.. math::  h_i \leftarrow h_i + \sigma\Big(\tfrac{1}{\sqrt 2}\Big(\tfrac{1}{\sqrt{n_i}} \sum_j k(p_j - p_i, a_{ij})\,
           h_j + W h_i\Big)\Big)

with :math:`k` a steerable kernel (:class:`~steertorch.nn.ImplicitKernel` with edge attributes
:math:`a_{ij}`, or the analytic :class:`~steertorch.nn.BasisKernel`, which takes none), :math:`W` an equivariant
self-interaction (:class:`~steertorch.nn.FieldLinear`) and :math:`\sigma` SiLU on the scalars and a sigmoid gate
per vector field (:class:`~steertorch.nn.GatedNonLinearity1`). An input and an output
:class:`~steertorch.nn.FieldLinear` map between the given field types and the hidden one. The network is
equivariant to translations, to G and to permutations of the nodes: it is exactly as symmetric as its G-space.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..graph import FieldPointConv
from ..nn import BasisKernel, FieldLinear, FieldType, GatedNonLinearity1, ImplicitKernel

__all__ = ["FieldPointNet"]

_KERNELS = ("implicit", "analytic")
_HALF_SQRT = 0.5 ** 0.5  # the sum of two unit-moment terms, back to unit moment


class _GatedBlock(nn.Module):
    """SiLU on the first ``m`` (scalar) channels, the gates sigmoid(g) on the vector fields (GatedNonLinearity1)."""

    def __init__(self, pre: FieldType, m: int) -> None:
        super().__init__()
        self.m = m
        gated = FieldType(pre.gspace, pre.representations[m:])
        self.gate = GatedNonLinearity1(gated)
        self._d = pre.gspace.dimensionality

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, rest = x[:, :self.m], x[:, self.m:]
        gated = self.gate(rest.reshape(*rest.shape, *([1] * self._d)))  # the grid module on [N, C, 1, ..., 1]
        return torch.cat([torch.nn.functional.silu(s), gated.reshape(x.shape[0], self.gate.out_type.size)], dim=1)


class FieldPointNet(nn.Module):
    r"""Message passing with steerable point convolutions (see the module docstring).

    Args:
        gspace: the G-space (e.g. ``flipRot3dOnR3()``, ``conicalOnR3()``, ``rot2dOnR3()``).
        in_type, out_type: node input and output field types of ``gspace``.
        hidden: number of scalar fields and of vector fields of the hidden features.
        num_layers: number of message-passing layers.
        kernel: ``"implicit"`` (:class:`~steertorch.nn.ImplicitKernel`, MLP widths ``mlp_hidden``,
            ``num_edge_attr`` invariant edge attributes) or ``"analytic"`` (:class:`~steertorch.nn.BasisKernel`
            with Gaussian rings at ``radii`` (default ``0, r_max/4, r_max/2, 3 r_max/4``, width ``r_max/6``), angular
            frequencies up to ``band_limit`` on every ring but the one at 0; edge attributes are not used). The
            implicit kernels' MLP has the same band limit, 2, by default (that of a vector-to-vector kernel).
        r_max: cutoff radius of the kernels.

    ``forward(x, pos, edge_index, edge_attr=None)`` -> ``[N, out_type.size]``.

    >>> import torch
    >>> from steertorch.gspaces import conicalOnR3
    >>> gs = conicalOnR3()
    >>> t_in = FieldType(gs, [gs.trivial_repr, gs.basespace_repr])
    >>> t_out = FieldType(gs, [gs.basespace_repr])
    >>> net = FieldPointNet(gs, t_in, t_out, hidden=2, num_layers=1, mlp_hidden=(4,), num_edge_attr=1)
    >>> pos, edge_index = torch.randn(3, 3), torch.tensor([[0, 1, 2], [1, 2, 0]])
    >>> net(torch.randn(3, 4), pos, edge_index, torch.randn(3, 1)).shape
    torch.Size([3, 3])
    """

    def __init__(self, gspace, in_type: FieldType, out_type: FieldType, hidden: int = 8, num_layers: int = 3,
                 kernel: str = "implicit", r_max: float = 4.0, mlp_hidden: Sequence[int] = (8,),
                 num_edge_attr: int = 0, radii: Sequence[float] | None = None, band_limit: int = 2,
                 normalization: str | float = "sqrt_degree") -> None:
        super().__init__()
        if kernel not in _KERNELS:
            raise ValueError(f"FieldPointNet: kernel must be one of {_KERNELS}, got {kernel!r}")
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"FieldPointNet: hidden must be an int >= 1, got {hidden!r}")
        m = hidden
        self.gspace, self.in_type, self.out_type, self.kernel_kind = gspace, in_type, out_type, kernel
        self.num_edge_attr = num_edge_attr if kernel == "implicit" else 0
        scalar, vector = gspace.trivial_repr, gspace.basespace_repr
        h_type = FieldType(gspace, [scalar] * m + [vector] * m)
        pre = FieldType(gspace, [scalar] * m + [scalar] * m + [vector] * m)  # scalars, gates, gated vectors
        self.hidden_type = h_type
        self.embed = FieldLinear(in_type, h_type)
        rings = [r_max * i / 4 for i in range(4)] if radii is None else list(radii)
        # every ring of radius > 0 gets the angular frequencies up to band_limit, whatever the unit of length
        # (BasisKernel's default, floor(2 r), depends on it: r in grid cells)
        r_min = min([r for r in rings if r > 0], default=1.0)
        ring_cutoff = (band_limit + 0.5) / r_min
        self.convs = nn.ModuleList()
        self.selfs = nn.ModuleList()
        self.acts = nn.ModuleList()
        for _ in range(num_layers):
            if kernel == "implicit":
                k = ImplicitKernel(gspace, h_type, pre, hidden=list(mlp_hidden), r_max=r_max,
                                   attributes=self.num_edge_attr or None)
            else:
                k = BasisKernel(h_type, pre, radii=rings, sigma=r_max / 6, r_max=r_max, maximum_frequency=band_limit,
                                frequency_cutoff=ring_cutoff)
            self.convs.append(FieldPointConv(h_type, pre, kernel=k, normalization=normalization))
            self.selfs.append(FieldLinear(h_type, pre, bias=False))
            self.acts.append(_GatedBlock(pre, m))
        self.readout = FieldLinear(h_type, out_type)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, edge_index: torch.Tensor,
                edge_attr: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_edge_attr == 0:
            edge_attr = None
        h = self.embed(x)
        for conv, lin, act in zip(self.convs, self.selfs, self.acts):
            h = h + act((conv(h, pos, edge_index, edge_attr) + lin(h)) * _HALF_SQRT)
        return self.readout(h)
