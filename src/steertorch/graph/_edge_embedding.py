r"""Edge embeddings: relative vectors, their spherical harmonics and radial bases.

Convention (e3nn's and NequIP's): the vector of edge ``j -> i`` (source ``j``, target ``i``)
points from the target to the source,

.. math:: r_{ij} = x_j - x_i + s_{ij}\, C,

``pos[edge_src] - pos[edge_dst] + shifts @ cell``. SEGNN and EGNN write :math:`x_i - x_j`:
the opposite sign, which flips the harmonics of odd degree.

Everything here is differentiable in the positions (and the cell, for stresses), with finite
values and gradients, double backward included, at coincident points (zero vectors).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._dtype import check_input_dtype, module_dtype
from ..math import cosine_cutoff, polynomial_cutoff, soft_one_hot_linspace
from ..o3 import Irreps, spherical_harmonics

__all__ = ["edge_vectors", "edge_lengths", "spherical_edge_attributes", "RadialEmbedding"]


def edge_vectors(pos: torch.Tensor, edge_index: torch.Tensor, shifts: torch.Tensor | None = None,
                 cell: torch.Tensor | None = None, batch: torch.Tensor | None = None) -> torch.Tensor:
    r"""Edge vectors :math:`r_{ij} = x_j - x_i + s_{ij} C_{b(i)}` ``[E, d]`` for ``edge_index = [j, i]``.

    Args:
        pos: ``[N, d]``.
        edge_index: ``[2, E]``, ``[source, target]``.
        shifts: lattice shifts ``[E, d]`` (from :func:`~steertorch.graph.radius_graph` with a cell).
        cell: ``[d, d]`` (rows are lattice vectors) or ``[num_graphs, d, d]`` with ``batch``.
        batch: graph of each node, needed with one cell per graph.

    >>> pos = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    >>> edge_vectors(pos, torch.tensor([[1], [0]]))
    tensor([[1., 0., 0.]])
    """
    if not isinstance(pos, torch.Tensor) or pos.dim() != 2:
        raise ValueError(f"pos must be [N, d], got {list(pos.shape) if isinstance(pos, torch.Tensor) else pos}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must be [2, E], got {list(edge_index.shape)}")
    src, dst = edge_index[0], edge_index[1]
    vec = pos[src] - pos[dst]
    if shifts is None:
        return vec
    if cell is None:
        raise ValueError("shifts need the cell")
    if shifts.shape != vec.shape:
        raise ValueError(f"shifts must be [E, d] = {list(vec.shape)}, got {list(shifts.shape)}")
    shifts = shifts.to(vec.dtype)
    cell = cell.to(vec.dtype)
    if cell.dim() == 2:
        return vec + shifts @ cell
    if cell.shape[0] == 1:
        return vec + shifts @ cell[0]
    if batch is None:
        raise ValueError(f"one cell per graph ({list(cell.shape)}) needs the batch vector")
    return vec + torch.einsum("ei,eij->ej", shifts, cell[batch[dst]])


def _safe_norm(vec: torch.Tensor) -> torch.Tensor:
    """``|vec|`` over the last dimension, with zero gradient (not NaN) at zero vectors."""
    n2 = vec.pow(2).sum(-1)
    zero = n2 <= torch.finfo(vec.dtype).tiny
    return torch.where(zero, torch.zeros_like(n2), torch.where(zero, torch.ones_like(n2), n2).sqrt())


def edge_lengths(vec: torch.Tensor) -> torch.Tensor:
    """``|vec|`` over the last dimension, differentiable with a zero gradient at zero vectors.

    >>> v = torch.zeros(1, 3, requires_grad=True)
    >>> edge_lengths(v).sum().backward(); v.grad
    tensor([[0., 0., 0.]])
    """
    return _safe_norm(vec)


def _degrees(lmax_or_irreps) -> list[int]:
    if isinstance(lmax_or_irreps, int) and not isinstance(lmax_or_irreps, bool):
        if lmax_or_irreps < 0:
            raise ValueError(f"lmax must be >= 0, got {lmax_or_irreps}")
        return list(range(lmax_or_irreps + 1))
    if isinstance(lmax_or_irreps, Sequence) and not isinstance(lmax_or_irreps, (str, Irreps)):
        return [int(l) for l in lmax_or_irreps]
    irreps = Irreps(lmax_or_irreps)
    out = []
    for mul, ir in irreps:
        if ir.p != (-1) ** ir.l:
            raise ValueError(f"spherical harmonics have parity (-1)^l; {ir} is not one of them")
        out += [ir.l] * mul
    return out


def spherical_edge_attributes(vec: torch.Tensor, lmax: int | str | Irreps | Sequence[int],
                              normalization: str = "component") -> torch.Tensor:
    r"""Spherical harmonics :math:`Y^l(\hat r)` of the edge directions, ``[E, sum(2l+1)]``.

    ``lmax`` is an int (degrees 0..lmax) or irreps such as ``"0e + 1o + 2e"``. Uses
    :func:`~steertorch.o3.spherical_harmonics` with ``normalize=True`` (e3nn's values). A zero
    vector has no direction: its harmonics are :math:`Y^0` (1 in ``"component"``) for l = 0 and
    0 for l > 0, with a zero gradient (finite in double backward too).

    >>> spherical_edge_attributes(torch.tensor([[0.0, 0.0, 2.0], [0.0, 0.0, 0.0]]), 1)
    tensor([[1.0000, 0.0000, 0.0000, 1.7321],
            [1.0000, 0.0000, 0.0000, 0.0000]])
    """
    if not isinstance(vec, torch.Tensor) or vec.dim() == 0 or vec.shape[-1] != 3:
        raise ValueError(f"vec must be [..., 3], got {list(vec.shape) if isinstance(vec, torch.Tensor) else vec}")
    ls = _degrees(lmax)
    n2 = vec.pow(2).sum(-1, keepdim=True)
    zero = n2 <= torch.finfo(vec.dtype).tiny
    unit_z = torch.zeros_like(vec)
    unit_z[..., 2] = 1
    safe = torch.where(zero, unit_z, vec)
    sh = spherical_harmonics(ls, safe, normalize=True, normalization=normalization)
    is_l0 = torch.cat([torch.full((2 * l + 1,), l == 0, dtype=torch.bool) for l in ls]).to(vec.device)
    return torch.where(zero & ~is_l0, torch.zeros_like(sh), sh)


_BASES = ("bessel", "gaussian", "cosine", "smooth_finite", "fourier")
_CUTOFFS = ("polynomial", "cosine", None)


class RadialEmbedding(torch.nn.Module):
    r"""Radial basis of edge lengths times a smooth cutoff: :math:`y_n(r) = c\, B_n(r)\, u(r)`, ``[..., num_basis]``.

    - ``"bessel"`` (DimeNet / NequIP): :math:`B_n(r) = \sqrt{2 / r_\max}\, \sin(n \pi r / r_\max) / r`,
      n = 1..num_basis, with its finite limit at r = 0;
    - ``"gaussian"``, ``"cosine"``, ``"smooth_finite"``, ``"fourier"``: e3nn's
      :func:`~steertorch.math.soft_one_hot_linspace` on :math:`[0, r_\max]` with ``cutoff=True``;
    - :math:`u`: ``"polynomial"`` (:func:`~steertorch.math.polynomial_cutoff` with power ``p``),
      ``"cosine"`` (:func:`~steertorch.math.cosine_cutoff`) or ``None`` (1).

    With ``normalize=True`` (default) the constant :math:`c` makes
    :math:`\frac{1}{N}\sum_n \mathbb{E}[y_n(r)^2] = 1` for neighbours uniform in the ball of radius
    :math:`r_\max` (density :math:`3 r^2 / r_\max^3`); with ``False``, :math:`c = 1`. Values and
    gradients are finite at r = 0 (coincident points), double backward included.

    >>> emb = RadialEmbedding(8, r_max=5.0)
    >>> emb(torch.tensor([0.0, 2.0, 5.0])).shape
    torch.Size([3, 8])
    >>> emb(torch.tensor([5.0, 7.0])).abs().max().item()
    0.0
    """

    def __init__(self, num_basis: int, r_max: float, basis: str = "bessel", cutoff: str | bool | None = "polynomial",
                 p: float = 6, normalize: bool = True) -> None:
        super().__init__()
        if cutoff is True:
            cutoff = "polynomial"
        elif cutoff is False:
            cutoff = None
        if isinstance(num_basis, bool) or not isinstance(num_basis, int) or num_basis < 1:
            raise ValueError(f"num_basis must be an int >= 1, got {num_basis!r}")
        if not (isinstance(r_max, (int, float)) and math.isfinite(r_max) and r_max > 0):
            raise ValueError(f"r_max must be a finite number > 0, got {r_max!r}")
        if basis not in _BASES:
            raise ValueError(f"basis must be one of {_BASES}, got {basis!r}")
        if cutoff not in _CUTOFFS:
            raise ValueError(f"cutoff must be one of {_CUTOFFS}, got {cutoff!r}")
        if not p >= 1:
            raise ValueError(f"p must be >= 1, got {p!r}")
        self.num_basis = num_basis
        self.r_max = float(r_max)
        self.basis = basis
        self.cutoff = cutoff
        self.p = p
        self.normalize = normalize
        self.scale = 1.0
        if normalize:
            m = 4096  # midpoint rule on [0, r_max] (smooth integrand: relative error ~ 1e-7)
            r = (torch.arange(m, dtype=torch.float64) + 0.5) * (self.r_max / m)
            w = 3 * (r / self.r_max) ** 2 / m  # density 3 r^2 / r_max^3, times dr / r_max
            second = (w[:, None] * self._raw(r).pow(2)).sum(0).mean()
            self.scale = float(second.rsqrt())

    def _raw(self, r: torch.Tensor) -> torch.Tensor:
        if self.basis == "bessel":
            y = soft_one_hot_linspace(r, 0.0, self.r_max, self.num_basis, basis="bessel", cutoff=False)
        else:
            y = soft_one_hot_linspace(r, 0.0, self.r_max, self.num_basis, basis=self.basis, cutoff=True)
        if self.cutoff == "polynomial":
            y = y * polynomial_cutoff(r, self.r_max, self.p)[..., None]
        elif self.cutoff == "cosine":
            y = y * cosine_cutoff(r, self.r_max)[..., None]
        return y

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """Embed lengths ``r`` ``[...]`` (use :func:`edge_lengths` for vectors) -> ``[..., num_basis]``."""
        if not isinstance(r, torch.Tensor):
            raise ValueError(f"RadialEmbedding: r must be a floating point tensor of lengths, got {r!r}")
        check_input_dtype("RadialEmbedding", "lengths r", r, module_dtype(self))
        return self.scale * self._raw(r)

    def extra_repr(self) -> str:
        return (f"num_basis={self.num_basis}, r_max={self.r_max}, basis={self.basis!r}, cutoff={self.cutoff!r}, "
                f"p={self.p}, normalize={self.normalize}")
