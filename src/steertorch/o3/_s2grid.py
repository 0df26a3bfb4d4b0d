r"""Exact quadrature on the sphere and the spherical Fourier transform in e3nn's harmonics basis.

The sphere is the quotient :math:`S^2 = SO(3)/SO(2)`. With e3nn's polar axis y, a point is
:math:`(x, y, z) = (\sin\theta \sin\phi,\ \cos\theta,\ \sin\theta \cos\phi)`. The grid
:func:`s2_grid` takes ``L + 1`` Gauss-Legendre nodes in :math:`y = \cos\theta` times
``2L + 1`` uniform azimuths :math:`\phi`, so it integrates exactly every polynomial of
degree at most ``2L`` on the sphere, in particular every product :math:`Y_l^m Y_{l'}^{m'}`
with :math:`l, l' \le L`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ..group._fourier import _check_last
from ..group._spherical_harmonics import _NORMALIZATIONS, spherical_harmonics

__all__ = ["s2_grid", "SphericalFourierTransform", "sphere_fourier"]


def _check_band_limit(band_limit: object) -> int:
    if isinstance(band_limit, bool) or not isinstance(band_limit, int) or band_limit < 0:
        raise ValueError(f"band_limit must be an int >= 0, got {band_limit!r}")
    return band_limit


@functools.cache
def _s2_grid_cached(band_limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    n_polar, n_azim = band_limit + 1, 2 * band_limit + 1
    y, wy = np.polynomial.legendre.leggauss(n_polar)
    phi = 2 * np.pi * np.arange(n_azim) / n_azim
    s = np.sqrt(np.clip(1 - y**2, 0.0, None))
    pts = np.stack(
        [s[:, None] * np.sin(phi)[None, :], np.broadcast_to(y[:, None], (n_polar, n_azim)),
         s[:, None] * np.cos(phi)[None, :]], -1
    ).reshape(-1, 3)
    w = (wy[:, None] * np.full(n_azim, 2 * np.pi / n_azim)[None, :]).reshape(-1)
    return torch.from_numpy(pts.copy()), torch.from_numpy(w.copy())


def s2_grid(band_limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Points ``[N, 3]`` (float64, unit vectors) and weights ``[N]`` (summing to :math:`4\pi`) with

    .. math::

        \sum_i w_i\, p(x_i) = \int_{S^2} p(x)\, dx

    for every polynomial p of degree at most ``2 * band_limit`` (so products of spherical
    harmonics of degree at most ``band_limit`` are integrated exactly). Gauss-Legendre
    (``band_limit + 1`` nodes) in the polar coordinate y times ``2 * band_limit + 1``
    uniform azimuths; ``N = (band_limit + 1)(2 band_limit + 1)``, polar-major order
    (point ``i * (2L + 1) + j`` has the i-th y node and the j-th azimuth). Returns copies.

    >>> x, w = s2_grid(2)
    >>> x.shape, round(float(w.sum()), 10) == round(4 * math.pi, 10)
    (torch.Size([15, 3]), True)
    """
    x, w = _s2_grid_cached(_check_band_limit(band_limit))
    return x.clone(), w.clone()


class SphericalFourierTransform:
    r"""Spherical harmonic transform on the :func:`s2_grid` of ``band_limit`` L.

    With :math:`Y` the ``[N, (L+1)^2]`` matrix of :func:`~steertorch.o3.spherical_harmonics`
    of degrees 0..L at the grid points (``normalization`` as there), :math:`W` the weights
    and :math:`n_l = \int_{S^2} (Y_l^m)^2` (1 for ``"integral"``, :math:`4\pi` for
    ``"component"``, :math:`4\pi/(2l+1)` for ``"norm"``):

    .. math::

        \mathrm{inverse}(c) = Y c = \sum_{lm} c_{lm} Y_l^m(x_i), \qquad
        \mathrm{forward}(f)_{lm} = \frac{1}{n_l} \sum_i w_i\, Y_l^m(x_i)\, f(x_i),

    so ``forward(inverse(c)) == c`` for every c and ``inverse(forward(f)) == f`` for every
    band-limited f (a polynomial of degree at most L on the sphere). With the default
    ``"integral"`` normalisation Parseval reads :math:`\sum_i w_i f_i^2 = |c|^2`.

    Coefficients ``[..., (L+1)^2]`` are ordered as e3nn's harmonics (l, then m = -l..l) and
    rotate with Wigner D: if :math:`f'(x) = f(R^{-1} x)` then :math:`c'_l = D^l(R)\, c_l`.
    ``quotient()`` is the matching representation of SO(3) (or of O(3)).

    >>> sft = SphericalFourierTransform(2)
    >>> x, _ = s2_grid(2)
    >>> f = spherical_harmonics(1, x)[:, 0]            # Y_1^{-1} sampled on the grid
    >>> sft.forward(f).round(decimals=10) + 0.0
    tensor([0., 1., 0., 0., 0., 0., 0., 0., 0.], dtype=torch.float64)
    """

    def __init__(self, band_limit: int, normalization: str = "integral") -> None:
        self.band_limit = _check_band_limit(band_limit)
        if normalization not in _NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
        self.normalization = normalization
        self.points, self.weights = s2_grid(self.band_limit)
        L = self.band_limit
        self.size = (L + 1) ** 2
        self.grid_size = self.points.shape[0]
        self.ls = list(range(L + 1))
        #: ``[N, (L+1)^2]`` float64, the harmonics at the grid points
        self.basis = spherical_harmonics(self.ls, self.points, normalize=True, normalization=normalization)
        norms = torch.cat([torch.full((2 * l + 1,), self._norm(l), dtype=torch.float64) for l in self.ls])
        self._forward = self.weights[:, None] * self.basis / norms  # [N, D]
        self._inverse = self.basis.T.contiguous()  # [D, N]
        self._cache: dict[tuple[torch.dtype, str], tuple[torch.Tensor, torch.Tensor]] = {}

    def _norm(self, l: int) -> float:
        if self.normalization == "integral":
            return 1.0
        if self.normalization == "component":
            return 4 * math.pi
        return 4 * math.pi / (2 * l + 1)

    def _matrices(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (x.dtype, str(x.device))
        if key not in self._cache:
            self._cache[key] = (self._forward.to(dtype=x.dtype, device=x.device),
                                self._inverse.to(dtype=x.dtype, device=x.device))
        return self._cache[key]

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        r"""Harmonic coefficients ``[..., (L+1)^2]`` of samples ``f`` ``[..., N]`` on ``points``.

        >>> sft = sphere_fourier(1)
        >>> sft.forward(torch.ones(sft.grid_size, dtype=torch.float64))[0]  # sqrt(4 pi)
        tensor(3.5449, dtype=torch.float64)
        """
        f = _check_last(f, self.grid_size, f"samples on the S2 grid of band limit {self.band_limit}")
        fwd, _ = self._matrices(f)
        return f @ fwd

    def inverse(self, c: torch.Tensor) -> torch.Tensor:
        r"""Samples ``[..., N]`` on ``points`` of the function :math:`\sum_{lm} c_{lm} Y_l^m`, ``c`` ``[..., (L+1)^2]``.

        >>> sft = sphere_fourier(1)
        >>> c = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64)   # Y_1^1, proportional to z
        >>> bool(torch.allclose(sft.inverse(c), (3 / (4 * math.pi)) ** 0.5 * sft.points[:, 2]))
        True
        """
        c = _check_last(c, self.size, f"spherical harmonic coefficients up to degree {self.band_limit}")
        _, inv = self._matrices(c)
        return c @ inv

    __call__ = forward

    def quotient(self, group: str = "SO3"):
        r"""The representation the coefficients transform under: the band-limited quotient
        representation of :math:`SO(3)/SO(2) = \bigoplus_{l \le L} D^l` (``group="SO3"``), or of
        :math:`O(3)/O(2) = \bigoplus_{l \le L} D^{(l, (-1)^l)}` (``group="O3"``; harmonics have
        parity :math:`(-1)^l`). One copy of each irrep, no change of basis, in the coefficient order.

        >>> [psi.label for psi in sphere_fourier(2).quotient("O3").irreps]
        [(0, 1), (1, -1), (2, 1)]
        """
        from ..group import bl_quotient_representation, o2_group, o3_group, so2_group, so3_group

        if group in ("SO3", "SO(3)"):
            rep = bl_quotient_representation(so3_group(), so2_group(3), self.band_limit)
        elif group in ("O3", "O(3)"):
            # O(2) as the stabiliser of a point: rotations about an axis and mirrors containing it
            rep = bl_quotient_representation(o3_group(), o2_group(3, "mirror"), self.band_limit)
        else:
            raise ValueError(f"group must be 'SO3' or 'O3', got {group!r}")
        if rep.size != self.size:
            raise RuntimeError(f"quotient representation of size {rep.size}, expected {self.size}")
        return rep

    def __repr__(self) -> str:
        return (f"SphericalFourierTransform(band_limit={self.band_limit}, normalization={self.normalization!r}, "
                f"grid={self.grid_size})")


@functools.lru_cache(maxsize=32)
def sphere_fourier(band_limit: int, normalization: str = "integral") -> SphericalFourierTransform:
    r"""The (cached) :class:`SphericalFourierTransform` of ``band_limit`` on :func:`s2_grid`.

    >>> sft = sphere_fourier(3)
    >>> sft.size, sft.grid_size, sft is sphere_fourier(3)
    (16, 28, True)
    """
    return SphericalFourierTransform(band_limit, normalization)
