r"""Angular harmonics on :math:`S^{d-1}` and their decomposition under a subgroup G of O(d).

The harmonics of frequency J, :math:`Y_J: S^{d-1} \to \mathbb{R}^{n_J}` (circular harmonics
:math:`\sqrt 2(\cos J\phi, \sin J\phi)` in the plane, the component-normalised real spherical harmonics of degree
J in space), transform under O(d) by the irrep :math:`D_J` (O(2): (1, J), or (0, 0) for J = 0; O(3):
(J, (-1)^J)): :math:`Y_J(M x) = D_J(M)\, Y_J(x)`. Restricted to :math:`G` acting through its base-space action
:math:`M(g)`, :math:`D_J \circ M = Q_J \big(\bigoplus_c \psi_c\big) Q_J^\top`, so the components
:math:`y_c = Q_{J,c}^\top Y_J` transform by irreps of G: :math:`y_c(M(g)x) = \psi_c(g)\, y_c(x)`.
"""

from __future__ import annotations

import functools
import math

import torch

from ..group import circular_harmonics, o2_group, o3_group
from ..group._group import decompose_function, float64_default
from ..gspaces import GSpace
from ..o3 import spherical_harmonics

__all__ = ["harmonic_size", "harmonics", "restricted_harmonics"]


def harmonic_size(d: int, j: int) -> int:
    """Number of components of the frequency-J harmonics on S^(d-1): 1 or 2 (d = 2), 2J + 1 (d = 3)."""
    if d == 2:
        return 1 if j == 0 else 2
    return 2 * j + 1


def harmonics(d: int, jmax: int, unit: torch.Tensor) -> torch.Tensor:
    r"""Harmonics of frequencies 0..jmax of unit vectors ``unit`` ``[P, d]``, concatenated ``[P, H]``.

    Component normalisation: each component has mean square 1 on the unit sphere. The zero vector maps to
    0 for J >= 1 (and 1 for J = 0).

    >>> import torch
    >>> harmonics(2, 2, torch.tensor([[1.0, 0.0]])).shape  # frequencies 0, 1, 2 on the circle: 1 + 2 + 2
    torch.Size([1, 5])
    >>> harmonics(3, 1, torch.tensor([[0.0, 0.0, 1.0]])).shape  # degrees 0, 1 on the sphere: 1 + 3
    torch.Size([1, 4])
    """
    if d == 2:
        h = circular_harmonics(list(range(jmax + 1)), unit, normalize=False)
        if jmax > 0:
            scale = torch.full((h.shape[-1],), math.sqrt(2.0), dtype=h.dtype, device=h.device)
            scale[0] = 1.0
            h = h * scale
        return h
    return spherical_harmonics(list(range(jmax + 1)), unit, normalize=False, normalization="component")


def _o_irrep(d: int, j: int):
    if d == 2:
        return o2_group().irrep((0, 0) if j == 0 else (1, j))
    return o3_group().irrep((j, 1 if j % 2 == 0 else -1))


@functools.cache
def restricted_harmonics(gspace: GSpace, j: int) -> tuple[list, torch.Tensor]:
    r"""``(irreps, Q)``: :math:`D_J \circ M = Q\,(\bigoplus \psi_c)\,Q^\top` over the G-space's group, with
    ``irreps`` the G irreps in order and ``Q`` ``[n_J, n_J]`` float64 orthogonal. Cached."""
    d = gspace.dimensionality
    group = gspace.fibergroup
    psi = _o_irrep(d, j)
    size = harmonic_size(d, j)

    def fn(g: torch.Tensor) -> torch.Tensor:
        m = gspace.basespace_action(g).to(torch.float64)
        return psi(m)

    band = None if group.is_finite else j
    with float64_default():
        irreps, q = decompose_function(group, fn, size, band)
    return irreps, q
