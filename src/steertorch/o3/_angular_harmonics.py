r"""Spherical harmonics as functions of the angles of a point, as e3nn's ``_angular_spherical_harmonics``.

For the point :math:`R_y(\alpha) R_x(\beta)\, e_y` (see :func:`~steertorch.o3.angles_to_xyz`) the
harmonics split into an azimuthal and a polar factor,

.. math::

    Y_l^m(\alpha, \beta) = S_m(\alpha)\, P_l^{|m|}(\cos\beta, \sin\beta), \qquad
    S_m(\alpha) = \begin{cases} \sqrt2 \sin(|m| \alpha) & m < 0 \\ 1 & m = 0 \\
    \sqrt2 \cos(m \alpha) & m > 0 \end{cases}

with :math:`P_l^m(z, y) = N_{lm}\, y^m\, \frac{1}{2^l l!} \frac{d^{l+m}}{dz^{l+m}} (z^2 - 1)^l`,
:math:`N_{lm} = \sqrt{\frac{2l+1}{4\pi} \frac{(l-m)!}{(l+m)!}}` (no Condon-Shortley phase): e3nn's
``Legendre``. The values equal :func:`~steertorch.o3.spherical_harmonics` of that point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..group._angles import angles_to_xyz
from ..group._spherical_harmonics import spherical_harmonics

__all__ = ["spherical_harmonics_alpha", "spherical_harmonics_alpha_beta", "SphericalHarmonicsAlphaBeta", "Legendre"]


def _degrees(l: object) -> list[int]:
    """e3nn's reading of ``l``: an int, a list of ints, or irreps (each degree repeated by its multiplicity;
    parities are not checked, as e3nn)."""
    from ..group._irreps_parse import parse_irreps

    if isinstance(l, bool):
        raise ValueError(f"degree l must be an int >= 0, got {l!r}")
    if isinstance(l, int):
        ls = [l]
    elif isinstance(l, str) or hasattr(l, "ls"):
        ls = [deg for mul, (deg, _) in parse_irreps(l) for _ in range(mul)]
    else:
        ls = list(l)
    if not ls or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in ls):
        raise ValueError(f"expected degrees (ints >= 0, at least one), got {l!r}")
    return ls


def spherical_harmonics_alpha(l: int, alpha: torch.Tensor) -> torch.Tensor:
    r"""The azimuthal factor :math:`S_m(\alpha)` ``[..., 2l+1]``, m = -l..l: :math:`\sqrt2 \sin(|m|\alpha)`,
    1, :math:`\sqrt2 \cos(m\alpha)`.

    >>> spherical_harmonics_alpha(1, torch.tensor([0.0]))
    tensor([[0.0000, 1.0000, 1.4142]])
    """
    if isinstance(l, bool) or not isinstance(l, int) or l < 0:
        raise ValueError(f"l must be an int >= 0, got {l!r}")
    alpha = torch.as_tensor(alpha)[..., None]
    m = torch.arange(1, l + 1, dtype=alpha.dtype, device=alpha.device)
    return torch.cat([math.sqrt(2) * torch.sin(m.flip(0) * alpha), torch.ones_like(alpha),
                      math.sqrt(2) * torch.cos(m * alpha)], -1)


class Legendre(nn.Module):
    r"""e3nn's normalised associated Legendre polynomials :math:`P_l^{|m|}(z, y)` for the degrees ``ls``,
    ``[..., sum(2l+1)]`` (entry m = -l..l is :math:`P_l^{|m|}`), as polynomials in z and y.

    On the circle :math:`z = \cos\beta, y = \sin\beta` they are the polar factor of
    :func:`spherical_harmonics_alpha_beta`. Computed by the stable recurrence in l at fixed m:
    :math:`P_m^m = N_{mm} (2m-1)!!\, y^m`, :math:`P_l^m = a_{lm} z P_{l-1}^m - b_{lm} P_{l-2}^m`.

    >>> Legendre([0, 1])(torch.tensor(1.0), torch.tensor(0.0)) * (4 * torch.pi) ** 0.5
    tensor([1.0000, 0.0000, 1.7321, 0.0000])
    """

    def __init__(self, ls: Sequence[int]) -> None:
        super().__init__()
        self.ls = _degrees(list(ls))
        self.lmax = max(self.ls)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Polynomials ``[..., sum(2l+1)]`` at ``(z, y)`` (broadcast)."""
        z, y = torch.broadcast_tensors(torch.as_tensor(z), torch.as_tensor(y))
        lmax = self.lmax
        p: dict[tuple[int, int], torch.Tensor] = {}
        for m in range(lmax + 1):
            # N_mm (2m-1)!! = sqrt((2m+1)/(4 pi) / (2m)!) (2m)! / (2^m m!)
            log_c = 0.5 * (math.log(2 * m + 1) - math.log(4 * math.pi) + math.lgamma(2 * m + 1)) \
                - m * math.log(2) - math.lgamma(m + 1)
            p[m, m] = math.exp(log_c) * y**m
            if m + 1 <= lmax:
                p[m + 1, m] = math.sqrt(2 * m + 3) * z * p[m, m]
            for l in range(m + 2, lmax + 1):
                a = math.sqrt((4 * l * l - 1) / (l * l - m * m))
                b = math.sqrt((2 * l + 1) * (l - 1 - m) * (l - 1 + m) / ((2 * l - 3) * (l * l - m * m)))
                p[l, m] = a * z * p[l - 1, m] - b * p[l - 2, m]
        return torch.stack([p[l, abs(m)] for l in self.ls for m in range(-l, l + 1)], -1)

    def extra_repr(self) -> str:
        return f"ls={self.ls}"


class SphericalHarmonicsAlphaBeta(nn.Module):
    r"""Module form of :func:`spherical_harmonics_alpha_beta` (e3nn's signature).

    >>> SphericalHarmonicsAlphaBeta([0, 1], normalization="component")(torch.tensor(0.0), torch.tensor(0.0))
    tensor([1.0000, 0.0000, 1.7321, 0.0000])
    """

    def __init__(self, l: int | Sequence[int] | object, normalization: str = "integral") -> None:
        super().__init__()
        if normalization not in ("integral", "component", "norm"):
            raise ValueError(f"normalization must be 'integral', 'component' or 'norm', got {normalization!r}")
        self.ls = _degrees(l)
        self.normalization = normalization

    def forward(self, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """Harmonics ``[..., sum(2l+1)]`` at the angles ``(alpha, beta)`` (broadcast)."""
        return spherical_harmonics(self.ls, angles_to_xyz(alpha, beta), True, self.normalization)

    def extra_repr(self) -> str:
        return f"ls={self.ls}, normalization={self.normalization!r}"


def spherical_harmonics_alpha_beta(l: int | Sequence[int] | object, alpha: torch.Tensor, beta: torch.Tensor, *,
                                   normalization: str = "integral") -> torch.Tensor:
    r"""Harmonics :math:`Y^l(\alpha, \beta) = S(\alpha) P^l(\cos\beta, \sin\beta)` of the point
    :math:`R_y(\alpha) R_x(\beta) e_y`, ``[..., sum(2l+1)]``: equal to
    ``spherical_harmonics(l, angles_to_xyz(alpha, beta), True, normalization)``. ``l`` is an int, a
    list, or irreps (degrees repeated by multiplicity), as e3nn.

    >>> spherical_harmonics_alpha_beta(1, torch.tensor(0.0), torch.tensor(0.0), normalization="norm")
    tensor([0., 1., 0.])
    """
    return SphericalHarmonicsAlphaBeta(l, normalization=normalization)(alpha, beta)
