r"""Circular harmonics: the 2D analogue of spherical harmonics, in the basis of the SO(2) irreps.

For frequency k >= 1, :math:`h_k(x) = |x|^k (\cos k\phi, \sin k\phi)` (the real and imaginary parts of
:math:`(x_1 + i x_2)^k`), and :math:`h_0 = 1`; they satisfy :math:`h_k(R_\theta x) = \psi_k(\theta)\, h_k(x)`
with :math:`\psi_k` the SO(2) irrep of :class:`~steertorch.group.SO2` (and, for O(2), the irrep (1, k)).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["circular_harmonics"]


def circular_harmonics(k: int | Sequence[int], x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    r"""Circular harmonics of the points ``x`` ``[..., 2]`` for the frequencies ``k`` (an int or a list),
    concatenated: 1 component for k = 0, 2 for k >= 1. ``normalize=False`` gives the homogeneous
    polynomials :math:`\mathrm{Re}, \mathrm{Im}\, (x_1 + i x_2)^k`; with ``normalize=True`` the point is
    first projected on the unit circle (the zero vector maps to 0 for k >= 1, finite gradients).

    >>> circular_harmonics([0, 1, 2], torch.tensor([[0.0, 2.0]]))
    tensor([[ 1.,  0.,  1., -1.,  0.]])
    """
    ks = [k] if isinstance(k, int) else list(k)
    for f in ks:
        if isinstance(f, bool) or not isinstance(f, int) or f < 0:
            raise ValueError(f"frequencies must be ints >= 0, got {f!r}")
    if not ks:
        raise ValueError("at least one frequency is required, got an empty list")
    if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[-1] != 2:
        raise ValueError(f"x must be a tensor of 2D points [..., 2], got {getattr(x, 'shape', type(x).__name__)}")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if normalize:
        r2 = (x * x).sum(-1, keepdim=True)
        x = x / r2.clamp_min(1e-24).sqrt()
    re, im = x[..., 0], x[..., 1]
    kmax = max(ks)
    powers = [(torch.ones_like(re), torch.zeros_like(re))]
    for _ in range(kmax):
        a, b = powers[-1]
        powers.append((a * re - b * im, a * im + b * re))
    out = []
    for f in ks:
        if f == 0:
            out.append(torch.ones_like(re)[..., None] if normalize else powers[0][0][..., None])
        else:
            out.append(torch.stack(powers[f], -1))
    return torch.cat(out, -1)
