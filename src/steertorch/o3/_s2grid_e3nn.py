r"""e3nn's grids on the sphere and on SO(3): ``s2_grid(res_beta, res_alpha)``, ``ToS2Grid`` / ``FromS2Grid``,
``spherical_harmonics_s2_grid``, the real Fourier transforms ``rfft`` / ``irfft``, and ``SO3Grid``.

A signal on the sphere is either a spherical tensor :math:`F = (F^0, \dots, F^{L})`,
:math:`f(x) = \sum_l n_l\, F^l \cdot Y^l(x)`, or its samples on the grid

.. math::

    x_{ij} = (\sin\beta_i \sin\alpha_j,\ \cos\beta_i,\ \sin\beta_i \cos\alpha_j), \qquad
    \beta_i = \pi (i + \tfrac12) / N, \qquad \alpha_j = 2\pi j / M,

``N = res_beta`` (even) and ``M = res_alpha``. The values, buffers and state dicts are e3nn's (0.6); the constants
are computed in float64 and kept as float64 masters (``.double()`` after a float32 build is exact).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._dtype import ExactConstants, check_input_dtype
from ..group._angles import angles_to_xyz
from ..group._wigner import wigner_D
from ._angular_harmonics import Legendre, spherical_harmonics_alpha
from ._s2grid import _check_band_limit, _s2_grid_cached

__all__ = ["s2_grid", "spherical_harmonics_s2_grid", "rfft", "irfft", "ToS2Grid", "FromS2Grid", "SO3Grid"]


def _check_res(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def _betas_alphas(res_beta: int, res_alpha: int) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 grid angles: beta_i = pi (i + 1/2) / res_beta, alpha_j = 2 pi j / res_alpha."""
    i = torch.arange(res_beta, dtype=torch.float64)
    j = torch.arange(res_alpha, dtype=torch.float64)
    return (i + 0.5) / res_beta * math.pi, j / res_alpha * 2 * math.pi


def s2_grid(res_beta: int | None = None, res_alpha: int | None = None, dtype: torch.dtype | None = None,
            device: torch.device | str | None = None, *, band_limit: int | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Grids on the sphere, in two forms told apart by the number of arguments.

    * ``s2_grid(res_beta, res_alpha, dtype=None, device=None)`` (e3nn's): the angles
      ``betas`` ``[res_beta]``, :math:`\beta_i = \pi (i + 1/2) / N`, and ``alphas`` ``[res_alpha]``,
      :math:`\alpha_j = 2\pi j / M`, in ``dtype`` (default: the default dtype) on ``device``.
    * ``s2_grid(L)`` or ``s2_grid(band_limit=L)`` (steertorch's exact quadrature): points ``[N, 3]`` and weights
      ``[N]`` (float64) with :math:`\sum_i w_i p(x_i) = \int_{S^2} p` for polynomials of degree at most 2L:
      ``L + 1`` Gauss-Legendre nodes in y times ``2L + 1`` uniform azimuths, polar-major order (see
      ``docs/conventions.md``).

    >>> betas, alphas = s2_grid(4, 3, dtype=torch.float64)
    >>> betas.tolist() == [math.pi * (i + 0.5) / 4 for i in range(4)], alphas.shape
    (True, torch.Size([3]))
    >>> x, w = s2_grid(2)
    >>> x.shape, round(float(w.sum()), 10) == round(4 * math.pi, 10)
    (torch.Size([15, 3]), True)
    """
    if res_alpha is None:
        if band_limit is not None and res_beta is not None:
            raise ValueError("s2_grid: give either the band limit (one argument) or res_beta and res_alpha, not both")
        if dtype is not None or device is not None:
            raise ValueError("s2_grid(band_limit) returns float64 CPU tensors; dtype= and device= go with the "
                             "e3nn form s2_grid(res_beta, res_alpha)")
        x, w = _s2_grid_cached(_check_band_limit(band_limit if band_limit is not None else res_beta))
        return x.clone(), w.clone()
    if band_limit is not None or res_beta is None:
        raise ValueError("s2_grid(res_beta, res_alpha) needs both resolutions and no band_limit")
    betas, alphas = _betas_alphas(_check_res(res_beta, "res_beta"), _check_res(res_alpha, "res_alpha"))
    dtype = torch.get_default_dtype() if dtype is None else dtype
    return betas.to(dtype=dtype, device=device), alphas.to(dtype=dtype, device=device)


def spherical_harmonics_s2_grid(lmax: int, res_beta: int, res_alpha: int, dtype: torch.dtype | None = None,
                                device: torch.device | str | None = None
                                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The factors of the spherical harmonics on the grid of :func:`s2_grid`:
    :math:`Y^l_m(x_{ij}) = \mathrm{shb}[i, (l, m)]\ \mathrm{sha}[j, l_{max} + m]` (``"integral"`` normalisation).

    Returns ``betas [N]``, ``alphas [M]``, ``shb [N, (lmax+1)^2]`` (the Legendre factor
    :math:`P_l^{|m|}(\cos\beta_i, \sin\beta_i)`, see :class:`~steertorch.o3.Legendre`) and
    ``sha [M, 2 lmax + 1]`` (:func:`~steertorch.o3.spherical_harmonics_alpha`), computed in float64 then cast to
    ``dtype`` (default: the default dtype).

    >>> b, a, shb, sha = spherical_harmonics_s2_grid(2, 6, 5)
    >>> shb.shape, sha.shape
    (torch.Size([6, 9]), torch.Size([5, 5]))
    """
    if isinstance(lmax, bool) or not isinstance(lmax, int) or lmax < 0:
        raise ValueError(f"lmax must be an int >= 0, got {lmax!r}")
    betas, alphas = _betas_alphas(_check_res(res_beta, "res_beta"), _check_res(res_alpha, "res_alpha"))
    shb = Legendre(list(range(lmax + 1)))(betas.cos(), betas.sin().abs())
    sha = spherical_harmonics_alpha(lmax, alphas)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    return tuple(t.to(dtype=dtype, device=device) for t in (betas, alphas, shb, sha))


def rfft(x: torch.Tensor, l: int) -> torch.Tensor:
    r"""Real Fourier coefficients ``[..., 2l + 1]`` of samples ``x`` ``[..., M]`` at :math:`\alpha_j = 2\pi j/M`:

    .. math::

        c_m = \sum_j x_j\, S_m(\alpha_j), \qquad S_m(\alpha) = \sqrt2 \sin(|m|\alpha)\ (m < 0),\ 1\ (m = 0),\
        \sqrt2 \cos(m\alpha)\ (m > 0),

    i.e. ``x @ sha`` with ``sha`` of :func:`spherical_harmonics_s2_grid`, computed by an FFT (needs ``M > 2l``).

    >>> x = torch.randn(7, dtype=torch.float64)
    >>> sha = spherical_harmonics_s2_grid(3, 2, 7, dtype=torch.float64)[3]
    >>> torch.allclose(rfft(x, 3), x @ sha)
    True
    """
    *size, res = x.shape
    if res < 2 * l + 1:
        raise ValueError(f"rfft: {res} samples cannot resolve degree {l} (need at least {2 * l + 1})")
    if x.numel() == 0:  # MKL's FFT rejects empty batches
        return x.new_zeros(*size, 2 * l + 1) + x.sum(-1, keepdim=True)
    z = torch.fft.rfft(x.reshape(-1, res), dim=1)
    out = torch.cat([z[:, 1:l + 1].imag.flip(1) * -math.sqrt(2), z[:, :1].real, z[:, 1:l + 1].real * math.sqrt(2)],
                    dim=1)
    return out.reshape(*size, 2 * l + 1)


def irfft(x: torch.Tensor, res: int) -> torch.Tensor:
    r"""Samples ``[..., res]`` at :math:`\alpha_j = 2\pi j/\mathrm{res}` of the real Fourier series ``x``
    ``[..., 2l + 1]``: :math:`f(\alpha_j) = \sum_m x_m S_m(\alpha_j)` (``sha @ x``; the inverse of :func:`rfft` up to
    the factor res). ``res`` must be odd and at least ``2l + 1``.

    >>> c = torch.randn(5, dtype=torch.float64)
    >>> sha = spherical_harmonics_s2_grid(2, 2, 9, dtype=torch.float64)[3]
    >>> torch.allclose(irfft(c, 9), sha @ c)
    True
    """
    *size, sm = x.shape
    if res % 2 != 1 or res < sm or sm % 2 != 1:
        raise ValueError(f"irfft: res must be odd and >= the {sm} coefficients (an odd number), got res={res}")
    l = sm // 2
    if x.numel() == 0:  # MKL's FFT rejects empty batches
        return x.new_zeros(*size, res) + x.sum(-1, keepdim=True)
    x = x.reshape(-1, sm)
    zero = x.new_zeros(x.shape[0], 1)
    pad = x.new_zeros(x.shape[0], res // 2 - l)
    real = torch.cat([x[:, l:l + 1], x[:, l + 1:] / math.sqrt(2), pad], dim=1)
    imag = torch.cat([zero, x[:, :l].flip(1) / -math.sqrt(2), pad], dim=1)
    out = torch.fft.irfft(torch.complex(real, imag), n=res, dim=1) * res
    return out.reshape(*size, res)


def _complete_lmax_res(lmax: int | None, res_beta: int | None, res_alpha: int | None) -> tuple[int, int, int]:
    """e3nn's defaults: the missing resolutions / degree from the given ones (res_beta even, lmax < res_beta / 2)."""
    if res_beta is None:
        if lmax is not None:
            res_beta = 2 * (lmax + 1)
        elif res_alpha is not None:
            res_beta = 2 * ((res_alpha + 1) // 2)
        else:
            raise ValueError("give lmax or a resolution (all of lmax, res_beta, res_alpha are None)")
    if res_alpha is None:
        res_alpha = max(2 * lmax + 1, res_beta - 1) if lmax is not None else res_beta - 1
    if lmax is None:
        lmax = min(res_beta // 2 - 1, (res_alpha - 1) // 2)
    for value, name in ((lmax, "lmax"), (res_beta, "res_beta"), (res_alpha, "res_alpha")):
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "lmax" else 1):
            raise ValueError(f"{name} must be an int >= {0 if name == 'lmax' else 1}, got {value!r}")
    if res_beta % 2 != 0:
        raise ValueError(f"res_beta must be even, got {res_beta}")
    if lmax + 1 > res_beta // 2:
        raise ValueError(f"res_beta = {res_beta} resolves degrees up to {res_beta // 2 - 1}, got lmax = {lmax}")
    return lmax, res_beta, res_alpha


def _lmax_res(lmax: int | None, res: object) -> tuple[int, int, int]:
    if res is None or isinstance(res, int):
        return _complete_lmax_res(lmax, res, None)
    res = tuple(res)
    if len(res) != 2:
        raise ValueError(f"res is an int or (res_beta, res_alpha), got {res!r}")
    return _complete_lmax_res(lmax, *res)


def _quadrature_weights(b: int) -> np.ndarray:
    r"""Driscoll-Healy / Kostelec-Rockmore weights ``[2b]`` of the beta grid :math:`\beta_j = \pi(2j+1)/(4b)`:
    :math:`w_j = \frac{2}{b}\sin\beta_j \sum_{k<b} \frac{\sin((2k+1)\beta_j)}{2k+1} / (2 (2b)^2)` (float64)."""
    j = np.arange(2 * b)[:, None]
    k = np.arange(b)[None, :]
    beta = np.pi * (2 * j + 1) / (4 * b)
    w = 2.0 / b * np.sin(beta[:, 0]) * (np.sin((2 * k + 1) * beta) / (2 * k + 1)).sum(1)
    return w / (2 * (2 * b) ** 2)


def _normalization_factors(normalization: object, lmax: int, to_grid: bool, lmax_in: int) -> torch.Tensor:
    if isinstance(normalization, torch.Tensor):
        n = normalization.detach().to(torch.float64).cpu()
        if n.shape != (lmax + 1,):
            raise ValueError(f"a normalization tensor has one factor per degree: shape ({lmax + 1},), got "
                             f"{tuple(n.shape)}")
        return n
    if normalization not in ("norm", "component", "integral"):
        raise ValueError(f"normalization needs to be 'norm', 'component', 'integral' or a tensor, "
                         f"got {normalization!r}")
    ls = torch.arange(lmax + 1, dtype=torch.float64)
    s = math.sqrt(4 * math.pi)
    if to_grid:
        table = {"component": s / (2 * ls + 1).sqrt() / math.sqrt(lmax + 1),
                 "norm": s * torch.ones_like(ls) / math.sqrt(lmax + 1), "integral": torch.ones_like(ls)}
    else:
        table = {"component": s * (2 * ls + 1).sqrt() * math.sqrt(lmax_in + 1),
                 "norm": s * torch.ones_like(ls) * math.sqrt(lmax_in + 1),
                 "integral": 4 * math.pi * torch.ones_like(ls)}
    return table[normalization]


def _spread_by_m(shb: torch.Tensor, n: torch.Tensor, lmax: int) -> torch.Tensor:
    """``[2 lmax + 1, N, (lmax + 1)^2]``: entry ``(lmax + m, i, (l, m))`` is ``n_l shb[i, (l, m)]``, others 0."""
    out = shb.new_zeros(2 * lmax + 1, shb.shape[0], (lmax + 1) ** 2)
    for l in range(lmax + 1):
        for m in range(-l, l + 1):
            col = l * l + l + m
            out[lmax + m, :, col] = n[l] * shb[:, col]
    return out


class _S2GridBase(ExactConstants):
    lmax: int
    res_beta: int
    res_alpha: int

    def _setup(self, lmax: int, res_beta: int, res_alpha: int, shb: torch.Tensor, dtype, device) -> None:
        betas, alphas = _betas_alphas(res_beta, res_alpha)
        self.lmax, self.res_beta, self.res_alpha = lmax, res_beta, res_alpha
        # e3nn's buffers (same names, shapes and values), persistent: state dicts move between the libraries
        self.register_constant("alphas", alphas, persistent=True)
        self.register_constant("betas", betas, persistent=True)
        self.register_constant("sha", spherical_harmonics_alpha(lmax, alphas), persistent=True)
        self.register_constant("shb", shb, persistent=True)
        if dtype is not None or device is not None:
            self.to(dtype=dtype, device=device)

    @property
    def grid(self) -> torch.Tensor:
        """The grid points ``[res_beta, res_alpha, 3]``."""
        beta, alpha = torch.meshgrid(self.betas, self.alphas, indexing="ij")
        return angles_to_xyz(alpha, beta)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lmax={self.lmax} res={self.res_beta}x{self.res_alpha} (beta x alpha))"


class ToS2Grid(_S2GridBase):
    r"""Samples on the grid of a spherical tensor (e3nn's ``ToS2Grid``):

    .. math::

        f(x_{ij}) = \sum_{l \le l_{max}} n_l \sum_m F^l_m\, Y^l_m(x_{ij})

    for ``x`` ``[..., (lmax + 1)^2]``, output ``[..., res_beta, res_alpha]``; :math:`Y` in the ``"integral"``
    normalisation and :math:`n_l` = :math:`\sqrt{4\pi / ((2l+1)(l_{max}+1))}` (``"component"``, default),
    :math:`\sqrt{4\pi / (l_{max}+1)}` (``"norm"``), 1 (``"integral"``), or a given tensor ``[lmax + 1]``.

    ``res`` is ``res_beta``, ``(res_beta, res_alpha)`` or None; missing values follow e3nn
    (``res_beta = 2 (lmax + 1)``, ``res_alpha = max(2 lmax + 1, res_beta - 1)``, ``lmax`` the largest the grid
    resolves). Buffers ``alphas``, ``betas``, ``sha``, ``shb`` are e3nn's.

    >>> m = ToS2Grid(2, (6, 7), dtype=torch.float64)
    >>> m(torch.randn(3, 9, dtype=torch.float64)).shape
    torch.Size([3, 6, 7])
    """

    def __init__(self, lmax: int | None = None, res: int | tuple[int, int] | None = None,
                 normalization: str | torch.Tensor = "component", dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        lmax, res_beta, res_alpha = _lmax_res(lmax, res)
        n = _normalization_factors(normalization, lmax, True, lmax)
        betas, _ = _betas_alphas(res_beta, res_alpha)
        shb = Legendre(list(range(lmax + 1)))(betas.cos(), betas.sin().abs())
        self._setup(lmax, res_beta, res_alpha, _spread_by_m(shb, n, lmax), dtype, device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., (lmax + 1)^2]`` -> ``[..., res_beta, res_alpha]``."""
        check_input_dtype("ToS2Grid", "input x", x, self.shb.dtype)
        if x.shape[-1] != self.shb.shape[-1]:
            raise ValueError(f"ToS2Grid(lmax={self.lmax}): expected input [..., {self.shb.shape[-1]}], "
                             f"got {list(x.shape)}")
        size = x.shape[:-1]
        y = torch.einsum("mbi,zi->zbm", self.shb, x.reshape(-1, x.shape[-1]))  # [z, beta, m]
        sa, sm = self.sha.shape
        if sa >= sm and sa % 2 == 1:
            y = irfft(y, sa)
        else:
            y = torch.einsum("am,zbm->zba", self.sha, y)
        return y.reshape(*size, *y.shape[1:])


class FromS2Grid(_S2GridBase):
    r"""Spherical tensor of samples on the grid (e3nn's ``FromS2Grid``), the inverse of :class:`ToS2Grid` on
    band-limited signals:

    .. math::

        F^l_m = n_l \sum_{ij} q_i\, f(x_{ij})\, Y^l_m(x_{ij}),

    :math:`q_i` the Driscoll-Healy quadrature weights of the beta grid (times ``res_beta^2 / res_alpha``, e3nn's
    scaling) and :math:`n_l` = :math:`\sqrt{4\pi (2l+1)(l_{in}+1)}` (``"component"``),
    :math:`\sqrt{4\pi (l_{in}+1)}` (``"norm"``), :math:`4\pi` (``"integral"``), :math:`l_{in}` = ``lmax_in``
    (default ``lmax``). Input ``[..., res_beta, res_alpha]``, output ``[..., (lmax + 1)^2]``.

    >>> k, m = ToS2Grid(3, (8, 9), dtype=torch.float64), FromS2Grid((8, 9), 3, dtype=torch.float64)
    >>> x = torch.randn(2, 16, dtype=torch.float64)
    >>> torch.allclose(m(k(x)), x)
    True
    """

    def __init__(self, res: int | tuple[int, int] | None = None, lmax: int | None = None,
                 normalization: str | torch.Tensor = "component", lmax_in: int | None = None,
                 dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> None:
        super().__init__()
        lmax, res_beta, res_alpha = _lmax_res(lmax, res)
        lmax_in = lmax if lmax_in is None else lmax_in
        n = _normalization_factors(normalization, lmax, False, lmax_in)
        betas, _ = _betas_alphas(res_beta, res_alpha)
        shb = Legendre(list(range(lmax + 1)))(betas.cos(), betas.sin().abs())
        qw = torch.from_numpy(_quadrature_weights(res_beta // 2)) * res_beta**2 / res_alpha
        self._setup(lmax, res_beta, res_alpha, _spread_by_m(shb * qw[:, None], n, lmax), dtype, device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., res_beta, res_alpha]`` -> ``[..., (lmax + 1)^2]``."""
        check_input_dtype("FromS2Grid", "input x", x, self.shb.dtype)
        if x.dim() < 2 or tuple(x.shape[-2:]) != (self.res_beta, self.res_alpha):
            raise ValueError(f"FromS2Grid: expected input [..., {self.res_beta}, {self.res_alpha}], "
                             f"got {list(x.shape)}")
        size = x.shape[:-2]
        y = x.reshape(-1, self.res_beta, self.res_alpha)
        sa, sm = self.sha.shape
        if sm <= sa and sa % 2 == 1:
            y = rfft(y, sm // 2)
        else:
            y = torch.einsum("am,zba->zbm", self.sha, y)
        y = torch.einsum("mbi,zbm->zi", self.shb, y)
        return y.reshape(*size, y.shape[1])


def _flat_wigner(lmax: int, alpha: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    return torch.cat([math.sqrt(2 * l + 1) * wigner_D(l, alpha, beta, gamma).flatten(-2) for l in range(lmax + 1)],
                     dim=-1)


class SO3Grid(ExactConstants):
    r"""Signals on an SO(3) grid from their Fourier coefficients and back (e3nn's ``SO3Grid``).

    The grid: Euler angles (e3nn's Y-X-Y) :math:`\alpha_a, \gamma_c` on ``res_alpha = round(2 aspect_ratio
    resolution)`` uniform angles and :math:`\beta_b` on ``res_beta = 2 resolution`` midpoints; features are the
    flattened Wigner matrices of degrees 0..lmax, ``[..., sum_l (2l+1)^2]``:

    .. math::

        \mathrm{to\_grid}(F)_{abc} = \frac{1}{\sqrt{d}} \sum_l \sqrt{2l+1}\, \mathrm{tr}\big(F^l\, D^l(\alpha_a,
        \beta_b, \gamma_c)^{\flat}\big), \qquad d = \sum_l (2l+1)^2,

    and ``from_grid`` the quadrature (Driscoll-Healy weights in beta) that inverts it for lmax < resolution.
    Buffers ``D``, ``qw``, ``alpha``, ``beta``, ``gamma`` are e3nn's.

    >>> g = SO3Grid(1, 4)
    >>> x = torch.randn(2, 10)
    >>> g.to_grid(x).shape, torch.allclose(g.from_grid(g.to_grid(x)), x, atol=1e-5)
    (torch.Size([2, 16, 8, 16]), True)
    """

    def __init__(self, lmax: int, resolution: int, *, normalization: str = "component",
                 aspect_ratio: float = 2) -> None:
        super().__init__()
        if normalization != "component":
            raise ValueError(f"SO3Grid supports normalization='component' only (as e3nn), got {normalization!r}")
        if isinstance(lmax, bool) or not isinstance(lmax, int) or lmax < 0:
            raise ValueError(f"lmax must be an int >= 0, got {lmax!r}")
        _check_res(resolution, "resolution")
        nb, na = 2 * resolution, round(2 * aspect_ratio * resolution)
        b, a = _betas_alphas(nb, na)
        self.lmax = lmax
        self.register_constant("D", _flat_wigner(lmax, a[:, None, None], b[None, :, None], a[None, None, :]),
                               persistent=True)
        self.register_constant("qw", torch.from_numpy(_quadrature_weights(nb // 2)) * nb**2 / na**2, persistent=True)
        self.register_constant("alpha", a, persistent=True)
        self.register_constant("beta", b, persistent=True)
        self.register_constant("gamma", a, persistent=True)
        self.res_alpha, self.res_beta, self.res_gamma = na, nb, na

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lmax={self.lmax}, res={self.res_alpha}x{self.res_beta}x{self.res_gamma})"

    def to_grid(self, features: torch.Tensor) -> torch.Tensor:
        """``[..., sum (2l+1)^2]`` -> ``[..., res_alpha, res_beta, res_gamma]``."""
        check_input_dtype("SO3Grid", "features", features, self.D.dtype)
        if features.shape[-1] != self.D.shape[-1]:
            raise ValueError(f"SO3Grid(lmax={self.lmax}): expected features [..., {self.D.shape[-1]}], "
                             f"got {list(features.shape)}")
        return torch.einsum("...i,abci->...abc", features, self.D) / self.D.shape[-1] ** 0.5

    def from_grid(self, features: torch.Tensor) -> torch.Tensor:
        """``[..., res_alpha, res_beta, res_gamma]`` -> ``[..., sum (2l+1)^2]``."""
        check_input_dtype("SO3Grid", "features", features, self.D.dtype)
        if features.dim() < 3 or tuple(features.shape[-3:]) != tuple(self.D.shape[:3]):
            raise ValueError(f"SO3Grid: expected a grid [..., {', '.join(map(str, self.D.shape[:3]))}], "
                             f"got {list(features.shape)}")
        return torch.einsum("...abc,abci,b->...i", features, self.D, self.qw) * self.D.shape[-1] ** 0.5

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """:meth:`to_grid` (e3nn's module has no forward; this makes it a usable ``nn.Module``)."""
        return self.to_grid(features)
