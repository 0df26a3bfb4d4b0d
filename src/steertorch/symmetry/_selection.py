r"""Selection rules: the vectors of an O(3) representation that a point group leaves unchanged.

For a finite group G of orthogonal matrices and irreps with representation D, the average

.. math::

    P = \frac{1}{|G|} \sum_{g \in G} D(g)

is the orthogonal projector on the fixed space :math:`\{v : D(g) v = v\ \forall g\}` (D is orthogonal,
so P is symmetric); improper g act with the parity of each irrep (``e`` / ``o``). By Curie's principle an
equivariant network given inputs of symmetry G can only output vectors in this space.
"""

from __future__ import annotations

import numpy as np
import torch

from ..group import FiniteGroup
from ..group._point_groups import _gram_schmidt_columns
from ..o3 import Irreps
from ._point_group import PointGroupResult
from ._standard import LINEAR_GROUPS, standard_elements

__all__ = ["invariant_basis", "group_elements"]


def group_elements(group: object, lmax: int = 0) -> torch.Tensor:
    """Matrices ``[|G|, 3, 3]`` (float64) of ``group``: a Schoenflies symbol (standard frame), a
    :class:`PointGroupResult` (the structure's frame), a finite 3D group of :mod:`steertorch.group`, or a
    tensor of matrices. Linear groups use the subgroup of order-``lmax + 1`` rotations (same invariants
    up to degree ``lmax``).

    >>> group_elements("C2v").shape
    torch.Size([4, 3, 3])
    """
    order = max(lmax + 1, 2)
    if isinstance(group, str):
        return standard_elements(group, linear_order=order)
    if isinstance(group, PointGroupResult):
        if group.name in LINEAR_GROUPS:
            f = group.frame
            return f.T @ standard_elements(group.name, linear_order=order) @ f
        if group.name == "Kh" and lmax > 5:
            raise ValueError(f"Kh (O(3)) is represented by Ih, whose invariants are those of O(3) up to l = 5 "
                             f"only; lmax {lmax} asked")
        return group.elements
    if isinstance(group, FiniteGroup) and group.ambient_dim == 3:
        return group._matrices.clone()
    if isinstance(group, torch.Tensor) and group.dim() == 3 and group.shape[1:] == (3, 3):
        return group.to(torch.float64)
    raise ValueError(f"group must be a Schoenflies symbol, a point_group result, a finite 3D group or matrices "
                     f"[|G|, 3, 3], got {type(group).__name__}")


def invariant_basis(group: object, irreps: Irreps | str) -> torch.Tensor:
    r"""Orthonormal rows ``[k, irreps.dim]`` (float64) spanning the vectors that ``group`` leaves unchanged.

    ``group``: a Schoenflies symbol (standard frame, principal axis z, see
    :func:`~steertorch.symmetry.standard_point_group`), a :func:`~steertorch.symmetry.point_group` result
    (the structure's own orientation), a finite 3D group from :mod:`steertorch.group` or matrices
    ``[|G|, 3, 3]``. ``irreps``: an :class:`~steertorch.o3.Irreps` (a
    :class:`~steertorch.o3.CartesianTensor` included; ``ct.to_cartesian(rows)`` gives the allowed
    Cartesian tensors). The rows are Gram-Schmidt on the columns of the projector
    :math:`P = \frac{1}{|G|}\sum_g D(g)`, in order, so they are canonical (no random choice).

    >>> invariant_basis("C3v", "1o")  # polarisation allowed along the 3-fold axis only
    tensor([[0., 0., 1.]], dtype=torch.float64)
    >>> invariant_basis("D3d", "1o").shape  # centrosymmetric: none
    torch.Size([0, 3])
    """
    irreps = Irreps(irreps)
    lmax = max((ir.l for _, ir in irreps), default=0)
    mats = group_elements(group, lmax)
    if irreps.dim == 0:
        return torch.zeros(0, 0, dtype=torch.float64)
    p = irreps.D_from_matrix(mats).mean(0).numpy()
    p = (p + p.T) / 2
    k = int(round(float(np.trace(p))))
    if k == 0:
        return torch.zeros(0, irreps.dim, dtype=torch.float64)
    basis = _gram_schmidt_columns(p, k)
    basis = _gram_schmidt_columns(p @ basis, k)  # exactly inside the fixed space
    rows = torch.from_numpy(basis.T.copy())
    rows[rows.abs() < 1e-12] = 0.0
    return rows
