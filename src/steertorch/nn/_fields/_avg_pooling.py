r"""Average pooling of grid feature fields ``[B, C, *spatial]`` (escnn's names), plain and antialiased.

Averaging is linear and acts on each channel alike, :math:`\mathrm{avg}(\rho(g) x) = \rho(g)\,\mathrm{avg}(x)`,
so these modules accept any field type (not only permutation fields, unlike max pooling).

- :class:`PointwiseAvgPool2D` / :class:`PointwiseAvgPool3D`: ``avg_pool2d`` / ``avg_pool3d`` channel by channel.
- :class:`PointwiseAvgPoolAntialiased2D` / :class:`PointwiseAvgPoolAntialiased3D`: an isotropic Gaussian blur
  followed by strided subsampling (Zhang, *Making Convolutional Networks Shift-Invariant Again*, 2019).

Exact equivariance under the grid's symmetries (quarter turns, flips, octahedral rotations) needs windows / samples
placed symmetrically about the grid's centre: along every axis of length n, ``(n + 2 * padding - k) % stride == 0``
(k the window or Gaussian kernel size) and equal arguments on the axes a symmetry exchanges; see
:mod:`steertorch.nn._fields._pooling`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..._dtype import ExactConstants, module_dtype
from ._module import EquivariantModule
from ._nonlinearity import _check_input
from ._pooling import (
    _MAX_POOL,
    _check_permutation_fields,
    _check_type,
    _IntN,
    _is_int_at_least,
    _ntuple,
    _WindowPool,
)
from ._type import FieldType

__all__ = [
    "PointwiseAvgPool2D",
    "PointwiseAvgPool3D",
    "PointwiseAvgPoolAntialiased2D",
    "PointwiseAvgPoolAntialiased3D",
    "PointwiseMaxPoolAntialiased2D",
    "PointwiseMaxPoolAntialiased3D",
    "PointwiseAvgPool",
    "PointwiseAvgPoolAntialiased",
    "PointwiseMaxPoolAntialiased",
]

_AVG_POOL = {2: F.avg_pool2d, 3: F.avg_pool3d}
_CONV = {2: F.conv2d, 3: F.conv3d}


class _PointwiseAvgPool(_WindowPool):
    """Channel-wise average pooling over a G-space on R^d, d = ``dims_required`` (per subclass)."""

    dims_required = 2

    def __init__(self, in_type: FieldType, kernel_size: _IntN, stride: _IntN | None = None, padding: _IntN = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__()
        _check_type(in_type, type(self).__name__, dims=self.dims_required)
        self._set_window(in_type, kernel_size, stride, padding, None, ceil_mode)
        self.count_include_pad = count_include_pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, type(self).__name__, module_dtype(self))
        return _AVG_POOL[self.dims](x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                    self.count_include_pad)


class PointwiseAvgPool2D(_PointwiseAvgPool):
    r"""Channel-wise spatial average pooling (``torch.nn.functional.avg_pool2d``) of fields of any type:
    :math:`y_c(q) = \frac{1}{|W|}\sum_{p \in W(q)} x_c(p)`.

    Equivariant to the grid's symmetries (90-degree rotations, flips) when the windows sit symmetrically
    (``(n + 2 * padding - kernel_size) % stride == 0``, square windows / strides / padding).

    Args:
        in_type: the input :class:`FieldType` over a 2D G-space (also the output type); any representations.
        kernel_size, stride (default ``kernel_size``), padding, ceil_mode, count_include_pad: as ``avg_pool2d``.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(-1)
    >>> pool = PointwiseAvgPool2D(FieldType(gs, [gs.irrep(1)]), 2)
    >>> pool(torch.randn(1, 2, 6, 6)).shape
    torch.Size([1, 2, 3, 3])
    """

    dims_required = 2


class PointwiseAvgPool3D(_PointwiseAvgPool):
    r"""Channel-wise spatial average pooling (``torch.nn.functional.avg_pool3d``) of fields of any type over a
    3D G-space.

    Equivariant to the grid's symmetries (the octahedral rotations, flips) when the windows sit symmetrically
    (``(n + 2 * padding - kernel_size) % stride == 0``, cubic windows / strides / padding).

    Args:
        in_type: the input :class:`FieldType` over a 3D G-space (also the output type); any representations.
        kernel_size, stride (default ``kernel_size``), padding, ceil_mode, count_include_pad: as ``avg_pool3d``.

    >>> import torch
    >>> from steertorch.gspaces import rot3dOnR3
    >>> gs = rot3dOnR3()
    >>> pool = PointwiseAvgPool3D(FieldType(gs, [gs.irrep(1)]), 3, 2, 1)
    >>> pool(torch.randn(1, 3, 7, 7, 7)).shape
    torch.Size([1, 3, 4, 4, 4])
    """

    dims_required = 3


def _gaussian_filter(sigma: float, who: str, width: float = 3.0) -> torch.Tensor:
    """The normalised 1D Gaussian on 2 round(width * sigma) + 1 points, float64 (escnn's sizes: width 3 for the
    anti-aliased average pool, 4 for the anti-aliased max pool)."""
    if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"{who}: sigma must be a finite number > 0, got {sigma!r}")
    size = 2 * int(round(width * sigma)) + 1
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-r * r / (2 * float(sigma) ** 2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor, stride: tuple[int, ...], padding: tuple[int, ...]) -> torch.Tensor:
    """The isotropic Gaussian blur with the 1D filter ``g`` then subsampling: one depthwise conv per axis."""
    c, d, k = x.shape[1], x.dim() - 2, g.shape[0]
    conv = _CONV[d]
    for axis in range(d):
        shape, st, pad = [c, 1] + [1] * d, [1] * d, [0] * d
        shape[2 + axis], st[axis], pad[axis] = k, stride[axis], padding[axis]
        x = conv(x, g.view(shape[2:]).expand(shape), stride=st, padding=pad, groups=c)
    return x


class _PointwiseAvgPoolAntialiased(EquivariantModule, ExactConstants):
    """Gaussian blur + strided subsampling over a G-space on R^d, d = ``dims_required`` (per subclass)."""

    dims_required = 2

    def __init__(self, in_type: FieldType, sigma: float, stride: _IntN, padding: _IntN | None = None) -> None:
        super().__init__()
        who = type(self).__name__
        _check_type(in_type, who, dims=self.dims_required)
        g = _gaussian_filter(sigma, who)
        d = self.dims_required
        size = g.shape[0]
        self.in_type = in_type
        self.out_type = in_type
        self.dims = d
        self.sigma = float(sigma)
        self.kernel_size = size
        self.stride = _ntuple(stride, d, "stride", who, _is_int_at_least(1), "an int >= 1")
        padding = (size - 1) // 2 if padding is None else padding
        self.padding = _ntuple(padding, d, "padding", who, _is_int_at_least(0), "an int >= 0")
        self.register_constant("filter", g, persistent=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, type(self).__name__, module_dtype(self))
        return _blur(x, self.filter, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_type!r}, sigma={self.sigma}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


_ANTIALIASED_DOC = r"""Antialiased channel-wise average pooling of fields of any type: a Gaussian blur followed by
    subsampling with stride s,

    .. math::  y_c(q) = \sum_{u} G_\sigma(u)\, x_c(s q - P + u),

    .. math::  G_\sigma(u) \propto \exp(-|u - \bar u|^2 / 2\sigma^2), \qquad \textstyle\sum_u G_\sigma(u) = 1,

    on a kernel of k = 2 round(3 sigma) + 1 points per axis centred at :math:`\bar u` (escnn's size), zero padding P
    (default (k - 1) / 2, which keeps the size for stride 1). The Gaussian is isotropic, so the module commutes with
    every grid symmetry whose sampled sub-grid is centred. Exactly equivariant under <symmetries>
    when, per axis of length n, ``(n + 2 * padding - k) % stride == 0`` and stride / padding are equal on all axes
    (e.g. odd n with stride 2 and the default padding). Being linear and channel-wise it accepts any field type.

    Other angles (measured, float64, stride 2, a 45-degree rotation g of a smooth centred scalar field, max relative
    error of f(g.x) against g.f(x); g.f(x) interpolates the coarse output, which sets a floor that plain
    subsampling ``x[::2, ::2]`` also shows): <measured>

    The blur is separable and runs as one depthwise convolution per axis (``groups = C``) with the 1D Gaussian
    ``filter`` buffer (``[k]``); the result equals the depthwise convolution with the full <d>D kernel.

    Args:
        in_type: the input :class:`FieldType` over a <d>D G-space (also the output type); any representations.
        sigma: standard deviation of the Gaussian, in pixels (> 0).
        stride: subsampling step (int or <d> ints).
        padding: zero padding per side (default (k - 1) // 2).

"""


_MEASURED_2D = """

    ============================================  ==========  ===========  ===========================
    field (grid)                                  sigma = 1   subsample    max pool k=3, s=2, p=1
    ============================================  ==========  ===========  ===========================
    Gaussian blob, std 4 px (33 x 33)             3.2e-2      3.0e-2       6.2e-2
    Gaussian blob, std 8 px (65 x 65)             9.7e-3      9.7e-3       3.1e-2
    low-pass noise (std 3 px) x window (33 x 33)  6.4e-2      6.7e-2       1.2e-1
    ============================================  ==========  ===========  ===========================

    The antialiased pool adds nothing to the interpolation floor; max pooling doubles or triples it."""


def _doc(symmetries: str, d: int, measured: str) -> str:
    return (_ANTIALIASED_DOC.replace("<symmetries>", symmetries).replace("<d>", str(d))
            .replace("<measured>", measured))


class PointwiseAvgPoolAntialiased2D(_PointwiseAvgPoolAntialiased):
    __doc__ = _doc("90-degree rotations and flips", 2, _MEASURED_2D) + r"""
    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(8)
    >>> pool = PointwiseAvgPoolAntialiased2D(FieldType(gs, [gs.regular_repr]), sigma=0.66, stride=2)
    >>> pool.kernel_size, pool(torch.randn(1, 8, 9, 9)).shape
    (5, torch.Size([1, 8, 5, 5]))
    """

    dims_required = 2


class PointwiseAvgPoolAntialiased3D(_PointwiseAvgPoolAntialiased):
    __doc__ = _doc("the 24 octahedral rotations and flips along axes", 3,
                   "as in 2D, the 3D kernel being the product of the same 1D Gaussians.") + r"""
    >>> import torch
    >>> from steertorch.gspaces import rot3dOnR3
    >>> gs = rot3dOnR3()
    >>> pool = PointwiseAvgPoolAntialiased3D(FieldType(gs, [gs.irrep(1)]), sigma=0.5, stride=2)
    >>> pool(torch.randn(1, 3, 7, 7, 7)).shape
    torch.Size([1, 3, 4, 4, 4])
    """

    dims_required = 3


class _PointwiseMaxPoolAntialiased(EquivariantModule, ExactConstants):
    """Max pooling with stride 1, then a Gaussian blur with the stride (escnn's anti-aliased max pooling)."""

    dims_required = 2

    def __init__(self, in_type: FieldType, kernel_size: _IntN, stride: _IntN | None = None, padding: _IntN = 0,
                 dilation: _IntN = 1, ceil_mode: bool = False, sigma: float = 0.6) -> None:
        super().__init__()
        who = type(self).__name__
        d = self.dims_required
        _check_type(in_type, who, dims=d)
        _check_permutation_fields(in_type, who)
        g = _gaussian_filter(sigma, who, width=4.0)
        self.in_type = self.out_type = in_type
        self.dims = d
        self.kernel_size = _ntuple(kernel_size, d, "kernel_size", who, _is_int_at_least(1), "an int >= 1")
        self.stride = _ntuple(kernel_size if stride is None else stride, d, "stride", who, _is_int_at_least(1),
                              "an int >= 1")
        self.padding = _ntuple(padding, d, "padding", who, _is_int_at_least(0), "an int >= 0")
        self.dilation = _ntuple(dilation, d, "dilation", who, _is_int_at_least(1), "an int >= 1")
        self.sigma = float(sigma)
        self.ceil_mode = bool(ceil_mode)  # escnn's argument; the max pool runs with stride 1, where it changes nothing
        # escnn's blur padding: the max pool's padding again plus half the filter
        self._blur_padding = tuple(p + (g.shape[0] - 1) // 2 for p in self.padding)
        self.register_constant("filter", g, persistent=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self.in_type, x, type(self).__name__, module_dtype(self))
        y = _MAX_POOL[self.dims](x, self.kernel_size, 1, self.padding, self.dilation)
        return _blur(y, self.filter, self.stride, self._blur_padding)

    def extra_repr(self) -> str:
        return (f"{self.in_type!r}, kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"sigma={self.sigma}")


class PointwiseMaxPoolAntialiased2D(_PointwiseMaxPoolAntialiased):
    r"""Anti-aliased channel-wise max pooling on permutation fields (escnn's ``PointwiseMaxPoolAntialiased2D``):
    ``max_pool2d`` with stride 1 and ``padding``, then a depthwise Gaussian blur (standard deviation ``sigma``, on
    K = 2 round(4 sigma) + 1 points, zero padding ``padding + (K - 1) // 2``) subsampled with ``stride`` (default
    ``kernel_size``): escnn's sizes, so output shapes are escnn's. ``ceil_mode`` is accepted (with stride 1 it
    changes nothing).

    Exactly equivariant under the grid's quarter turns and flips when the samples sit symmetrically: along every
    axis of length n, ``(n + 4 * padding - dilation * (kernel_size - 1) - 1) % stride == 0``.

    >>> import torch
    >>> from steertorch.gspaces import rot2dOnR2
    >>> gs = rot2dOnR2(4)
    >>> pool = PointwiseMaxPoolAntialiased2D(FieldType(gs, [gs.regular_repr]), 3, stride=2, padding=1)
    >>> pool(torch.randn(1, 4, 9, 9)).shape
    torch.Size([1, 4, 6, 6])
    """

    dims_required = 2


class PointwiseMaxPoolAntialiased3D(_PointwiseMaxPoolAntialiased):
    r"""The 3D version of :class:`PointwiseMaxPoolAntialiased2D` (escnn's ``PointwiseMaxPoolAntialiased3D``).

    >>> import torch
    >>> from steertorch.gspaces import octaOnR3
    >>> gs = octaOnR3()
    >>> pool = PointwiseMaxPoolAntialiased3D(FieldType(gs, [gs.trivial_repr]), 3, stride=2, padding=1)
    >>> pool(torch.randn(1, 1, 5, 5, 5)).shape
    torch.Size([1, 1, 4, 4, 4])
    """

    dims_required = 3


#: escnn's 2D names
PointwiseAvgPool = PointwiseAvgPool2D
PointwiseAvgPoolAntialiased = PointwiseAvgPoolAntialiased2D
PointwiseMaxPoolAntialiased = PointwiseMaxPoolAntialiased2D
