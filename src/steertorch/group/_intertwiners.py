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

import torch

__all__ = ["intertwiner_copies"]

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
