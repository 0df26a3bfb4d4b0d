r"""Harmonic polynomials of points of :math:`\mathbb{R}^3` as an equivariant map (escnn's
``HarmonicPolynomialR3``)."""

from __future__ import annotations

import torch
from torch import nn

from ..._dtype import check_input_dtype
from ...group import Group, Representation, o3_group, so3_group
from ...o3 import spherical_harmonics
from ._module import EquivariantModule
from ._type import FieldType

__all__ = ["HarmonicPolynomialR3"]


class HarmonicPolynomialR3(EquivariantModule, nn.Module):
    r"""The harmonic polynomials of degree :math:`l = 0, \dots, L` of points :math:`x \in \mathbb{R}^3`,

    .. math::  y(x) = \big(P_0(x), P_1(x), \dots, P_L(x)\big), \qquad P_l(x) = |x|^l\, Y_l(\hat x),

    with :math:`Y_l` the real spherical harmonics of degree l normalised to :math:`|Y_l(\hat x)| = 1`
    (:func:`~steertorch.o3.spherical_harmonics` with ``normalize=False, normalization="norm"``; components
    m = -l..l). Equivariant: :math:`P_l(Rx) = D^l(R)\, P_l(x)` for rotations, and :math:`P_l(-x) = (-1)^l P_l(x)`.

    Types over :func:`~steertorch.gspaces.no_base_space` of ``group`` (``"so3"``, ``"o3"``, or SO(3) / O(3)):
    ``in_type`` the vector representation (irrep 1, or (1, -1) for O(3); the points ``[N, 3]`` in (x, y, z)
    order), ``out_type`` one field of the irreps l = 0..L (O(3): parity :math:`(-1)^l`), of size :math:`(L+1)^2`.

    escnn's module computes the same polynomials with the same norms, written in escnn's basis of each irrep:
    ``escnn_out[l] = Q_l @ ours[l]`` for a fixed orthogonal :math:`Q_l` (tested).

    >>> import torch
    >>> h = HarmonicPolynomialR3(2)
    >>> y = h(torch.tensor([[0.0, 0.0, 2.0]]))
    >>> y.shape, [round(float(v), 4) for v in y[0, :4]]   # l = 0: 1; l = 1: the point itself
    (torch.Size([1, 9]), [1.0, 0.0, 0.0, 2.0])
    """

    def __init__(self, L: int, group: Group | str = "so3") -> None:  # noqa: N803 - escnn's name
        super().__init__()
        from ...gspaces import no_base_space

        if isinstance(L, bool) or not isinstance(L, int) or L < 0:
            raise ValueError(f"HarmonicPolynomialR3: L must be an int >= 0, got {L!r}")
        if isinstance(group, str):
            if group not in ("so3", "o3"):
                raise ValueError(f"HarmonicPolynomialR3: group must be 'so3', 'o3', SO(3) or O(3), got {group!r}")
            group = so3_group() if group == "so3" else o3_group()
        if group == so3_group():
            labels = list(range(L + 1))
            vector = group.irrep(1)
        elif group == o3_group():
            labels = [(l, 1 if l % 2 == 0 else -1) for l in range(L + 1)]
            vector = group.irrep((1, -1))
        else:
            raise ValueError(f"HarmonicPolynomialR3: group must be SO(3) or O(3), got {group!r}")
        self.L = L
        self.G = group
        self.gspace = no_base_space(group)
        self.rho = Representation([group.irrep(lab) for lab in labels], name=f"sphere_{L}")
        self.in_type = FieldType(self.gspace, [vector])
        self.out_type = FieldType(self.gspace, [self.rho])

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        if not isinstance(points, torch.Tensor) or points.dim() != 2 or points.shape[1] != 3:
            shape = list(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
            raise ValueError(f"HarmonicPolynomialR3: expected points [N, 3], got {shape}")
        check_input_dtype("HarmonicPolynomialR3", "points", points, None)
        return spherical_harmonics(list(range(self.L + 1)), points, normalize=False, normalization="norm")

    def extra_repr(self) -> str:
        return f"L={self.L}, group={self.G.name}"
