r"""Small linear-algebra helpers with e3nn's names: block-diagonal sums and Gram-Schmidt bases.

:func:`orthonormalize` and :func:`complete_basis` use Gram-Schmidt with e3nn's clean-up, so
their outputs equal e3nn's: entries below ``eps`` are set to 0 and each vector is signed so
that its first nonzero entry is positive.
"""

from __future__ import annotations

import torch

__all__ = ["direct_sum", "orthonormalize", "complete_basis"]


def direct_sum(*matrices: torch.Tensor) -> torch.Tensor:
    r"""Block-diagonal matrix :math:`A_1 \oplus A_2 \oplus \dots` ``[..., sum m_i, sum n_i]``, batched like the first.

    >>> direct_sum(torch.ones(1, 1), 2 * torch.ones(2, 1))
    tensor([[1., 0.],
            [0., 2.],
            [0., 2.]])
    """
    if not matrices:
        raise ValueError("direct_sum needs at least one matrix")
    rows = sum(m.shape[-2] for m in matrices)
    cols = sum(m.shape[-1] for m in matrices)
    out = matrices[0].new_zeros(*matrices[0].shape[:-2], rows, cols)
    i = j = 0
    for m in matrices:
        out[..., i:i + m.shape[-2], j:j + m.shape[-1]] = m
        i, j = i + m.shape[-2], j + m.shape[-1]
    return out


def _clean(x: torch.Tensor, c: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalise ``x`` (and its coefficients ``c`` alike), zero entries below eps, make the first nonzero entry
    of x positive."""
    scale = 1 / x.norm()
    x, c = scale * x, scale * c
    x = torch.where(x.abs() < eps, 0.0, x)
    c = torch.where(c.abs() < eps, 0.0, c)
    sign = x[x.nonzero()[0, 0]].sign()
    return sign * x, sign * c


def orthonormalize(original: torch.Tensor, eps: float = 1e-9) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Gram-Schmidt on the rows of ``original`` ``[n, d]``: ``(final [k, d], matrix [k, n])`` with
    ``final = matrix @ original`` orthonormal rows (rows dependent up to ``eps`` are dropped).

    >>> final, matrix = orthonormalize(torch.tensor([[2.0, 0.0], [4.0, 0.0], [1.0, -3.0]]))
    >>> final.abs(), matrix.shape
    (tensor([[1., 0.],
            [0., 1.]]), torch.Size([2, 3]))
    """
    if original.dim() != 2:
        raise ValueError(f"orthonormalize takes vectors as the rows of a matrix [n, d], got {list(original.shape)}")
    n, d = original.shape
    final: list[torch.Tensor] = []
    coeffs: list[torch.Tensor] = []
    eye = torch.eye(n, dtype=original.dtype, device=original.device)
    for i in range(n):
        x, c = original[i], eye[i]
        for y, cy in zip(final, coeffs):
            dot = torch.dot(x, y)
            x, c = x - dot * y, c - dot * cy
        if x.norm() > 2 * eps:
            x, c = _clean(x, c, eps)
            final.append(x)
            coeffs.append(c)
    if not final:
        return original.new_zeros(0, d), original.new_zeros(0, n)
    return torch.stack(final), torch.stack(coeffs)


def complete_basis(vecs: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    r"""Orthonormal rows ``[d - k, d]`` completing the rows of ``vecs`` ``[k, d]`` (assumed orthogonal) to a basis
    of :math:`\mathbb{R}^d`: Gram-Schmidt on the unit vectors :math:`e_1, \dots, e_d`.

    >>> complete_basis(torch.tensor([[0.0, 0.0, 1.0]]))
    tensor([[1., 0., 0.],
            [0., 1., 0.]])
    """
    if vecs.dim() != 2:
        raise ValueError(f"complete_basis takes vectors as the rows of a matrix [k, d], got {list(vecs.shape)}")
    d = vecs.shape[1]
    basis = [v / v.norm() for v in vecs]
    extra: list[torch.Tensor] = []
    for x in torch.eye(d, dtype=vecs.dtype, device=vecs.device):
        for y in basis + extra:
            x = x - torch.dot(x, y) * y
        if x.norm() > 2 * eps:
            x, _ = _clean(x, x[:0], eps)
            extra.append(x)
    return torch.stack(extra) if extra else vecs.new_zeros(0, d)
