r"""``bessel``: e3nn's (DimeNet's) radial Bessel basis, a function of the distance alone.

.. math::

    B_n(x) = \sqrt{\frac{2}{x_\max}}\, \frac{\sin(n \pi x / x_\max)}{x}, \qquad n = 1, \dots, N,

orthonormal for :math:`\int_0^{x_\max} x^2 B_n B_m\, dx = \delta_{nm}`, with its limit
:math:`\sqrt{2 / x_\max}\, n\pi / x_\max` at x = 0 (finite gradients there).
"""

from __future__ import annotations

import math

import torch

from ._radial import _sin_over_x

__all__ = ["bessel"]


def bessel(x: torch.Tensor, n: int, x_max: float = 1.0) -> torch.Tensor:
    """Bessel basis ``[..., n]`` of ``x`` ``[...]`` (e3nn's ``math.bessel``; no cutoff is applied).

    >>> bessel(torch.tensor([0.0, 0.5]), 2).shape
    torch.Size([2, 2])
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (the number of basis functions) must be an int >= 1, got {n!r}")
    if not x_max > 0:
        raise ValueError(f"x_max must be > 0, got {x_max!r}")
    x = torch.as_tensor(x)
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    roots = torch.arange(1, n + 1, dtype=x.dtype, device=x.device) * (math.pi / x_max)
    return math.sqrt(2.0 / x_max) * _sin_over_x(roots, x[..., None])
