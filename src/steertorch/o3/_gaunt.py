r"""The Gaunt tensor product: the product of two functions on the sphere, through 2D Fourier bases (Luo et al. 2024).

Features of irreps ``mul x (0e + 1o + 2e + ... + L)`` are, channel by channel, the coefficients of a function on
the sphere in the real spherical harmonics, :math:`f = \sum_{lm} x_{lm} Y_{lm}`. The Gaunt tensor product of two
such features is the projection of the product of the functions back onto the harmonics up to degree
:math:`L_\mathrm{out}`,

.. math::

    z_{LM} = \frac{1}{c_L} \int_{S^2} f\, g\; Y_{LM}\, d\Omega
           = \sum_{l_1 m_1 l_2 m_2} G^{L M}_{l_1 m_1, l_2 m_2}\; x_{l_1 m_1}\, y_{l_2 m_2}, \qquad
    c_L = \int_{S^2} Y_{LM}^2\, d\Omega,

with the Gaunt coefficients :math:`G` (integrals of three harmonics). :math:`G` is a Clebsch-Gordan tensor product
with a fixed path set and fixed path weights: :math:`G^{(l_1 l_2 L)} = g_{l_1 l_2 L}\, C^{(l_1 l_2 L)}` (the
Wigner 3j symbol of :func:`~steertorch.o3.wigner_3j`, :math:`g > 0`) for every :math:`|l_1 - l_2| \le L \le l_1 +
l_2` with :math:`l_1 + l_2 + L` **even**, and 0 when it is odd. So it covers the paths of a channelwise ("uuu")
product of two spherical-harmonic-parity features into spherical-harmonic-parity outputs (``1o x 1o -> 1e``, a
pseudovector, is not a product of functions, and is absent), with path weights that cannot be learned (scale the
degrees of the inputs and output with a diagonal linear map for that, as Luo et al. do).

``method="fft"`` (default) computes it without :math:`G`. In the polar angle :math:`\theta` (from e3nn's polar
axis y) and the azimuth :math:`\phi`, a harmonic of degree l is a 2D trigonometric polynomial of degree l,
:math:`Y_{lm} = \sum_{|u|, |v| \le l} \hat Y^{lm}_{uv} e^{i(u\theta + v\phi)}` with :math:`\hat Y^{lm}_{uv} \ne 0`
only for :math:`v = \pm m`. So

1. the 2D Fourier coefficients of f (and g) are :math:`\hat f_{uv} = \sum_{l \ge |v|,\, m = \pm v} x_{lm}
   \hat Y^{lm}_{uv}`;
2. the product of the functions is the 2D convolution of their coefficients, done with FFTs of the zero-padded
   coefficients (grids of :math:`(2(L_1 + L_2) + 1) \times (L_1 + L_2 + L_\mathrm{out} + 1)`, no aliasing;
   real-to-complex transforms, half the spectrum): :math:`O(L^2 \log L)`;
3. :math:`z_{LM} = \sum_{u} K^{LM}_{u} \hat h_{u, |M|}` with the exact integrals
   :math:`\int_0^\pi e^{ik\theta} \sin\theta\, d\theta` (nonzero for even k and :math:`k = \pm 1`),

per channel. Steps 1 and 3 are products with constant matrices that are zero outside :math:`v = |m|`
(:math:`O(L^3)` nonzeros): they run as one dense matrix product each (:math:`O(L^4)` multiply-adds, faster at
:math:`L \le 8` than the blockwise products), against the :math:`O(L^6)` of the dense contraction with :math:`G`
(``method="dense"``, the reference). Both give the same values to float rounding (the Fourier representation is
exact, not a quadrature).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._dtype import ExactConstants, check_input_dtype
from ..group._spherical_harmonics import spherical_harmonics
from ._empty import connected_zeros
from ._irreps import Irreps

__all__ = ["GauntTensorProduct", "gaunt_coefficients"]

_NORMALIZATIONS = ("component", "norm", "integral")
_METHODS = ("fft", "dense")


def _norm_constant(l: int, normalization: str) -> float:
    """:math:`c_l = \\int Y_{lm}^2 d\\Omega`."""
    return {"component": 4 * math.pi, "norm": 4 * math.pi / (2 * l + 1), "integral": 1.0}[normalization]


def gaunt_coefficients(lmax1: int, lmax2: int, lmax_out: int, normalization: str = "component") -> torch.Tensor:
    r"""Gaunt coefficients :math:`G_{ijk} = c_{l_k}^{-1} \int Y_i Y_j Y_k\, d\Omega` ``[(lmax1+1)^2, (lmax2+1)^2,
    (lmax_out+1)^2]`` (float64) of the real harmonics of :func:`~steertorch.o3.spherical_harmonics`.

    Computed by a quadrature exact for these polynomials (Gauss-Legendre in the polar coordinate, uniform in the
    azimuth).

    >>> G = gaunt_coefficients(1, 1, 2)
    >>> G.shape, round(float(G[0, 0, 0]), 12)  # Y_0 = 1 ("component"): the mean of 1 * 1 * 1
    (torch.Size([4, 4, 9]), 1.0)
    """
    if normalization not in _NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {_NORMALIZATIONS}, got {normalization!r}")
    degree = lmax1 + lmax2 + lmax_out
    t, wt = np.polynomial.legendre.leggauss(degree // 2 + 1)
    n_phi = degree + 1
    phi = np.arange(n_phi) * 2 * math.pi / n_phi
    st = np.sqrt(1 - t**2)
    pts = np.stack([st[:, None] * np.sin(phi), np.broadcast_to(t[:, None], (t.size, n_phi)),
                    st[:, None] * np.cos(phi)], -1).reshape(-1, 3)  # polar axis y
    w = torch.tensor((wt[:, None] * np.full(n_phi, 2 * math.pi / n_phi)).reshape(-1), dtype=torch.float64)
    lmax = max(lmax1, lmax2, lmax_out)
    y = spherical_harmonics(list(range(lmax + 1)), torch.tensor(pts, dtype=torch.float64), normalization=normalization)
    y1, y2, y3 = y[:, :(lmax1 + 1) ** 2], y[:, :(lmax2 + 1) ** 2], y[:, :(lmax_out + 1) ** 2]
    c = torch.tensor([1 / _norm_constant(l, normalization) for l in range(lmax_out + 1) for _ in range(2 * l + 1)],
                     dtype=torch.float64)
    return torch.einsum("n,ni,nj,nk->ijk", w, y1, y2, y3) * c


def _fourier_coefficients(lmax: int, normalization: str) -> torch.Tensor:
    r""":math:`\hat Y^{lm}_{uv}` ``[(lmax+1)^2, 2 lmax + 1 (u), 2 lmax + 1 (v)]`` (complex128; index u + lmax)."""
    n = 2 * lmax + 1
    ang = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    th, ph = ang[:, None], ang[None, :]
    pts = torch.stack(torch.broadcast_tensors(th.sin() * ph.sin(), th.cos(), th.sin() * ph.cos()), -1)
    # the harmonics as polynomials of the (unit) point: trigonometric polynomials of degree l in theta in [0, 2 pi)
    y = spherical_harmonics(list(range(lmax + 1)), pts.reshape(-1, 3), normalization=normalization)
    y = y.T.reshape(-1, n, n)
    coef = torch.fft.fft2(y.to(torch.complex128)) / (n * n)  # index k = u mod n
    return torch.fft.fftshift(coef, dim=(-2, -1))  # index u + lmax


def _sin_integral(k: int) -> complex:
    r""":math:`\int_0^\pi e^{ik\theta} \sin\theta\, d\theta`."""
    def j(n: int) -> complex:  # int_0^pi e^{i n t} dt
        return math.pi if n == 0 else ((-1) ** n - 1) / (1j * n)
    return (j(k + 1) - j(k - 1)) / 2j


def _spherical_function_irreps(irreps: object, what: str) -> tuple[int, int]:
    """``(mul, lmax)`` of ``mul x (0e + 1o + ... + lmax)`` (an int is ``1 x`` up to that degree)."""
    if isinstance(irreps, int) and not isinstance(irreps, bool):
        if irreps < 0:
            raise ValueError(f"GauntTensorProduct: {what} as lmax must be >= 0, got {irreps}")
        return 1, irreps
    irreps = Irreps(irreps).regroup()
    if len(irreps) == 0:
        raise ValueError(f"GauntTensorProduct: {what} is empty")
    mul = irreps[0].mul
    lmax = irreps.lmax
    expected = Irreps([(mul, (l, (-1) ** l)) for l in range(lmax + 1)])
    if irreps != expected:
        raise ValueError(f"GauntTensorProduct: {what} must be functions on the sphere, mul x (0e + 1o + 2e + ...) "
                         f"with every degree up to lmax, got {irreps}")
    return mul, lmax


class GauntTensorProduct(ExactConstants):
    r"""The Gaunt tensor product: channelwise products of functions on the sphere (see the module docstring).

    Args:
        irreps_in1, irreps_in2: ``mul x (0e + 1o + 2e + ... + L)`` with every degree up to L and the same ``mul``
            (or an int L: one channel).
        irreps_out: the output, ``mul x (0e + 1o + ... + L_out)``, or an int ``L_out``; default
            ``L_1 + L_2`` (the whole product).
        normalization: of the harmonics the coefficients refer to: ``"component"`` (default), ``"norm"`` or
            ``"integral"``.
        method: ``"fft"`` (default, through 2D Fourier bases) or ``"dense"`` (the Gaunt coefficients,
            :func:`gaunt_coefficients`).

    ``forward(x, y)``: ``[..., irreps_in1.dim]``, ``[..., irreps_in2.dim]`` (broadcast) ->
    ``[..., irreps_out.dim]``, e3nn's layout. Equivariant under O(3): :math:`z(D x, D y) = D z(x, y)`.

    >>> tp = GauntTensorProduct("2x0e + 2x1o + 2x2e", "2x0e + 2x1o", 2)
    >>> x, y = torch.randn(5, tp.irreps_in1.dim), torch.randn(5, tp.irreps_in2.dim)
    >>> tp(x, y).shape, tp.irreps_out
    (torch.Size([5, 18]), 2x0e+2x1o+2x2e)
    >>> dense = GauntTensorProduct("2x0e + 2x1o + 2x2e", "2x0e + 2x1o", 2, method="dense")
    >>> bool(torch.allclose(tp(x, y), dense(x, y), atol=1e-5))
    True
    """

    def __init__(self, irreps_in1: object, irreps_in2: object, irreps_out: object | None = None,
                 normalization: str = "component", method: str = "fft") -> None:
        super().__init__()
        if normalization not in _NORMALIZATIONS:
            raise ValueError(f"GauntTensorProduct: normalization must be one of {_NORMALIZATIONS}, "
                             f"got {normalization!r}")
        if method not in _METHODS:
            raise ValueError(f"GauntTensorProduct: method must be one of {_METHODS}, got {method!r}")
        mul1, l1 = _spherical_function_irreps(irreps_in1, "irreps_in1")
        mul2, l2 = _spherical_function_irreps(irreps_in2, "irreps_in2")
        if mul1 != mul2:
            raise ValueError(f"GauntTensorProduct: the inputs need the same multiplicity, got {mul1} and {mul2}")
        mulo, lo = _spherical_function_irreps(l1 + l2 if irreps_out is None else irreps_out, "irreps_out")
        if isinstance(irreps_out, int) or irreps_out is None:
            mulo = mul1
        if mulo != mul1:
            raise ValueError(f"GauntTensorProduct: irreps_out needs multiplicity {mul1}, got {mulo}")
        self.mul, self.lmax1, self.lmax2, self.lmax_out = mul1, l1, l2, lo
        self.normalization, self.method = normalization, method

        def irreps(l: int) -> Irreps:
            return Irreps([(mul1, (d, (-1) ** d)) for d in range(l + 1)])

        self.irreps_in1, self.irreps_in2, self.irreps_out = irreps(l1), irreps(l2), irreps(lo)
        for name, l in (("in1", l1), ("in2", l2), ("out", lo)):
            # mul_ir -> [mul, (l + 1)^2] (channel-major), and back
            perm = [sum(mul1 * (2 * e + 1) for e in range(d)) + u * (2 * d + 1) + m
                    for u in range(mul1) for d in range(l + 1) for m in range(2 * d + 1)]
            if name == "out":
                inv = [0] * len(perm)
                for j, p in enumerate(perm):
                    inv[p] = j
                perm = inv
            self.register_buffer(f"perm_{name}", torch.tensor(perm, dtype=torch.long), persistent=False)
        if method == "dense":
            g = gaunt_coefficients(l1, l2, lo, normalization)
            self.register_constant("gaunt", g.reshape(-1, g.shape[-1]))
        else:
            self._build_fft()

    def _build_fft(self) -> None:
        """The conversions as matrices: harmonics -> half spectrum ``[n_theta, n_phi // 2 + 1]`` (real and
        imaginary parts, times the grid size, so that ``irfft2`` gives the values on the grid), and half spectrum of
        the product -> harmonics."""
        l1, l2, lo = self.lmax1, self.lmax2, self.lmax_out
        nt = self.n_theta = 2 * (l1 + l2) + 1  # the product's u = -(l1 + l2)..(l1 + l2), index u mod nt
        nph = self.n_phi = max(l1 + l2 + lo + 1, 2 * max(l1, l2, lo) + 1)  # v: no aliasing onto |v| <= lo
        nv = nph // 2 + 1
        size = nt * nph
        for name, l in (("1", l1), ("2", l2)):
            coef = _fourier_coefficients(l, self.normalization)  # [(l+1)^2, u + l, v + l], nonzero at v = +-m
            mat = torch.zeros((l + 1) ** 2, nt, nv, 2, dtype=torch.float64)
            for d in range(l + 1):
                for m in range(-d, d + 1):
                    col = coef[d * d + d + m, :, l + abs(m)]  # u = -l..l
                    mat[d * d + d + m, torch.arange(-l, l + 1) % nt, abs(m)] = torch.view_as_real(col) * size
            self.register_constant(f"to_fourier_{name}", mat.reshape((l + 1) ** 2, -1))
        # z_{LM} = Re sum_u w_v K^{LM}_u h_{u, v = |M|} (w_0 = 1, w_v = 2: the half spectrum), with
        # K^{LM}_u = 2 pi / c_L sum_u' Yhat^{LM}_{u', -v} I(u + u'), I(k) = int_0^pi e^{ik theta} sin theta d theta
        ls = l1 + l2
        coef = _fourier_coefficients(lo, self.normalization).numpy()
        sin_int = np.array([[_sin_integral(u + up) for up in range(-lo, lo + 1)] for u in range(-ls, ls + 1)])
        proj = torch.zeros(nt, nv, 2, (lo + 1) ** 2, dtype=torch.float64)
        for d in range(lo + 1):
            for m in range(-d, d + 1):
                v = abs(m)
                c = 2 * math.pi / _norm_constant(d, self.normalization) * (2 if v else 1) / size
                k = torch.from_numpy(c * (sin_int @ coef[d * d + d + m, :, lo - v]))  # u = -ls..ls
                rows = torch.arange(-ls, ls + 1) % nt
                proj[rows, v, 0, d * d + d + m] = k.real
                proj[rows, v, 1, d * d + d + m] = -k.imag
        self.register_constant("from_fourier", proj.reshape(-1, (lo + 1) ** 2))

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``[..., irreps_in1.dim]``, ``[..., irreps_in2.dim]`` -> ``[..., irreps_out.dim]``."""
        for t, irreps, name in ((x, self.irreps_in1, "input x"), (y, self.irreps_in2, "input y")):
            if not isinstance(t, torch.Tensor) or t.dim() == 0 or t.shape[-1] != irreps.dim:
                shape = list(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"GauntTensorProduct: expected {name} of irreps {irreps} (last dim {irreps.dim}), "
                                 f"got {shape}")
        consts = [t for t in self._buffers.values() if t is not None and t.is_floating_point()]
        for name, t in (("input x", x), ("input y", y)):
            check_input_dtype("GauntTensorProduct", name, t, consts[0].dtype)
        batch = torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])
        z = math.prod(batch)
        x = x.expand(*batch, x.shape[-1]).reshape(z, x.shape[-1]).index_select(1, self.perm_in1)
        y = y.expand(*batch, y.shape[-1]).reshape(z, y.shape[-1]).index_select(1, self.perm_in2)
        if z == 0:
            return x.new_zeros(*batch, self.irreps_out.dim) + connected_zeros(x, y)
        x = x.reshape(z * self.mul, -1)  # one function per row
        y = y.reshape(z * self.mul, -1)
        out = self._dense(x, y) if self.method == "dense" else self._fft(x, y)
        return out.reshape(z, -1).index_select(1, self.perm_out).reshape(*batch, self.irreps_out.dim)

    def _dense(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x[:, :, None] * y[:, None, :]).reshape(x.shape[0], -1) @ self.gaunt

    def _fft(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        rows, nt, nph = x.shape[0], self.n_theta, self.n_phi
        spectra = [torch.view_as_complex((t @ m).reshape(rows, nt, nph // 2 + 1, 2))
                   for t, m in ((x, self.to_fourier_1), (y, self.to_fourier_2))]
        fx, fy = (torch.fft.irfft2(f, s=(nt, nph)) for f in spectra)  # the functions on the grid
        h = torch.fft.rfft2(fx * fy)  # the product's coefficients (times the grid size)
        return torch.view_as_real(h).reshape(rows, -1) @ self.from_fourier

    def extra_repr(self) -> str:
        return (f"{self.irreps_in1} x {self.irreps_in2} -> {self.irreps_out}, normalization={self.normalization!r}, "
                f"method={self.method!r}")
