r"""Intertwiners: the numerical core that decomposes representations into irreps.

For a representation :math:`\rho` (size s) and an irrep :math:`\psi` (size d) of G the
space :math:`\mathrm{Hom}_G(\psi, \rho) = \{T \in R^{s \times d}: \rho(g) T = T \psi(g)\}`
is the image of the Reynolds projector :math:`T \mapsto \int_G \rho(g) T \psi(g)^\top dg`,
computed exactly with the group's quadrature. Its columns, taken in order and
orthogonalised copy by copy, give a deterministic orthonormal basis of the
:math:`\psi`-isotypic part of :math:`\rho` (no random numbers, so the same basis on every
machine).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ._group import Group
    from ._irrep import IrreducibleRepresentation

__all__ = ["intertwiner_copies", "decompose_function"]

_TOL = 1e-8


def _reynolds(rho: torch.Tensor, psi: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Projector onto Hom_G(psi, rho) acting on row-major vec(T), ``[s*d, s*d]``."""
    s, d = rho.shape[-1], psi.shape[-1]
    # one matmul over the elements (torch.einsum's contraction path for three operands is erratic here)
    out = (w[:, None] * rho.reshape(-1, s * s)).T @ psi.reshape(-1, d * d)  # [(i, j), (k, l)]
    return out.reshape(s, s, d, d).permute(0, 2, 1, 3).reshape(s * d, s * d)


def intertwiner_copies(
    rho: torch.Tensor, psi: torch.Tensor, weights: torch.Tensor, endomorphism_dim: int
) -> list[torch.Tensor]:
    r"""Isometric intertwiners :math:`T_k: \psi \to \rho` with orthogonal images.

    ``rho`` ``[N, s, s]`` and ``psi`` ``[N, d, d]`` are both evaluated on a quadrature
    ``weights`` ``[N]`` exact for their products. Returns a list of ``[s, d]`` matrices
    with :math:`T_k^\top T_l = \delta_{kl} I`, one per copy of psi in rho.
    """
    s, d = rho.shape[-1], psi.shape[-1]
    proj = _reynolds(rho, psi, weights)
    rank = int(round(float(torch.diagonal(proj).sum())))
    if rank % endomorphism_dim:
        raise RuntimeError(f"intertwiner space of dimension {rank} is not a multiple of {endomorphism_dim}")
    copies: list[torch.Tensor] = []
    used = torch.zeros(s, 0, dtype=rho.dtype)
    n_copies = rank // endomorphism_dim
    for col in range(s * d):
        if len(copies) == n_copies:
            break
        t = proj[:, col].reshape(s, d)
        t = t - used @ (used.T @ t)
        t = t - used @ (used.T @ t)  # twice: orthogonality to rounding level
        c = float((t * t).sum()) / d
        if c < _TOL:
            continue
        t = t / c**0.5
        # an intertwiner of an irrep satisfies T^T T = c I; polish to exact isometry
        u, _, vh = torch.linalg.svd(t, full_matrices=False)
        t = u @ vh
        copies.append(t)
        used = torch.cat([used, t], dim=1)
    if len(copies) != n_copies:
        raise RuntimeError(f"found {len(copies)} copies of an irrep, expected {n_copies}")
    return copies


def decompose_function(
    group: Group,
    function: Callable[[torch.Tensor], torch.Tensor],
    size: int,
    band_limit: int | None,
    candidates: list[IrreducibleRepresentation] | None = None,
) -> tuple[list[IrreducibleRepresentation], torch.Tensor]:
    r"""Decompose :math:`\rho(g) = Q\,(\bigoplus_i \psi_i(g))\,Q^\top` into irreps of ``group``.

    ``function`` maps elements to ``[..., size, size]`` orthogonal matrices. Irreps are
    looked for up to ``band_limit`` (all of them for finite groups); the quadrature is
    exact for degree ``2 * band_limit``. Raises ``ValueError`` if the irreps found do not
    fill the whole space (band limit too low, or ``function`` not a representation).
    """
    from ._group import float64_default

    with float64_default():
        return _decompose(group, function, size, band_limit, candidates)


def _decompose(group, function, size, band_limit, candidates):
    if candidates is None:
        candidates = group.irreps(band_limit)
    degree = 2 * (band_limit or 0)
    elements, weights = group.quadrature(degree)
    rho = function(elements).to(torch.float64)
    if rho.shape[-2:] != (size, size):
        raise ValueError(f"representation function returned matrices of shape {list(rho.shape[-2:])}, "
                         f"expected {[size, size]}")
    found: list[IrreducibleRepresentation] = []
    blocks: list[torch.Tensor] = []
    total = 0
    for psi in candidates:
        if total == size:
            break
        try:
            copies = intertwiner_copies(rho, psi(elements).to(torch.float64), weights, psi.endomorphism_dim)
        except RuntimeError as err:  # inconsistent intertwiner space: not an orthogonal representation
            raise ValueError(f"could not decompose a function of {group.name} into irreps: {err} (check it is an "
                             f"orthogonal representation)") from None
        for t in copies:
            found.append(psi)
            blocks.append(t)
            total += psi.size
    if total != size:
        raise ValueError(
            f"could not decompose a representation of size {size} of {group.name} into irreps up to band "
            f"limit {band_limit}: found only {total} dimensions (raise the band limit, or check it is a "
            f"representation)"
        )
    q = torch.cat(blocks, dim=1)
    return found, q
